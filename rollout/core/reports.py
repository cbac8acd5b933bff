"""The rollout reports: every number from the history and the report data, every
met / not-met decided here. Pure: no I/O, no clock.

Two steps, so that the adapters only fetch what the core asked for:

    plan(kind, state, history, at, length)  -> Plan: the windows and series a report needs
    build(plan, state, history, catalog, summaries, series, gate) -> dict: the report

Kinds (seeds: 003 playbook, 002 story, 000 review template):
    daily   the playbook's daily report (Canary Report - Day N)
    sla     SLA validation (AC#9): uptime, share under 5 s / 10 s, p95, p99, error rate
    cost    cost validation (AC#5): savings against the target, cost with / without skills,
            token reduction, model distribution
    final   the playbook's final validation checklist (Day 13)
    review  the post-deployment review, pre-filled (rendered by report_render.py)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from rollout.core.catalog import PAGING, Catalog, Condition, savings_percent
from rollout.core.state import format_utc
from rollout.core.reportdata import EMPTY, Bucket, CohortSummary, Summary, Window
from rollout.core.rules import soak_status
from rollout.core.state import ABORTED, CHANGES, HELD, REFUSED, RETRY, Event, FlagState, \
    format_duration

KINDS = ("daily", "sla", "cost", "final", "review")

# The catalog metrics the reports read by name.
ERROR_RATE, SUCCESS, P95, AVG = "skill_error_rate", "skills_api_success", "p95_response_time", \
    "avg_response_time"
COST, SAVINGS, TOKENS, TIMEOUTS = "cost_per_request", "cost_savings", "token_reduction", "timeout_rate"

# How long a report looks back by default: 003 runs the daily report each day, validates
# the SLA "at 24 hours and 48 hours" (--hours 24) and the cost savings at 48 hours.
DEFAULT_LENGTH = {"daily": timedelta(hours=24), "sla": timedelta(hours=24),
                  "cost": timedelta(hours=48)}
# 003 "Baseline Metrics Captured": 7 days before skills. The control cohort over that
# span stands in when the window itself has too few control requests (at 100 % none).
BASELINE_SPAN = timedelta(days=7)

# The SLA of story 2.14 (002 "SLA Targets (AC#9)"). The catalog has no uptime or p99
# metric (the gate never needs them), so these two live here; the rest comes from it.
SLA_UPTIME = Condition.parse(">= 99.9")
SLA_P99 = (99, Condition.parse("< 10000"))       # percentile, condition on it (ms)

CHART_POINTS = 48          # about this many buckets on the timeline chart
CHECK_BUCKETS = 24         # "consistently": the window cut in about this many buckets
NICE_BUCKETS = [timedelta(minutes=m) for m in (1, 5, 15, 30, 60, 120, 180, 360, 720, 1440, 2880)]
SERIES_METRICS = (ERROR_RATE, P95)


utc = format_utc


# -- the history, digested ----------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """A stretch of time the store held one percentage."""

    pct: int
    step: str
    start: datetime
    end: datetime | None            # None: still applied at `at`
    ended_by: Event | None = None

    def until(self, at: datetime) -> datetime:
        return self.end or at

    def to_json(self, at: datetime) -> dict:
        return {"percentage": self.pct, "step": self.step, "start": self.start.isoformat(),
                "end": self.end.isoformat() if self.end else None,
                "duration": format_duration(self.until(at) - self.start),
                "ended_by": self.ended_by.kind if self.ended_by else None}


@dataclass(frozen=True)
class Timeline:
    periods: tuple[Period, ...]
    rollbacks: tuple[Event, ...]    # aborts, and applied step downs
    holds: tuple[Event, ...]        # held and refused moves
    retries: tuple[Event, ...]
    at: datetime

    @property
    def current(self) -> Period | None:
        return self.periods[-1] if self.periods else None

    @property
    def pct(self) -> int:
        return self.current.pct if self.current else 0

    @property
    def start(self) -> datetime | None:
        """When the rollout began: the first change to a live percentage."""
        return next((p.start for p in self.periods if p.pct > 0), None)

    def of_step(self, pct: int) -> list[Period]:
        return [p for p in self.periods if p.pct == pct]


def _step_name(state: FlagState, pct: int) -> str:
    step = state.ladder.step(pct)
    return step.name if step else f"{pct}%"


def timeline(state: FlagState, history: list[Event], at: datetime) -> Timeline:
    periods: list[Period] = []
    rollbacks, holds, retries = [], [], []
    for e in history:
        if e.flag != state.flag or e.at > at:
            continue
        if e.kind in (HELD, REFUSED):
            holds.append(e)
        elif e.kind == RETRY:
            retries.append(e)
        if e.kind not in CHANGES or e.to_pct is None:
            continue
        if e.kind == ABORTED or (e.from_pct is not None and e.to_pct < e.from_pct):
            rollbacks.append(e)
        if periods and periods[-1].pct == e.to_pct:
            continue
        if periods:
            last = periods[-1]
            periods[-1] = Period(last.pct, last.step, last.start, e.at, e)
        periods.append(Period(e.to_pct, _step_name(state, e.to_pct), e.at, None))
    return Timeline(tuple(periods), tuple(rollbacks), tuple(holds), tuple(retries), at)


# -- what to fetch ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    kind: str
    flag: str
    at: datetime
    main: Window                                   # the report's own window
    windows: dict[str, Window]                     # summaries to fetch, by name
    series: dict[str, tuple[Window, timedelta]]    # series to fetch: name -> (range, bucket)
    explicit_length: bool = False


def nice_bucket(span: timedelta, points: int) -> timedelta:
    want = span / max(points, 1)
    return next((b for b in NICE_BUCKETS if b >= want), NICE_BUCKETS[-1])


def _floor(t: datetime, bucket: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return epoch + ((t - epoch) // bucket) * bucket


def plan(kind: str, state: FlagState, history: list[Event], at: datetime,
         length: timedelta | None = None) -> Plan:
    if kind not in KINDS:
        raise ValueError(kind)
    tl = timeline(state, history, at)
    cur = tl.current
    live_since = cur.start if cur and cur.pct > 0 else None
    if kind in DEFAULT_LENGTH:
        start = at - (length or DEFAULT_LENGTH[kind])
        if length is None and live_since and live_since > start:
            start = live_since              # the current step only, unless asked otherwise
    elif kind == "final":
        start = cur.start if cur else at - DEFAULT_LENGTH["sla"]
    else:                                   # review: the whole rollout
        start = tl.start or at - DEFAULT_LENGTH["daily"]
    start = min(start, at)
    main = Window(start, at)
    windows = {"main": main}
    began = tl.start or start
    if kind != "sla":
        windows["baseline"] = Window(began - BASELINE_SPAN, at)
    series = {}
    if kind == "final":
        series["checks"] = (main, nice_bucket(main.span, CHECK_BUCKETS))
    if kind == "review":
        for step in state.ladder.steps:
            spans = tl.of_step(step.percentage)
            if step.percentage > 0 and spans:
                windows[f"phase:{step.name}"] = Window(spans[0].start, spans[-1].until(at))
        weeks = max(1, math.ceil((at - began) / timedelta(days=7))) if tl.start else 0
        for k in range(weeks):
            windows[f"week:{k + 1}"] = Window(began + timedelta(days=7 * k),
                                              min(began + timedelta(days=7 * (k + 1)), at))
    chart_start = min(began, start)
    span = max(at - chart_start, timedelta(minutes=1))
    bucket = nice_bucket(span * 1.05, CHART_POINTS)
    chart_start = _floor(chart_start - span * 0.05, bucket)
    series["chart"] = (Window(chart_start, at), bucket)
    return Plan(kind, state.flag, at, main, windows, series, length is not None)


# -- lines: a value, its target, met or not -----------------------------------------------------

def line(key: str, label: str, value, unit: str, target: Condition | str | None, *,
         met: bool | None = None, source: str = "", note: str = "", baseline=None) -> dict:
    """One judged line. `met` is decided from `target` unless given; None: no data."""
    if met is None and isinstance(target, Condition) and value is not None:
        met = target.met(value)
    return {"key": key, "label": label, "value": value, "unit": unit,
            "target": str(target) if target is not None else None, "met": met,
            "baseline": baseline, "source": source, "note": note}


def all_met(lines: list[dict]) -> bool | None:
    """True when every line is met, False when one is not, None when data is missing."""
    states = [l["met"] for l in lines]
    if any(s is False for s in states):
        return False
    return None if any(s is None for s in states) else True


def savings(catalog: Catalog, canary: CohortSummary, control: CohortSummary) -> float | None:
    """The catalog's derived metric: (control - canary) / control * 100 of its base metric."""
    base = catalog.metrics[SAVINGS].derived["savings_of"]
    return savings_percent(canary.value(base), control.value(base))


def baseline(catalog: Catalog, summaries: dict[str, Summary], name: str = "main"
             ) -> tuple[CohortSummary, str]:
    """The control cohort to compare against, and where it came from."""
    ctl = summaries[name].cohort("control")
    fallback = summaries.get("baseline")
    if ctl.requests >= catalog.min_requests or fallback is None:
        return ctl, "control cohort in the same window"
    w = fallback.window
    return (fallback.cohort("control"),
            f"control cohort {utc(w.start)} to {utc(w.end)} (the window has {ctl.requests} control "
            f"requests, fewer than {catalog.min_requests})")


def _target(catalog: Catalog, metric: str, step: str | None = None) -> Condition | None:
    return catalog.metrics[metric].thresholds_for(step).get("target")


def sla_lines(catalog: Catalog, s: Summary) -> list[dict]:
    can = s.cohort("canary")
    p95 = catalog.metrics[P95]
    pct95, limit95 = p95.aggregate["percentile"]["p"], p95.thresholds["target"]
    pct99, cond99 = SLA_P99
    err = _target(catalog, ERROR_RATE)
    up = s.uptime
    outages = up.outages
    note = up.method + (f"; {len(outages)} outage(s), {up.down_minutes} min down" if outages else "")
    return [
        line("uptime", "Uptime", up.percent, "uptime", SLA_UPTIME, source="002 SLA (AC#9)", note=note),
        line("under_5s", f"Requests under {limit95.value / 1000:g} s", can.under.get(limit95.value),
             "percent", Condition(">=", pct95),
             source=f"catalog {P95}: p{pct95:g} {limit95} ms", note=f"{can.requests:,} canary requests"),
        line("under_10s", f"Requests under {cond99.value / 1000:g} s", can.under.get(cond99.value),
             "percent", Condition(">=", pct99), source=f"002 SLA: p{pct99} {cond99} ms"),
        line("p95", f"Response time p{pct95:g}", can.value(P95), "ms", limit95,
             source=f"catalog {P95} target (AC#4)"),
        line("p99", f"Response time p{pct99}", can.p99, "ms", cond99, source="002 SLA"),
        line("error_rate", "Error rate", can.value(ERROR_RATE), "percent", err,
             source=f"catalog {ERROR_RATE} target (AC#6)"),
    ]


def latency_limits(catalog: Catalog) -> tuple[float, ...]:
    """The latency limits whose "share of requests under" the reports need (5 s, 10 s)."""
    return (catalog.metrics[P95].thresholds["target"].value, SLA_P99[1].value)


# -- context shared by the builders -------------------------------------------------------------

@dataclass(frozen=True)
class Ctx:
    plan: Plan
    state: FlagState
    history: list[Event]
    catalog: Catalog
    summaries: dict[str, Summary]
    series: dict[str, list[Bucket]]
    gate: object | None = None           # rollout.core.gate.GateResult over the main window
    tl: Timeline = field(default=None)

    @property
    def main(self) -> Summary:
        return self.summaries["main"]

    def step_of(self, pct: int) -> str:
        return _step_name(self.state, pct)


def _event_json(e: Event) -> dict:
    return {"at": e.at.isoformat(), "kind": e.kind, "from": e.from_pct, "to": e.to_pct,
            "reasons": list(e.reasons), "actor": e.actor, "commit": e.commit,
            "severity": e.evidence.get("severity") if e.evidence else None, "id": e.id}


def _header(c: Ctx, title: str) -> dict:
    tl = c.tl
    cur = tl.current
    return {
        "kind": c.plan.kind, "flag": c.state.flag, "title": title, "at": c.plan.at.isoformat(),
        "window": c.plan.main.to_json(),
        "window_text": f"{utc(c.plan.main.start)} to {utc(c.plan.main.end)} "
                       f"({format_duration(c.plan.main.span)})",
        "applied": tl.pct, "step": c.step_of(tl.pct),
        "step_since": cur.start.isoformat() if cur else None,
        "committed": c.state.percentage,
        "periods": [p.to_json(c.plan.at) for p in tl.periods],
        "rollbacks": [_event_json(e) for e in tl.rollbacks],
        "holds": [_event_json(e) for e in tl.holds],
        "retries": [_event_json(e) for e in tl.retries],
        "source_errors": dict(c.main.errors),
        "requests": {n: c.main.cohort(n).requests for n in ("canary", "control")},
    }


def _in(e: Event, w: Window) -> bool:
    return w.start <= e.at <= w.end


def _is_cohort_share(m, catalog: Catalog) -> bool:
    arg = next(iter(m.aggregate.values())) if m.aggregate else None
    return isinstance(arg, dict) and arg.get("field") == catalog.cohort_attribute


def _metrics_table(c: Ctx, step: str, base: CohortSummary) -> list[dict]:
    """Every catalog metric the events carry, canary against baseline, judged for `step`."""
    can = c.main.cohort("canary")
    rows = []
    for m in c.catalog.metrics.values():
        if m.nrql_override or m.window_minutes or _is_cohort_share(m, c.catalog):
            continue            # service-wide, hourly, or the cohort share itself
        th = m.thresholds_for(step)
        value = savings(c.catalog, can, base) if m.derived else can.value(m.name)
        control = None if m.derived else base.value(m.name)
        status = None
        if value is not None:
            if th.get("rollback") and th["rollback"].met(value):
                status = "rollback"
            elif th.get("target"):
                status = "met" if th["target"].met(value) else "not met"
            if status in (None, "met") and th.get("warn") and th["warn"].met(value):
                status = "warning"
        rows.append({"metric": m.name, "title": m.title, "unit": m.unit, "canary": value,
                     "baseline": control, "target": str(th["target"]) if th.get("target") else None,
                     "rollback": str(th["rollback"]) if th.get("rollback") else None,
                     "warn": str(th["warn"]) if th.get("warn") else None, "status": status})
    return rows


# -- daily --------------------------------------------------------------------------------------

def _daily(c: Ctx) -> dict:
    from rollout.core.gate import HOLD, PASS, PROCEED, ROLLBACK, overall

    tl, at, cat = c.tl, c.plan.at, c.catalog
    cur = tl.current
    live = [p for p in tl.periods if p.pct > 0]
    shown = cur if cur and cur.pct > 0 else (live[-1] if live else cur)
    step = shown.step if shown else "off"
    day = int((shown.until(at) - shown.start) // timedelta(days=1)) + 1 if shown else 1
    nxt = c.state.ladder.next(shown.pct) if shown else None
    can = c.main.cohort("canary")
    base, base_note = baseline(cat, c.summaries)
    s = lambda m: (savings(cat, can, base) if m == SAVINGS else can.value(m))
    b = lambda m: base.value(m)
    summary = [
        line("requests", "Total requests with skills", can.requests, "count", None,
             source="canary cohort"),
        line("error_rate", "Error rate", s(ERROR_RATE), "percent", _target(cat, ERROR_RATE, step),
             baseline=b(ERROR_RATE), source=f"catalog {ERROR_RATE}"),
        line("avg_response_time", "Avg response time", s(AVG), "ms", _target(cat, AVG, step),
             baseline=b(AVG), source=f"catalog {AVG}"),
        line("p95", "Response time p95", s(P95), "ms", _target(cat, P95, step), baseline=b(P95),
             source=f"catalog {P95}"),
        line("cost_per_request", "Cost per request", s(COST), "usd", _target(cat, COST, step),
             baseline=b(COST), source=f"catalog {COST}"),
        line("cost_savings", "Cost savings", s(SAVINGS), "percent", _target(cat, SAVINGS, step),
             source=f"catalog {SAVINGS}"),
        line("success_rate", "Skills success rate", s(SUCCESS), "percent",
             _target(cat, SUCCESS, step), source=f"catalog {SUCCESS}"),
    ]
    issues = []
    checks = list(c.gate.checks) if c.gate is not None else []
    metric_checks = [k for k in checks if k.name != "soak"]
    for k in metric_checks:
        if k.verdict != PASS:
            issues.append({"severity": "rollback" if k.verdict == ROLLBACK else "hold",
                           "text": k.reason})
    table = _metrics_table(c, step, base)
    for row in table:
        if row["status"] == "warning":
            issues.append({"severity": "warning",
                           "text": f"{row['title']} at the warning level {row['warn']}"})
    for o in c.main.uptime.outages or ():
        issues.append({"severity": "outage", "text": f"no successful request for {o.minutes} min "
                                                     f"from {utc(o.start)}"})
    for e in tl.holds + tl.rollbacks + tl.retries:
        if _in(e, c.plan.main):
            why = "; ".join(e.reasons) or "no reason recorded"
            issues.append({"severity": e.kind, "text": f"{e.kind} {e.from_pct}% → {e.to_pct}% at "
                                                       f"{utc(e.at)}: {why}"})
    soak = next((k for k in checks if k.name == "soak"), None)
    rolled_back = cur is not None and cur.pct == 0 and cur.start >= c.plan.main.start and \
        any(r.at == cur.start for r in tl.rollbacks)
    if rolled_back:
        verdict = ROLLBACK
        why = [f"rolled back to 0% at {utc(cur.start)}"]
    elif metric_checks:
        verdict = overall(metric_checks)
        why = [k.reason for k in metric_checks if k.verdict != PASS] or ["every gated metric passes"]
    else:
        verdict, why = HOLD, ["no metrics judged: the flag is not live"]
    options = [f"Proceed to {nxt.name.capitalize()}" if nxt else f"Proceed (stay at {step})",
               "Hold and investigate", "Rollback"]
    chosen = {PROCEED: 0, HOLD: 1, ROLLBACK: 2}[verdict]
    return {**_header(c, f"{step.capitalize()} Report - Day {day}"),
            "day": day, "report_step": step, "next_step": nxt.name if nxt else None,
            "baseline_source": base_note, "summary": summary, "metrics": table,
            "issues": issues,
            "recommendation": {"verdict": verdict, "options": options, "chosen": chosen,
                               "reasons": why, "soak": soak.reason if soak else None,
                               "soak_done": soak.verdict == PASS if soak else None}}


# -- sla ----------------------------------------------------------------------------------------

def _sla(c: Ctx) -> dict:
    lines = sla_lines(c.catalog, c.main)
    verdict = all_met(lines)
    return {**_header(c, "SLA validation (AC#9)"), "cohort": "canary (skill-enhanced requests)",
            "lines": lines, "outages": [{"start": o.start.isoformat(), "end": o.end.isoformat(),
                                         "minutes": o.minutes}
                                        for o in c.main.uptime.outages or ()],
            "verdict": {True: "PASS", False: "FAIL", None: "INCONCLUSIVE"}[verdict]}


# -- cost ---------------------------------------------------------------------------------------

FAMILIES = ("haiku", "sonnet", "opus")


def model_mix(cohort: CohortSummary) -> list[dict]:
    """Requests and cost by model family (Haiku / Sonnet / Opus, 002), others by name."""
    groups: dict[str, list] = {f.capitalize(): [0, None] for f in FAMILIES}
    for model, share in sorted(cohort.models.items()):
        family = next((f.capitalize() for f in FAMILIES if f in model.lower()), model)
        g = groups.setdefault(family, [0, None])
        g[0] += share.requests
        if share.cost is not None:
            g[1] = (g[1] or 0.0) + share.cost
    total = sum(g[0] for g in groups.values())
    return [{"model": k, "requests": n, "share": (100.0 * n / total if total else None), "cost": cost}
            for k, (n, cost) in groups.items()]


def cost_figures(catalog: Catalog, can: CohortSummary, base: CohortSummary) -> dict:
    """Cost with skills (the canary), and what the same requests would have cost at the
    baseline's cost per request."""
    per = base.value(COST)
    with_ = can.cost_total
    without = can.requests * per if per is not None and can.requests else None
    saved = without - with_ if without is not None and with_ is not None else None
    return {"with_skills": with_, "without_skills": without, "saved": saved,
            "savings_pct": savings(catalog, can, base)}


def _cost(c: Ctx) -> dict:
    cat, step = c.catalog, c.tl.current.step if c.tl.current else None
    can = c.main.cohort("canary")
    base, base_note = baseline(cat, c.summaries)
    fig = cost_figures(cat, can, base)
    sav = cat.metrics[SAVINGS]
    ratio_rule = (cat.metrics[COST].compare or {}).get("rollback")
    cv, kv = can.value(COST), base.value(COST)
    ratio = cv / kv * 100.0 if cv is not None and kv else None
    lines = [
        line("cost_savings", "Cost savings", fig["savings_pct"], "percent", sav.thresholds["target"],
             source=f"catalog {SAVINGS} (AC#5)",
             note=(f"at step {step}: " + ", ".join(f"{k} {v}" for k, v in sav.thresholds_for(step).items())
                   if step in sav.steps else "")),
        line("cost_per_request", "Cost per request", cv, "usd", _target(cat, COST), baseline=kv,
             source=f"catalog {COST}"),
        line("cost_ratio", "Canary cost as % of control", ratio, "percent",
             f"not {ratio_rule}" if ratio_rule else None,
             met=(None if ratio is None or ratio_rule is None else not ratio_rule.met(ratio)),
             source=f"catalog {COST} compare (003 cost spike)"),
        line("token_reduction", "Token reduction (mean tokenSavings)", can.value(TOKENS), "percent",
             _target(cat, TOKENS), source=f"catalog {TOKENS}"),
    ]
    met = lines[0]["met"]
    return {**_header(c, "Cost validation (AC#5)"), "baseline_source": base_note,
            "figures": fig, "lines": lines,
            "models": {"canary": model_mix(can), "control": model_mix(base)},
            "verdict": {True: "MET", False: "NOT MET", None: "INCONCLUSIVE"}[met]}


# -- final --------------------------------------------------------------------------------------

def consistently(catalog: Catalog, metric: str, buckets: list[Bucket], cond: Condition) -> dict:
    """How many buckets with enough canary requests met `cond`."""
    judged = [b for b in buckets if b.cohort("canary").requests >= catalog.min_requests
              and b.cohort("canary").values.get(metric) is not None]
    bad = [b for b in judged if not cond.met(b.cohort("canary").values[metric])]
    return {"buckets": len(buckets), "judged": len(judged), "missed": len(bad),
            "first_miss": bad[0].start.isoformat() if bad else None,
            "worst": (max if catalog.metrics[metric].worse == "higher" else min)(
                (b.cohort("canary").values[metric] for b in judged), default=None)}


def _final(c: Ctx) -> dict:
    from rollout.core.gate import ROLLBACK

    cat, tl, at = c.catalog, c.tl, c.plan.at
    top = c.state.ladder.steps[-1]
    cur = tl.current
    at_top = cur is not None and cur.pct == top.percentage
    soak = soak_status(c.state, tl.pct, c.history, at)
    can = c.main.cohort("canary")
    base, base_note = baseline(cat, c.summaries)
    buckets = c.series.get("checks", [])
    bucket = c.plan.series["checks"][1]
    items = [line("soak", f"{format_duration(top.soak) if top.soak else ''} of intensive "
                          f"monitoring complete".strip(), None, "text", None,
                  met=at_top and soak.done,
                  note=soak.describe() if at_top else f"applied {tl.pct}% ({c.step_of(tl.pct)}), "
                                                      f"not {top.percentage}%")]
    for key, metric, label, ac in (("p95", P95, "Response time p95", "AC#4"),
                                   ("error_rate", ERROR_RATE, "Error rate", "AC#6")):
        cond = _target(cat, metric)
        value = can.value(metric)
        cons = consistently(cat, metric, buckets, cond)
        met = None if value is None or not cons["judged"] else \
            (cond.met(value) and cons["missed"] == 0)
        note = (f"{cons['judged'] - cons['missed']} of {cons['judged']} {format_duration(bucket)} "
                f"buckets met it" + (f"; first miss {utc(datetime.fromisoformat(cons['first_miss']))}"
                                     if cons["first_miss"] else "")
                + (f" ({cons['buckets'] - cons['judged']} with fewer than {cat.min_requests} "
                   f"requests not judged)" if cons["buckets"] > cons["judged"] else ""))
        suffix = {"ms": " ms", "percent": " %"}.get(cat.metrics[metric].unit, "")
        items.append(line(key, f"{label} {cond}{suffix} consistently ({ac})", value,
                          cat.metrics[metric].unit, cond, met=met, note=note, source=f"catalog {metric}"))
    sav = savings(cat, can, base)
    items.append(line("cost_savings", "Cost savings validated (AC#5)", sav, "percent",
                      cat.metrics[SAVINGS].thresholds["target"], note=f"baseline: {base_note}",
                      source=f"catalog {SAVINGS}"))
    sla = sla_lines(cat, c.main)
    failed = [l["label"] for l in sla if l["met"] is False]
    items.append(line("sla", "SLA compliance validated (AC#9)", None, "text", None,
                      met=all_met(sla), note=("all SLA lines met" if all_met(sla) else
                                              "not met: " + ", ".join(failed) if failed
                                              else "some SLA lines have no data")))
    critical = [e for e in tl.rollbacks if _in(e, c.plan.main) and e.kind == ABORTED
                and (e.evidence or {}).get("severity", "SEV2") in PAGING]   # 003: "No critical incidents (SEV1/SEV2)"
    breaches = [k.reason for k in (c.gate.checks if c.gate else ()) if k.verdict == ROLLBACK]
    items.append(line("incidents", "No critical incidents (SEV1/SEV2)", len(critical) + len(breaches),
                      "count", None, met=not critical and not breaches,
                      note="; ".join([f"{e.evidence.get('severity', 'SEV2')} rollback at {utc(e.at)}: "
                                      + "; ".join(e.reasons) for e in critical] + breaches)
                      or "no abort in the window, no rollback criterion met"))
    items.append(line("feedback", "User feedback positive or neutral", None, "text", None,
                      note="for people to decide"))
    items.append(line("confidence", "Team confidence high", None, "text", None,
                      note="for people to decide"))
    data_items = items[:-2]
    met = all_met(data_items)
    return {**_header(c, "Final validation checklist"), "items": items, "sla": sla,
            "baseline_source": base_note,
            "verdict": ("ALL DATA CRITERIA MET" if met else
                        "NOT MET" if met is False else "INCONCLUSIVE"),
            "failed": [l["label"] for l in data_items if l["met"] is False]}


# -- review -------------------------------------------------------------------------------------

def _phase(c: Ctx, step) -> dict:
    tl, at = c.tl, c.plan.at
    spans = tl.of_step(step.percentage)
    s = c.summaries.get(f"phase:{step.name}")
    served = sum(((p.until(at) - p.start) for p in spans), timedelta(0))
    longest = max(((p.until(at) - p.start) for p in spans), default=timedelta(0))
    higher = [p for p in spans if p.ended_by is not None and p.ended_by.to_pct > step.percentage]
    is_top = step.percentage == c.state.ladder.steps[-1].percentage
    complete = bool(spans) and (longest >= (step.soak or timedelta(0))) and (bool(higher) or is_top)
    holds = [e for e in tl.holds if e.from_pct == step.percentage]
    rollbacks = [e for e in tl.rollbacks if e.from_pct == step.percentage]
    canary = s.cohort("canary") if s else EMPTY
    total = s.requests if s else 0
    error = canary.value(ERROR_RATE)
    return {"step": step.name, "target": step.percentage,
            "actual": 100.0 * canary.requests / total if total else None,
            "duration": served if spans else None, "soak": step.soak,
            "started": spans[0].start if spans else None,
            "completed": (higher[-1].end if higher else
                          spans[-1].start + step.soak if is_top and complete and step.soak else None),
            "complete": complete if spans else None,
            "holds": holds, "rollbacks": rollbacks,
            "error_rate": error,
            "error_met": None if error is None else _target(c.catalog, ERROR_RATE).met(error)}


def _decision(c: Ctx, frm, to) -> dict:
    """The hold / proceed story of one ladder move, from the history."""
    proceeded = any(p.pct == frm.percentage and p.ended_by is not None
                    and p.ended_by.to_pct == to.percentage for p in c.tl.periods)
    held = [e for e in c.tl.holds if e.from_pct == frm.percentage and e.to_pct == to.percentage]
    reasons = list(dict.fromkeys(r for e in held for r in e.reasons))
    return {"from": frm.name, "to": to.name, "proceed": proceeded, "held": len(held),
            "first_held": held[0].at if held else None, "reasons": reasons}


def _review(c: Ctx) -> dict:
    cat, tl, at = c.catalog, c.tl, c.plan.at
    steps = [s for s in c.state.ladder.steps if s.percentage > 0]
    phases = [_phase(c, s) for s in steps]
    dep = c.main
    can = dep.cohort("canary")
    base, base_note = baseline(cat, c.summaries)
    weeks = []
    for name in sorted((n for n in c.summaries if n.startswith("week:")), key=lambda n: int(n[5:])):
        wb, _ = baseline(cat, c.summaries, name)
        fig = cost_figures(cat, c.summaries[name].cohort("canary"), wb)
        fig["savings_pct"] = (100.0 * fig["saved"] / fig["without_skills"]
                              if fig["saved"] is not None and fig["without_skills"] else None)
        weeks.append({"week": int(name[5:]), "window": c.summaries[name].window.to_json(), **fig})
    tot = {k: (sum(w[k] for w in weeks) if weeks and all(w[k] is not None for w in weeks) else None)
           for k in ("with_skills", "without_skills", "saved")}
    tot["savings_pct"] = (100.0 * tot["saved"] / tot["without_skills"]
                          if tot["saved"] is not None and tot["without_skills"] else None)
    target = cat.metrics[SAVINGS].thresholds["target"]
    for w in weeks + [tot]:
        w["met"] = None if w["savings_pct"] is None else target.met(w["savings_pct"])
    minutes = dep.window.span.total_seconds() / 60
    full = phases[-1] if phases else None
    post_error = full["error_rate"] if full and full["started"] else can.value(ERROR_RATE)
    sla = {l["key"]: l for l in sla_lines(cat, dep)}
    success = 100.0 - can.value(ERROR_RATE) if can.value(ERROR_RATE) is not None else None
    err_target = _target(cat, ERROR_RATE)
    final_like = all(p["complete"] for p in phases) if phases else False
    rolled_back = tl.current is not None and tl.current.pct == 0 and bool(tl.rollbacks)
    ac = {
        "AC#1": {"met": final_like, "phases": {p["step"]: p["complete"] for p in phases}},
        "AC#4": {"value": can.value(P95), "met": sla["p95"]["met"]},
        "AC#5": {"value": tot["savings_pct"], "met": tot["met"]},
        "AC#6": {"value": can.value(ERROR_RATE),
                 "met": None if can.value(ERROR_RATE) is None else err_target.met(can.value(ERROR_RATE))},
        "AC#9": {"value": dep.uptime.percent, "met": all_met(list(sla.values()))},
    }
    critical = [e for e in tl.rollbacks if e.kind == ABORTED
                and (e.evidence or {}).get("severity", "SEV2") in PAGING]   # 003: "No critical incidents (SEV1/SEV2)"
    return {**_header(c, "Post-Deployment Review"),
            "deployment_start": tl.start.isoformat() if tl.start else None,
            "status": ("rollback" if rolled_back else "successful" if final_like else "partial"),
            "phases": phases,
            "decisions": [_decision(c, a, b) for a, b in zip(steps, steps[1:])],
            "total_duration": (max((p["completed"] for p in phases if p["completed"]), default=None)
                               or at) - tl.start if tl.start else None,
            "performance": {"p50": can.p50, "p95": can.value(P95), "p99": can.p99, "max": can.max,
                            "p95_met": sla["p95"]["met"],
                            "per_minute": dep.requests / minutes if minutes else None,
                            "peak_per_minute": dep.peak_per_minute},
            "post_error_rate": post_error,
            "error_breakdown": {"skill": can.value(ERROR_RATE), "timeout": can.value(TIMEOUTS)},
            "weeks": weeks, "weeks_total": tot, "baseline_source": base_note,
            "models": model_mix(can), "token_reduction": can.value(TOKENS),
            "sla": sla, "success_rate": success,
            "success_met": None if success is None else Condition(">", 100 - err_target.value).met(success),
            "uptime": {"percent": dep.uptime.percent, "method": dep.uptime.method,
                       "outages": len(dep.uptime.outages) if dep.uptime.outages is not None else None,
                       "down_minutes": dep.uptime.down_minutes},
            "critical": [_event_json(e) for e in critical],
            "ac": ac}


BUILDERS = {"daily": _daily, "sla": _sla, "cost": _cost, "final": _final, "review": _review}


def build(p: Plan, *, state: FlagState, history: list[Event], catalog: Catalog,
          summaries: dict[str, Summary], series: dict[str, list[Bucket]], gate=None) -> dict:
    ctx = Ctx(p, state, history, catalog, summaries, series, gate, timeline(state, history, p.at))
    return BUILDERS[p.kind](ctx)

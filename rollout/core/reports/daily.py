"""The playbook's daily report (003 "Daily Report Template": Canary Report - Day N):
requests with skills, the catalog metrics against the control baseline, issues detected,
and a recommendation decided by the gate over the report's window."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from rollout.core.baseline import BaselineComparison, compare_each, describe, latest_baseline
from rollout.core.catalog import Condition
from rollout.core.reports.markdown import MET, head, target_text
from rollout.core.reports.model import Header, Inputs, Line, line, lines_json, savings
from rollout.core.reports.names import AVG, COST, ERROR_RATE, P95, SAVINGS, SUCCESS
from rollout.core.reports.summaries import CohortSummary
from rollout.core.state import format_utc
from rollout.core.tables import markdown_table
from rollout.core.units import format_value

ICON = {"rollback": "🛑", "hold": "⚠️", "warning": "⚠️", "outage": "🛑", "aborted": "🛑",
        "held": "⏸", "refused": "⏸", "retry": "↻"}
FEEDBACK = ["### User Feedback", "", "- [Feedback item 1]", "- [Feedback item 2]"]


@dataclass(frozen=True)
class MetricRow:
    """A catalog metric, canary against baseline, judged for the report's step."""

    metric: str
    title: str
    unit: str
    canary: float | None
    baseline: float | None
    target: Condition | None
    rollback: Condition | None
    warn: Condition | None
    status: str | None              # met | not met | rollback | warning; None: no value

    def to_json(self) -> dict:
        text = lambda c: str(c) if c else None
        return {"metric": self.metric, "title": self.title, "unit": self.unit,
                "canary": self.canary, "baseline": self.baseline, "target": text(self.target),
                "rollback": text(self.rollback), "warn": text(self.warn), "status": self.status}


@dataclass(frozen=True)
class Issue:
    severity: str                   # a gate verdict, warning, outage, or a history kind
    text: str

    def to_json(self) -> dict:
        return {"severity": self.severity, "text": self.text}


@dataclass(frozen=True)
class Recommendation:
    verdict: str                    # proceed | hold | rollback
    options: tuple[str, ...]
    chosen: int
    reasons: tuple[str, ...]
    soak: str | None
    soak_done: bool | None

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "options": list(self.options), "chosen": self.chosen,
                "reasons": list(self.reasons), "soak": self.soak, "soak_done": self.soak_done}


@dataclass(frozen=True)
class DailyReport:
    header: Header
    day: int
    report_step: str
    next_step: str | None
    baseline_source: str
    summary: tuple[Line, ...]
    metrics: tuple[MetricRow, ...]
    issues: tuple[Issue, ...]
    recommendation: Recommendation
    # metric -> the canary beside the pre-rollout baseline (`rollout baseline capture`);
    # empty when none was recorded, and then the report is as without it
    pre_rollout: dict[str, BaselineComparison] = field(default_factory=dict)

    def to_json(self) -> dict:
        out = {**self.header.to_json(), "day": self.day, "report_step": self.report_step,
               "next_step": self.next_step, "baseline_source": self.baseline_source,
               "summary": lines_json(self.summary), "metrics": [m.to_json() for m in self.metrics],
               "issues": [i.to_json() for i in self.issues],
               "recommendation": self.recommendation.to_json()}
        if self.pre_rollout:
            out["pre_rollout"] = {k: v.to_json() for k, v in self.pre_rollout.items()}
        return out

    def _metrics_table(self) -> list[str]:
        pre = self.pre_rollout
        vs_pre = lambda m: [pre[m.metric].text() if m.metric in pre else "—"] if pre else []
        return markdown_table(
            ["Metric", "Canary", "Baseline", *(["Pre-rollout baseline"] if pre else []), "Target",
             "Status"],
            [[m.title, format_value(m.canary, m.unit), format_value(m.baseline, m.unit), *vs_pre(m),
              target_text(m.target, m.unit), m.status or "—"] for m in self.metrics])

    def to_markdown(self, chart: str | None = None) -> str:
        out = head(self.header, chart, self.baseline_source) + ["### Metrics Summary", ""]
        for l in self.summary:
            text = f"- {l.label}: {format_value(l.value, l.unit)}"
            beside = [f"baseline: {format_value(l.baseline, l.unit)}"] if l.baseline is not None else []
            beside += [l.note] if l.note else []         # vs the pre-rollout baseline
            if beside:
                text += f" ({'; '.join(beside)})"
            if l.target:
                verdict = f" — {MET[l.met]}" if l.value is not None else ""
                text += f"{verdict} (target {target_text(l.target, l.unit)})"
            out.append(text)
        out += [""] + self._metrics_table()
        out += ["", "### Issues Detected", ""]
        out += [f"- {ICON.get(i.severity, '-')} {i.text}" for i in self.issues] or ["- None detected"]
        out += ["", *FEEDBACK, "", "### Recommendation", ""]
        rec = self.recommendation
        out.append(" | ".join(f"[{'x' if i == rec.chosen else ' '}] {o}"
                              for i, o in enumerate(rec.options)))
        out += ["", "Why: " + "; ".join(rec.reasons) + "."]
        if rec.soak:
            out.append(f"Soak: {rec.soak}.")
        return "\n".join(out) + "\n"


def _is_cohort_share(m, catalog) -> bool:
    arg = next(iter(m.aggregate.values())) if m.aggregate else None
    return isinstance(arg, dict) and arg.get("field") == catalog.cohort_attribute


def _status(th: dict, value: float | None) -> str | None:
    if value is None:
        return None
    status = None
    if th.get("rollback") and th["rollback"].met(value):
        status = "rollback"
    elif th.get("target"):
        status = "met" if th["target"].met(value) else "not met"
    if status in (None, "met") and th.get("warn") and th["warn"].met(value):
        status = "warning"
    return status


def metrics_table(c: Inputs, step: str, base: CohortSummary) -> tuple[MetricRow, ...]:
    """Every catalog metric the events carry, canary against baseline, judged for `step`."""
    can = c.main.cohort("canary")
    rows = []
    for m in c.catalog.metrics.values():
        if m.nrql_override or m.window_minutes or _is_cohort_share(m, c.catalog):
            continue            # service-wide, hourly, or the cohort share itself
        th = m.thresholds_for(step)
        value = savings(c.catalog, can, base) if m.derived else can.value(m.name)
        rows.append(MetricRow(m.name, m.title, m.unit, value,
                              None if m.derived else base.value(m.name), th.get("target"),
                              th.get("rollback"), th.get("warn"), _status(th, value)))
    return tuple(rows)


def _summary(c: Inputs, step: str, can: CohortSummary, base: CohortSummary,
             pre: dict[str, BaselineComparison]) -> tuple[Line, ...]:
    cat = c.catalog
    s = lambda m: (savings(cat, can, base) if m == SAVINGS else can.value(m))
    vs_pre = lambda m: f"pre-rollout baseline: {pre[m].text()}" if m in pre else ""
    judged = lambda key, label, m, unit, **kw: line(key, label, s(m), unit, c.target(m, step),
                                                   source=f"catalog {m}", note=vs_pre(m), **kw)
    return (
        line("requests", "Total requests with skills", can.requests, "count", None,
             source="canary cohort"),
        judged("error_rate", "Error rate", ERROR_RATE, "percent", baseline=base.value(ERROR_RATE)),
        judged("avg_response_time", "Avg response time", AVG, "ms", baseline=base.value(AVG)),
        judged("p95", "Response time p95", P95, "ms", baseline=base.value(P95)),
        judged("cost_per_request", "Cost per request", COST, "usd", baseline=base.value(COST)),
        judged("cost_savings", "Cost savings", SAVINGS, "percent"),
        judged("success_rate", "Skills success rate", SUCCESS, "percent"),
    )


def _issues(c: Inputs, metric_checks, table) -> tuple[Issue, ...]:
    from rollout.core.gate import PASS, ROLLBACK

    issues = [Issue("rollback" if k.verdict == ROLLBACK else "hold", k.reason)
              for k in metric_checks if k.verdict != PASS]
    issues += [Issue("warning", f"{row.title} at the warning level {row.warn}")
               for row in table if row.status == "warning"]
    issues += [Issue("outage", f"no successful request for {o.minutes} min from {format_utc(o.start)}")
               for o in c.main.uptime.outages or ()]
    w = c.plan.main
    for e in c.tl.holds + c.tl.rollbacks + c.tl.retries:
        if w.start <= e.at <= w.end:
            why = "; ".join(e.reasons) or "no reason recorded"
            issues.append(Issue(e.kind, f"{e.kind} {e.from_pct}% → {e.to_pct}% at "
                                        f"{format_utc(e.at)}: {why}"))
    return tuple(issues)


def _recommendation(c: Inputs, step: str, nxt, checks) -> Recommendation:
    from rollout.core.gate import HOLD, PASS, PROCEED, ROLLBACK, overall

    tl, cur = c.tl, c.tl.current
    metric_checks = [k for k in checks if k.name != "soak"]
    soak = next((k for k in checks if k.name == "soak"), None)
    rolled_back = cur is not None and cur.pct == 0 and cur.start >= c.plan.main.start and \
        any(r.at == cur.start for r in tl.rollbacks)
    if rolled_back:
        verdict, why = ROLLBACK, [f"rolled back to 0% at {format_utc(cur.start)}"]
    elif metric_checks:
        verdict = overall(metric_checks)
        why = [k.reason for k in metric_checks if k.verdict != PASS] or ["every gated metric passes"]
    else:
        verdict, why = HOLD, ["no metrics judged: the flag is not live"]
    options = (f"Proceed to {nxt.name.capitalize()}" if nxt else f"Proceed (stay at {step})",
               "Hold and investigate", "Rollback")
    return Recommendation(verdict, options, {PROCEED: 0, HOLD: 1, ROLLBACK: 2}[verdict], tuple(why),
                          soak.reason if soak else None,
                          soak.verdict == PASS if soak else None)


def build(c: Inputs) -> DailyReport:
    tl, at = c.tl, c.plan.at
    cur = tl.current
    live = [p for p in tl.periods if p.pct > 0]
    shown = cur if cur and cur.pct > 0 else (live[-1] if live else cur)
    step = shown.step if shown else "off"
    day = int((shown.until(at) - shown.start) // timedelta(days=1)) + 1 if shown else 1
    nxt = c.state.ladder.next(shown.pct) if shown else None
    can = c.main.cohort("canary")
    base, base_note = c.baseline()
    checks = list(c.gate.checks) if c.gate is not None else []
    table = metrics_table(c, step, base)
    pre, recorded = _pre_rollout(c, table)
    if recorded is not None:
        base_note += f"; {describe(recorded)}"
    return DailyReport(c.header(f"{step.capitalize()} Report - Day {day}"), day, step,
                       nxt.name if nxt else None, base_note, _summary(c, step, can, base, pre),
                       table, _issues(c, [k for k in checks if k.name != "soak"], table),
                       _recommendation(c, step, nxt, checks), pre)


def _pre_rollout(c: Inputs, table) -> tuple[dict[str, BaselineComparison], object]:
    """The canary of each table row beside the newest passing pre-rollout baseline."""
    recorded = latest_baseline(c.history, c.state.flag, c.plan.at)
    if recorded is None:
        return {}, None
    return compare_each(recorded.evidence, c.catalog,
                        ((row.metric, row.metric, row.canary) for row in table)), recorded

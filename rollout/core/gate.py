"""The gate: may this flag take its next step? A pure function of catalog, step and metrics.

One check per criterion, each with a verdict:
  pass, hold, rollback   the playbook's own words;
  inconclusive           too little data (fewer than min_requests per cohort in the window);
  error                  the metric source failed for this metric.
The overall verdict is the worst check: any rollback rolls back; any hold, inconclusive
or error holds; otherwise proceed. Inconclusive and error can only hold: missing data
never proceeds and never rolls back on its own.

Which data a check needs, and why that is the safe choice:
- The absolute check (canary value against the step's target / rollback) needs
  min_requests canary requests, not control ones: at 100 % there is no control, and a
  canary breaching a rollback threshold on enough requests must roll back whatever the
  control does. Below min_requests it is inconclusive even if the few requests look
  terrible, so a handful of early failures holds instead of flapping the flag; the guard
  sees the breach again as soon as the sample is big enough.
- Canary-vs-control checks and derived metrics (cost savings) need min_requests in both.
- "Worse than control" needs both significance (p < 1 - confidence, one-sided in the
  metric's bad direction) and the playbook's effect size (compare.delta); significant
  but smaller is a minor regression (hold).
- A service-level metric (a raw `nrql:` in the catalog: synthetic checks, memory) has no
  cohort: its one value, over the metric's own window, is judged like the absolute
  check, with no request minimum. No value is inconclusive. A metric the source cannot
  measure at all (Observations.unmeasured) is left out with a note (GateResult.omitted)
  rather than held on forever: that source never will see it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from rollout.core.catalog import savings_percent
from rollout.core.observations import EMPTY, Observations
from rollout.core.stats import mann_whitney_p, two_proportion_p
from rollout.core.units import format_delta, format_value
from rollout.errors import EXIT_EXTERNAL, EXIT_HELD, EXIT_OK, EXIT_ROLLBACK

PASS, HOLD, ROLLBACK, INCONCLUSIVE, ERROR = "pass", "hold", "rollback", "inconclusive", "error"
PROCEED = "proceed"
_RANK = {PASS: 0, HOLD: 1, INCONCLUSIVE: 1, ERROR: 1, ROLLBACK: 2}


def _num(v):
    return None if v is None or not math.isfinite(v) else round(float(v), 6)


# -- results ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    name: str
    verdict: str
    canary: float | None
    control: float | None
    threshold: str                  # what turns it to hold / rollback
    reason: str
    delta: float | None = None      # canary - control, in the metric's unit
    target: str | None = None       # what passes
    metric: str | None = None       # the catalog metric (None for soak)
    unit: str | None = None
    p_value: float | None = None
    scope: str = "cohort"           # "service": one service-wide value, held in `canary`

    def to_json(self) -> dict:
        return {"name": self.name, "verdict": self.verdict, "canary": _num(self.canary),
                "control": _num(self.control), "threshold": self.threshold,
                "reason": self.reason, "delta": _num(self.delta), "target": self.target,
                "metric": self.metric, "unit": self.unit, "p_value": _num(self.p_value),
                "scope": self.scope}


@dataclass(frozen=True)
class GateResult:
    flag: str
    step: str
    next_step: str | None
    verdict: str                    # proceed | hold | rollback
    checks: tuple[Check, ...]
    at: datetime | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    omitted: tuple[tuple[str, str], ...] = ()   # (metric, why) left out of the judgement

    @property
    def reasons(self) -> list[str]:
        """Why it is not a plain proceed (empty when every check passed)."""
        return [c.reason for c in self.checks if c.verdict != PASS]

    @property
    def source_failed(self) -> bool:
        return any(c.verdict == ERROR for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 proceed, 1 hold, 3 rollback, 4 the metric source failed (and nothing rolls back)."""
        if self.verdict == ROLLBACK:
            return EXIT_ROLLBACK
        if self.source_failed:
            return EXIT_EXTERNAL
        return EXIT_HELD if self.verdict == HOLD else EXIT_OK

    def to_json(self) -> dict:
        iso = lambda t: t.isoformat() if t else None
        return {"flag": self.flag, "step": self.step, "next_step": self.next_step,
                "verdict": self.verdict, "at": iso(self.at),
                "window": {"start": iso(self.window_start), "end": iso(self.window_end)},
                "checks": [c.to_json() for c in self.checks],
                "omitted": [{"metric": m, "reason": why} for m, why in self.omitted]}


def overall(checks) -> str:
    worst = max((_RANK[c.verdict] for c in checks), default=0)
    return (PROCEED, HOLD, ROLLBACK)[worst]


def soak_check(done: bool, description: str, required: str | None = None) -> Check:
    """The soak of the current step as a check, from the controller's Soak status."""
    return Check("soak", PASS if done else HOLD, None, None, "—", description,
                 target=f"soak {required}" if required else None)


# -- the decision -------------------------------------------------------------------------------

def evaluate(catalog, step: str, observations: Observations | None, *, soak: Check | None,
             source_error: str | None = None, min_requests: int | None = None, flag: str = "",
             at: datetime | None = None, next_step: str | None = None) -> GateResult:
    """Judge `step` (the current step) against every catalog metric that gates at it."""
    checks = [soak] if soak is not None else []
    omitted = []
    window = (observations.window_start, observations.window_end) if observations else (None, None)
    if step != "off":           # at 0 % there is no canary to judge, only the soak
        minimum = catalog.min_requests if min_requests is None else min_requests
        alpha = round(1.0 - catalog.confidence, 12)    # 1 - 0.95 is 0.050000000000000044
        for metric in catalog.gated(step):
            if metric.service_level and observations and metric.name in observations.unmeasured:
                if _judged(metric.thresholds_for(step)):
                    omitted.append((metric.name, f"{metric.title}: the metric source does "
                                                 f"not measure it"))
                continue
            checks += _metric_checks(catalog, metric, step, observations, source_error,
                                     minimum, alpha)
    return GateResult(flag, step, next_step, overall(checks), tuple(checks), at, *window,
                      omitted=tuple(omitted))


_NEGATION = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _negate(cond) -> str:
    text = str(cond)
    for op in (">=", "<=", ">", "<"):
        if text.startswith(op):
            return _NEGATION[op] + text[len(op):]
    return f"not {text}"


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _thresholds_text(thr: dict) -> str:
    parts = [f"{k} {thr[k]}" for k in ("hold", "rollback") if thr.get(k)]
    return "; ".join(parts) or "—"


def _judged(thr: dict) -> bool:
    """A metric's own value is judged when the step gives it a target or a rollback."""
    return bool(thr.get("target") or thr.get("rollback"))


def _metric_checks(catalog, m, step, obs, source_error, minimum, alpha) -> list[Check]:
    thr = m.thresholds_for(step)
    base = catalog.metrics[m.derived["savings_of"]] if m.derived else None
    has_absolute = _judged(thr)
    names = ([m.name] if has_absolute else []) + ([f"{m.name} vs control"] if m.compare else [])
    if not names:
        return []
    failure = source_error or (obs.errors.get(m.name) or (base and obs.errors.get(base.name))
                               if obs else None)
    if failure:
        return [Check(n, ERROR, None, None, _thresholds_text(thr) if n == m.name else "—",
                      f"{m.title}: the metric source failed: {failure}",
                      target=str(thr["target"]) if thr.get("target") and n == m.name else None,
                      metric=m.name, unit=m.unit,
                      scope="service" if m.service_level else "cohort") for n in names]
    if m.service_level:
        return [_service(m, thr, obs.service.get(m.name) if obs else None)]
    can, ctl = (obs.cohort("canary"), obs.cohort("control")) if obs else (EMPTY, EMPTY)
    out = []
    if has_absolute:
        out.append(_absolute(m, thr, can, ctl, base, minimum))
    if m.compare:
        out.append(_compare(m, can, ctl, minimum, alpha))
    return out


def _too_little(n_can: int, n_ctl: int | None, minimum: int) -> str | None:
    if n_ctl is None:
        if n_can < minimum:
            return f"too little data: {n_can} canary requests in the window, need {minimum}"
        return None
    if min(n_can, n_ctl) < minimum:
        return (f"too little data: {n_can} canary and {n_ctl} control requests in the "
                f"window, need {minimum} in each")
    return None


def _absolute(m, thr, can, ctl, base, minimum) -> Check:
    target = thr.get("target")
    common = dict(threshold=_thresholds_text(thr), target=str(target) if target else None,
                  metric=m.name, unit=m.unit)
    if base:                    # derived: savings of the canary against control
        cv, kv = can.values.get(base.name), ctl.values.get(base.name)
        value = savings_percent(cv, kv)
        shown_control, delta = None, None
        short = _too_little(can.requests, ctl.requests, minimum)
        basis = (f"{base.title.lower()} {format_value(cv, base.unit)} vs control "
                 f"{format_value(kv, base.unit)}")
    else:
        value, shown_control = can.values.get(m.name), ctl.values.get(m.name)
        delta = value - shown_control if value is not None and shown_control is not None else None
        short = _too_little(can.requests, None, minimum)
        basis = f"{can.requests:,} canary requests"
    if short:
        return Check(m.name, INCONCLUSIVE, value, shown_control, reason=f"{m.title}: {short}",
                     delta=delta, **common)
    if value is None:
        return Check(m.name, INCONCLUSIVE, None, shown_control,
                     reason=f"{m.title}: no value in the window", **common)
    verdict, reason = _judge(m, thr, value, basis)
    return Check(m.name, verdict, value, shown_control, reason=reason, delta=delta, **common)


def _judge(m, thr, value: float, basis: str) -> tuple[str, str]:
    """A value against the step's rollback, target and hold band: (verdict, reason)."""
    target, rollback, band = thr.get("target"), thr.get("rollback"), thr.get("hold")
    shown = f"{m.title} {format_value(value, m.unit)}"
    if rollback and rollback.met(value):
        return ROLLBACK, f"{shown} meets the rollback criterion {rollback} ({basis})"
    if target is None or target.met(value):
        return PASS, (f"{shown} meets target {target} ({basis})" if target else
                      f"{shown} is clear of rollback {rollback} ({basis})")
    bands = [f"hold band {band}"] if band else []
    bands += [f"rollback {rollback}"] if rollback else []
    return HOLD, f"{shown} misses target {target} ({'; '.join(bands + [basis])})"


def _service(m, thr, value: float | None) -> Check:
    """A service-level metric: its one value, over its own window, no request minimum."""
    target = thr.get("target")
    span = f"the last {m.own_window_minutes} min" if m.own_window_minutes else "the window"
    common = dict(threshold=_thresholds_text(thr), target=str(target) if target else None,
                  metric=m.name, unit=m.unit, scope="service")
    if value is None:
        return Check(m.name, INCONCLUSIVE, None, None,
                     reason=f"{m.title}: no value in {span}", **common)
    verdict, reason = _judge(m, thr, value, f"service-wide, over {span}")
    return Check(m.name, verdict, value, None, reason=reason, **common)


def _compare(m, can, ctl, minimum, alpha) -> Check:
    spec = m.compare
    test = spec["test"]
    cv, kv = can.values.get(m.name), ctl.values.get(m.name)
    delta = cv - kv if cv is not None and kv is not None else None
    name = f"{m.name} vs control"
    if test == "ratio":
        rule = spec["rollback"]
        common = dict(threshold=f"canary/control {rule} %", target=f"canary/control {_negate(rule)} %",
                      metric=m.name, unit=m.unit)
    else:
        bad = format_delta(spec["delta"] if m.worse == "higher" else -spec["delta"], m.unit)
        op = ">=" if m.worse == "higher" else "<="
        common = dict(threshold=f"Δ {op} {bad} and p < {alpha:g}",
                      target=f"Δ {_negate(op)} {bad} or p >= {alpha:g}", metric=m.name, unit=m.unit)
    short = _too_little(can.requests, ctl.requests, minimum)
    if short:
        return Check(name, INCONCLUSIVE, cv, kv, reason=f"{m.title} vs control: {short}",
                     delta=delta, **common)
    if cv is None or kv is None:
        return Check(name, INCONCLUSIVE, cv, kv, reason=f"{m.title} vs control: no value in "
                     f"the window for {'canary' if cv is None else 'control'}", **common)
    if test == "ratio":
        if kv <= 0:
            return Check(name, INCONCLUSIVE, cv, kv, reason=f"{m.title}: control is 0, no "
                         f"ratio to judge", delta=delta, **common)
        ratio = cv / kv * 100.0
        hit = rule.met(ratio)
        return Check(name, ROLLBACK if hit else PASS, cv, kv, delta=delta,
                     reason=f"{m.title} of the canary is {ratio:.0f} % of control's"
                            + (f", meets the rollback criterion {rule} %" if hit else ""),
                     **common)
    # Two questions: is the canary worse at all (p), and is it worse by more than the
    # playbook's effect size (p_big, the null shifted by the margin)? Testing the margin,
    # not just the sign, keeps a guard that looks every few minutes from rolling back a
    # healthy canary on a lucky streak of small samples.
    if test == "two_proportion":
        hits_c, hits_k = can.counts.get(m.name), ctl.counts.get(m.name)
        test_fn = None if hits_c is None or hits_k is None else \
            (lambda margin: two_proportion_p(hits_c, can.requests, hits_k, ctl.requests,
                                             m.worse, margin / 100.0))
    else:
        field_ = spec["field"]
        xs, ys = can.samples.get(field_, ()), ctl.samples.get(field_, ())
        test_fn = None if len(xs) == 0 or len(ys) == 0 else \
            (lambda margin: mann_whitney_p(xs, ys, m.worse, margin))
    if test_fn is None:
        return Check(name, INCONCLUSIVE, cv, kv, delta=delta,
                     reason=f"{m.title} vs control: no samples to test", **common)
    p = test_fn(0.0)
    p_big = test_fn(spec["delta"]) if p < alpha else 1.0   # shifting only weakens the evidence
    said = f"{m.title} {format_value(cv, m.unit)} vs control {format_value(kv, m.unit)} " \
           f"({format_delta(delta, m.unit)}, {_p_text(p)})"
    margin = format_delta(spec["delta"] if m.worse == "higher" else -spec["delta"], m.unit)
    if p_big < alpha:
        verdict, reason = ROLLBACK, f"significantly degraded: {said}; worse by more than " \
                                    f"{margin} ({_p_text(p_big)})"
        p = p_big
    elif p < alpha:
        verdict, reason = HOLD, f"minor regression: {said}, significant but not shown " \
                                f"beyond {margin}"
    else:
        verdict, reason = PASS, f"no significant regression: {said}"
    return Check(name, verdict, cv, kv, delta=delta, p_value=p, reason=reason, **common)

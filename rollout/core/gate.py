"""The gate: may this flag take its next step, and must it roll back? A pure function of
catalog, step and observations (the step's own data, docs/judge.md).

Verdicts are the playbook's (seed 003) and each check carries a reason code:
  rollback      only the seeds' rollback criteria, and only on evidence: a CUSUM chart
                (rollout/core/cusum.py) crossed its threshold (THRESHOLD_CROSSED), or a
                service-level trigger fired (memory > 95 %, the health monitor ran and
                every check failed);
  hold          evidence that the canary sits in a hold band (HOLD_BAND: misses its
                target) or is worse than control by the canary monitor's margin
                (REGRESSION_VS_CONTROL; it rolls back only when the catalog's
                judge.regression_rolls_back says so); the guard alerts SEV3 on both;
  inconclusive  not enough evidence either way (INSUFFICIENT_EVIDENCE), no data
                (NO_DATA), a health monitor that did not run (MONITOR_SILENT);
  error         the metric source failed (SOURCE_FAILED);
  pass          the target is met on evidence (TARGET_MET), or a rollback-only criterion
                shows nothing against it (CLEAR).
The overall verdict is the worst check: any rollback rolls back; any hold, inconclusive
or error holds; otherwise proceed. Evidence accumulates over the step, so no request
floor is needed, and missing data never proceeds and never rolls back on its own.
Metrics a source cannot measure at all are left out with NOT_MEASURED (GateResult.omitted).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rollout.core.baseline import GateBaseline, gate_baseline
from rollout.core.catalog import savings_percent
from rollout.core.observations import Observations
from rollout.core.state import Event
from rollout.errors import EXIT_EXTERNAL, EXIT_HELD, EXIT_OK, EXIT_ROLLBACK

PASS, HOLD, ROLLBACK, INCONCLUSIVE, ERROR = "pass", "hold", "rollback", "inconclusive", "error"
PROCEED = "proceed"
_RANK = {PASS: 0, HOLD: 1, INCONCLUSIVE: 1, ERROR: 1, ROLLBACK: 2}


class Code(StrEnum):
    """Why a check (and a verdict) came out as it did. Branch on these, never on text."""

    TARGET_MET = "TARGET_MET"
    CLEAR = "CLEAR"
    SOAK_SERVED = "SOAK_SERVED"
    THRESHOLD_CROSSED = "THRESHOLD_CROSSED"
    HOLD_BAND = "HOLD_BAND"
    REGRESSION_VS_CONTROL = "REGRESSION_VS_CONTROL"
    INSUFFICIENT_EVIDENCE = "INSUFFICIENT_EVIDENCE"
    NO_DATA = "NO_DATA"
    MONITOR_SILENT = "MONITOR_SILENT"
    SOURCE_FAILED = "SOURCE_FAILED"
    SOAK_NOT_SERVED = "SOAK_NOT_SERVED"
    NOT_MEASURED = "NOT_MEASURED"


# the codes a guard raises a SEV3 "hold and investigate" alert on
ALERTING = frozenset({Code.HOLD_BAND, Code.REGRESSION_VS_CONTROL})
# which code names a held verdict, most telling first
_HOLD_ORDER = (Code.SOURCE_FAILED, Code.HOLD_BAND, Code.REGRESSION_VS_CONTROL,
               Code.MONITOR_SILENT, Code.INSUFFICIENT_EVIDENCE, Code.NO_DATA, Code.SOAK_NOT_SERVED)


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
    scope: str = "cohort"           # "service": one service-wide value, held in `canary`
    code: Code = Code.CLEAR
    evidence: dict | None = None    # the statistics behind the verdict (charts, bounds)

    def to_json(self) -> dict:
        return {"name": self.name, "verdict": self.verdict, "code": str(self.code),
                "canary": _num(self.canary), "control": _num(self.control),
                "threshold": self.threshold, "reason": self.reason, "delta": _num(self.delta),
                "target": self.target, "metric": self.metric, "unit": self.unit,
                "scope": self.scope, "evidence": self.evidence}


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
    omitted: tuple[tuple[str, str], ...] = ()   # (metric, why) left out: NOT_MEASURED
    # the pre-rollout baseline beside the checks, when one was recorded (shown, not judged)
    baseline: GateBaseline | None = None

    @property
    def reasons(self) -> list[str]:
        """Why it is not a plain proceed (empty when every check passed)."""
        return [c.reason for c in self.checks if c.verdict != PASS]

    @property
    def code(self) -> Code:
        """The reason code of the verdict: its most telling deciding check."""
        if self.verdict == ROLLBACK:
            return next(c.code for c in self.checks if c.verdict == ROLLBACK)
        found = {c.code for c in self.checks if c.verdict != PASS}
        return next((k for k in _HOLD_ORDER if k in found), Code.TARGET_MET)

    @property
    def alerts(self) -> list[Check]:
        """Held checks that call for a SEV3 "hold and investigate" alert."""
        return [c for c in self.checks if c.verdict == HOLD and c.code in ALERTING]

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
        out = {"flag": self.flag, "step": self.step, "next_step": self.next_step,
               "verdict": self.verdict, "code": str(self.code), "at": iso(self.at),
               "window": {"start": iso(self.window_start), "end": iso(self.window_end)},
               "checks": [c.to_json() for c in self.checks],
               "omitted": [{"metric": m, "reason": why, "code": str(Code.NOT_MEASURED)}
                           for m, why in self.omitted]}
        if self.baseline is not None:      # without one, the JSON is as it always was
            for check, doc in zip(self.checks, out["checks"]):
                doc["baseline"] = _baseline_json(self.baseline.of(check))
            out["baseline"] = self.baseline.to_json()
        return out


def _baseline_json(found) -> dict | None:
    if found is None:
        return None
    return {**found.to_json(), "value": _num(found.value), "baseline": _num(found.baseline),
            "delta": _num(found.delta)}


def overall(checks) -> str:
    worst = max((_RANK[c.verdict] for c in checks), default=0)
    return (PROCEED, HOLD, ROLLBACK)[worst]


def soak_check(done: bool, description: str, required: str | None = None) -> Check:
    """The soak of the current step as a check, from the controller's Soak status."""
    return Check("soak", PASS if done else HOLD, None, None, "—", description,
                 target=f"soak {required}" if required else None,
                 code=Code.SOAK_SERVED if done else Code.SOAK_NOT_SERVED)


# -- the decision -------------------------------------------------------------------------------

def evaluate(catalog, step: str, observations: Observations | None, *, soak: Check | None,
             source_error: str | None = None, flag: str = "", at: datetime | None = None,
             next_step: str | None = None, baseline: Event | None = None) -> GateResult:
    """Judge `step` (the current step) against every catalog metric that gates at it.
    `baseline`, a passing pre-rollout baseline row (core/baseline.py latest_baseline), is
    shown beside the checks and changes no verdict."""
    from rollout.core.judge import metric_checks

    checks = [soak] if soak is not None else []
    omitted = []
    window = (observations.window_start, observations.window_end) if observations else (None, None)
    if step != "off":           # at 0 % there is no canary to judge, only the soak
        for metric in catalog.gated(step):
            if metric.service_level and observations and metric.name in observations.unmeasured:
                if judged(metric.thresholds_for(step)):
                    omitted.append((metric.name, f"{metric.title}: the metric source does "
                                                 f"not measure it"))
                continue
            checks += metric_checks(catalog, metric, step, observations, source_error)
    return GateResult(flag, step, next_step, overall(checks), tuple(checks), at, *window,
                      omitted=tuple(omitted), baseline=gate_baseline(baseline, checks, catalog))


def judged(thr: dict) -> bool:
    """A metric's own value is judged when the step gives it a target or a rollback."""
    return bool(thr.get("target") or thr.get("rollback"))


def thresholds_text(thr: dict) -> str:
    parts = [f"{k} {thr[k]}" for k in ("hold", "rollback") if thr.get(k)]
    return "; ".join(parts) or "—"


def shown_values(catalog, m, obs) -> tuple[float | None, float | None, float | None]:
    """(canary, control, delta) as the table shows them; savings show the canary alone."""
    if obs is None:
        return None, None, None
    can, ctl = obs.cohort("canary"), obs.cohort("control")
    if m.derived:
        base = catalog.metrics[m.derived["savings_of"]]
        reference = ctl.values.get(base.name) if ctl.requests else base.baseline
        return savings_percent(can.values.get(base.name), reference), None, None
    cv, kv = can.values.get(m.name), ctl.values.get(m.name)
    return cv, kv, (cv - kv if cv is not None and kv is not None else None)

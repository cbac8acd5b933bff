"""The pre-rollout baseline (playbook 003, "Baseline Metrics Captured": 7 days BEFORE
enabling skills) as evidence, and the comparison of a value with it.

`rollout baseline capture` measures the catalog's cohort metrics over the window and
records them as a history row of kind `baseline`:

    evidence = {
      "verdict": "pass",                     # or "fail", with the reasons in `problems`
      "days": 7, "window": {"start": ..., "end": ...},
      "source": "newrelic://1234567",        # where the numbers came from, no key
      "population": "everyone" | "control",
      "requests": 70000, "requests_per_day": 10000.0,
      "cohorts": {"canary": 0, "control": 69000, "without_cohort": 1000},
      "values": {"skill_error_rate": 0.61, "p95_response_time": 2875.0, ...},
      "units": {"skill_error_rate": "percent", ...},
      "errors": {}, "problems": []
    }

Who the baseline is. Before the first step nobody is in the canary, so every request is
a control request, including events that do not carry the cohort attribute (an
application that sends `cohort` only once the flag code ships): when the window holds no
canary request, the baseline is computed over every event (`population: everyone`).
When it does hold canary requests (the flag was live in the window), events without the
attribute cannot be placed, and the baseline is the control cohort alone
(`population: control`). Pure: no I/O, no clock.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from rollout.core.catalog import Catalog, Metric
from rollout.core.evidence import latest_evidence
from rollout.core.observations import Observations
from rollout.core.state import BASELINE, Event, FlagState, format_utc
from rollout.core.units import format_delta, format_value

PASS, FAIL = "pass", "fail"
EVERYONE, CONTROL = "everyone", "control"


def baseline_metrics(catalog: Catalog) -> list[Metric]:
    """The catalog metrics a baseline holds: those measured per request over any window
    (not derived, not service-level, not defined over a window of their own like the
    hourly cost, and not the cohort share itself, which is 0 before a rollout)."""
    return [m for m in catalog.metrics.values()
            if m.aggregate and not m.window_minutes and m.attribute != catalog.cohort_attribute]


@dataclass(frozen=True)
class Everyone:
    """What a source measured over every event of the window, cohort or not (New Relic
    can; the embedded events always carry a cohort, so there it is control + canary)."""

    requests: int
    values: dict[str, float | None]
    errors: dict[str, str]


def baseline_evidence(catalog: Catalog, obs: Observations, everyone: Everyone | None, *,
                      days: int, source: str) -> dict:
    """The evidence of a capture over obs' window, judged: it passes when the population
    has at least the catalog's min_requests and the source computed every metric."""
    canary, control = obs.cohort("canary").requests, obs.cohort("control").requests
    metrics = baseline_metrics(catalog)
    if canary == 0 and everyone is not None:
        population, requests = EVERYONE, everyone.requests
        values = {m.name: everyone.values.get(m.name) for m in metrics}
        errors = {m.name: everyone.errors[m.name] for m in metrics if m.name in everyone.errors}
    else:
        population, requests = CONTROL, control
        values = {m.name: obs.cohort("control").values.get(m.name) for m in metrics}
        errors = {m.name: obs.errors[m.name] for m in metrics if m.name in obs.errors}
    problems = []
    if requests < catalog.min_requests:
        problems.append(f"{requests} {'requests' if population == EVERYONE else 'control requests'}"
                        f" in {days} days, fewer than the catalog's min_requests "
                        f"{catalog.min_requests}: nothing to compare against")
    problems += [f"{name}: the source failed: {why}" for name, why in errors.items()]
    if canary and population == CONTROL:
        note = (f"the window holds {canary} canary requests (the flag was live): "
                f"the control cohort alone")
    else:
        note = "no canary request in the window: every request is a control request"
    return {
        "verdict": FAIL if problems else PASS,
        "days": days,
        "window": {"start": obs.window_start.isoformat(), "end": obs.window_end.isoformat()},
        "source": source, "population": population, "note": note,
        "requests": requests, "requests_per_day": round(requests / days, 1),
        "cohorts": {"canary": canary, "control": control,
                    "without_cohort": (max(everyone.requests - canary - control, 0)
                                       if everyone is not None else None)},
        "values": values, "units": {m.name: m.unit for m in metrics},
        "errors": errors, "problems": problems,
    }


def baseline_event(state: FlagState, evidence: dict, at: datetime, *, commit: str,
                   actor: str) -> Event:
    w = evidence["window"]
    head = (f"baseline of {evidence['days']} day{'s' * (evidence['days'] != 1)} "
            f"({w['start'][:10]} to {w['end'][:10]}) from {evidence['source']}: "
            f"{evidence['requests']} requests ({evidence['population']}, "
            f"{evidence['requests_per_day']:g}/day), "
            f"{'recorded' if evidence['verdict'] == PASS else 'FAILED'}")
    return Event(flag=state.flag, at=at, kind=BASELINE, from_pct=None, to_pct=None,
                 reasons=(head, *evidence["problems"][:5]), revision=state.revision,
                 commit=commit, actor=actor, evidence=evidence)


def latest_baseline(history, flag: str, at: datetime) -> Event | None:
    """The newest passing baseline of `flag` recorded at or before `at`."""
    return latest_evidence(history, BASELINE, at, flag=flag, where={"verdict": PASS})


@dataclass(frozen=True)
class BaselineComparison:
    """A value beside the pre-rollout baseline of its metric."""

    metric: str
    unit: str
    value: float | None
    baseline: float | None
    delta: float | None             # value - baseline, in the unit's points (None: no value)
    worse: bool | None              # the delta goes the metric's worse way (None: no delta)

    def text(self) -> str:
        """'0.61 %, +0.02 pts' — the baseline and how far the value is from it."""
        if self.baseline is None:
            return "no baseline value"
        out = format_value(self.baseline, self.unit)
        return out if self.delta is None else f"{out}, {format_delta(self.delta, self.unit)}"

    def to_json(self) -> dict:
        return {"metric": self.metric, "unit": self.unit, "value": self.value,
                "baseline": self.baseline, "delta": self.delta, "worse": self.worse}

    @classmethod
    def from_json(cls, doc) -> "BaselineComparison | None":
        """Back from to_json() as a gate recorded it in the history; None for anything
        else (no comparison, or a row a hand or an older version shaped otherwise)."""
        number = lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
        if not isinstance(doc, dict) or not isinstance(doc.get("metric"), str) or \
                not isinstance(doc.get("unit"), str) or \
                not all(number(doc.get(k)) for k in ("value", "baseline", "delta")):
            return None
        worse = doc.get("worse")
        return cls(doc["metric"], doc["unit"], doc.get("value"), doc.get("baseline"),
                   doc.get("delta"), worse if isinstance(worse, bool) else None)


def compare_to_baseline(evidence: dict, metric: Metric, value: float | None
                        ) -> BaselineComparison | None:
    """`value` of `metric` against a baseline row's evidence; None when the baseline does
    not hold the metric (derived, service-level, or captured before the metric existed).
    The gate and the reports show it beside "vs control"; it decides nothing."""
    values = evidence.get("values") or {}
    if metric.name not in values:
        return None
    base = values[metric.name]
    if not isinstance(base, (int, float)) or isinstance(base, bool):
        base = None
    delta = None if value is None or base is None else value - base
    worse = None if delta is None or delta == 0 else (delta > 0) == (metric.worse == "higher")
    return BaselineComparison(metric.name, metric.unit, value, base, delta, worse)


def describe(event: Event) -> str:
    """Where a baseline came from, for a report's header."""
    ev = event.evidence
    end = datetime.fromisoformat(ev["window"]["end"])
    days = f"{ev['days']} day{'s' * (ev['days'] != 1)}"
    return (f"pre-rollout baseline: {days} to {format_utc(end)} "
            f"({ev['population']}, {format_value(ev['requests'], 'count')} requests, "
            f"{ev['source']})")


def compare_each(evidence: dict, catalog: Catalog,
                 rows: Iterable[tuple[str, str | None, float | None]]
                 ) -> dict[str, BaselineComparison]:
    """{key: value against the baseline} for each (key, metric name, value) row whose
    metric the baseline holds; rows of other metrics (or of none) are left out."""
    found = {}
    for key, name, value in rows:
        metric = catalog.metrics.get(name) if name else None
        got = compare_to_baseline(evidence, metric, value) if metric else None
        if got is not None:
            found[key] = got
    return found


@dataclass(frozen=True)
class GateBaseline:
    """The pre-rollout baseline beside a gate's checks: each check of a metric the baseline
    holds shows its canary against it ("vs pre-rollout baseline" beside "vs control").
    It decides nothing; the verdict is the same with or without it."""

    description: str                            # describe(event): where it came from
    recorded_at: datetime
    window: dict                                # the capture's {"start", "end"} (ISO)
    by_check: dict[str, BaselineComparison]     # check name -> its canary vs the baseline

    def of(self, check) -> BaselineComparison | None:
        return self.by_check.get(check.name)

    def to_json(self) -> dict:
        return {"description": self.description, "recorded_at": self.recorded_at.isoformat(),
                "window": dict(self.window)}


def gate_baseline(event: Event | None, checks, catalog: Catalog) -> GateBaseline | None:
    """A passing baseline row (latest_baseline) beside `checks`; None without one."""
    if event is None:
        return None
    by_check = compare_each(event.evidence, catalog,
                            ((c.name, c.metric, c.canary) for c in checks))
    return GateBaseline(describe(event), event.at, dict(event.evidence.get("window") or {}),
                        by_check)


def window_of(days: int, end: datetime) -> tuple[datetime, datetime]:
    return end - timedelta(days=days), end

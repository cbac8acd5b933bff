"""The metric catalog as typed objects, and the NRQL each metric stands for.

Three readers use this module: the gate (thresholds, comparisons), the New Relic
source (NRQL with FACET on the cohort; service-level metrics as written, over their own
window), and the Pulumi alerts and dashboards (NRQL without facet, alert conditions).
None of them retypes a number.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from rollout.core.event_contract import load_event_contract
from rollout.errors import UserError

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "catalog.yaml"
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "catalog.schema.json"

_COND = re.compile(r"^\s*(?:(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)|(-?\d+(?:\.\d+)?)\s*\.\.\s*(-?\d+(?:\.\d+)?))\s*$")
NR_OPERATORS = {">": "above", ">=": "above_or_equals", "<": "below", "<=": "below_or_equals"}
SEVERITIES = ("SEV1", "SEV2", "SEV3")          # most severe first
PAGING = frozenset({"SEV1", "SEV2"})            # seeds: SEV1/SEV2 page on-call, SEV3 is Slack only


@dataclass(frozen=True)
class Condition:
    """A threshold as the seeds write it: "> 5", "<= 0" or the band "2..5"."""

    op: str             # one of < <= > >= ..
    value: float
    high: float | None = None

    @classmethod
    def parse(cls, text: str) -> "Condition":
        m = _COND.match(str(text))
        if not m:
            raise ValueError(f"expected a condition like '< 2', '>= 95' or '2..5', got {text!r}")
        if m.group(1):
            return cls(m.group(1), float(m.group(2)))
        lo, hi = float(m.group(3)), float(m.group(4))
        return cls("..", min(lo, hi), max(lo, hi))

    def met(self, x: float) -> bool:
        if self.op == "..":
            return self.value <= x <= self.high
        return {"<": x < self.value, "<=": x <= self.value,
                ">": x > self.value, ">=": x >= self.value}[self.op]

    def violated(self) -> "Condition":
        """The condition a value meets when it misses this one (half-lines only)."""
        flip = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}
        if self.op == "..":
            raise ValueError("a band has no single opposite")
        return Condition(flip[self.op], self.value)

    @property
    def nr_operator(self) -> str:
        """New Relic's operator name for an alert on this condition."""
        if self.op == "..":
            raise ValueError("a band cannot be an alert condition")
        return NR_OPERATORS[self.op]

    def __str__(self) -> str:
        fmt = lambda v: f"{v:g}"
        if self.op == "..":
            return f"{fmt(self.value)}..{fmt(self.high)}"
        return f"{self.op} {fmt(self.value)}"


@dataclass(frozen=True)
class Alert:
    name: str
    when: Condition
    minutes: int
    severity: str
    notify: str            # pagerduty | slack | email
    loss_of_signal: bool
    source: str

    @property
    def pages(self) -> bool:
        return self.severity in PAGING


@dataclass(frozen=True)
class Chart:
    """One CUSUM chart of a rollback criterion (docs/judge.md)."""

    line: str                   # "rollback", "compare", "target" or a condition such as "> 10"
    in_control: str | float     # "target" or a number: where a healthy canary sits
    h: float                    # threshold, in nats of log likelihood ratio

    @property
    def holds(self) -> bool:
        """A chart on the target holds the next step (hold band); the others roll back."""
        return self.line == "target"

    def condition(self, metric: "Metric", step: str | None) -> Condition | None:
        """The line at `step`, as the condition a bad canary meets; None where the step
        has no such threshold (a target "< 2" is crossed by ">= 2")."""
        if self.line in ("rollback", "target"):
            cond = metric.thresholds_for(step).get(self.line)
            return cond.violated() if cond is not None and self.holds else cond
        if self.line == "compare":
            return (metric.compare or {}).get("rollback")
        return Condition.parse(self.line)

    def healthy(self, metric: "Metric", step: str | None) -> float | None:
        if self.in_control != "target":
            return float(self.in_control)
        target = metric.thresholds_for(step).get("target")
        return target.value if target else None


@dataclass(frozen=True)
class JudgeSettings:
    method: str
    false_rollback_budget: float
    false_alert_budget: float
    hold_rollback_budget: float
    regression_rolls_back: bool
    bucket_minutes: int
    recent_hours: int


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    unit: str
    worse: str                                  # "higher" or "lower"
    aggregate: dict | None = None               # {"percentage": {...}} | {"percentile": ...} | ...
    derived: dict | None = None                 # {"savings_of": "<metric>"}
    nrql_override: str | None = None
    thresholds: dict = field(default_factory=dict)     # name -> Condition
    steps: dict = field(default_factory=dict)          # step -> {name -> Condition}
    compare: dict | None = None
    gate_steps: tuple | None = None             # None: gates at every step
    alerts: tuple = ()
    window_minutes: int | None = None
    gate_window_minutes: int | None = None      # service-level only, see own_window_minutes
    cusum: tuple = ()                           # Chart, one per rollback line
    baseline: float | None = None               # the value without the feature (no control)
    ran: dict | None = None                     # service-level: {"nrql", "at_least"} checks that ran

    def thresholds_for(self, step: str | None) -> dict:
        return self.steps.get(step, self.thresholds) if step else self.thresholds

    def gates_at(self, step: str) -> bool:
        return self.gate_steps is None or step in self.gate_steps

    @property
    def service_level(self) -> bool:
        """Defined by a raw `nrql:`: a service-wide signal with no cohort (synthetic checks,
        process samples). The gate judges it once, not per cohort."""
        return bool(self.nrql_override)

    @property
    def own_window_minutes(self) -> int | None:
        """Minutes a service-level metric is judged over, ending where the evaluation
        ends; None: the evaluation's window. `gate_window_minutes` is separate from
        `window_minutes` because the latter is also the alert's aggregation window."""
        return self.gate_window_minutes or self.window_minutes

    @property
    def attribute(self) -> str | None:
        """The event attribute this metric aggregates (None: derived or raw NRQL)."""
        if not self.aggregate:
            return None
        arg = next(iter(self.aggregate.values()))
        return arg["field"] if isinstance(arg, dict) else arg

    def select(self, catalog: "Catalog") -> str:
        """The NRQL aggregate expression of this metric."""
        agg = self.aggregate
        if agg is None and self.derived:
            base = catalog.metrics[self.derived["savings_of"]].select(catalog)
            attr = catalog.cohort_attribute
            ctl = f"filter({base}, WHERE {attr} = 'control')"
            can = f"filter({base}, WHERE {attr} = 'canary')"
            return f"({ctl} - {can}) / {ctl} * 100"
        kind, arg = next(iter(agg.items()))
        if kind == "percentage":
            value = arg["is"]
            if isinstance(value, bool):
                return f"percentage(count(*), WHERE {arg['field']} IS {'TRUE' if value else 'FALSE'})"
            return f"percentage(count(*), WHERE {arg['field']} = '{value}')"
        if kind == "percentile":
            return f"percentile({arg['field']}, {arg['p']})"
        return f"{kind}({arg})"

    def nrql(self, catalog: "Catalog", *, facet: bool = False, timeseries: str | None = None,
             since: str | None = None) -> str:
        """The whole query. facet=True splits by cohort (gates, side-by-side charts)."""
        if self.nrql_override:
            q = self.nrql_override
        else:
            q = f"SELECT {self.select(catalog)} FROM {catalog.event}"
            if self.attribute in catalog.optional_attributes:
                # Only events that carry the attribute: while the application does not send
                # it, the alert and the gate see no data (silent), not 0 %.
                q += f" WHERE {self.attribute} IS NOT NULL"
        if facet and not self.derived and not self.nrql_override:
            q += f" FACET {catalog.cohort_attribute}"
        if since:
            q += f" SINCE {since}"
        if timeseries:
            q += f" TIMESERIES {timeseries}"
        return q


@dataclass(frozen=True)
class Catalog:
    event: str
    cohort_attribute: str
    min_requests: int                 # reports only; the judge has no floor
    confidence: float                 # of the judge's confidence sequences
    metrics: dict                     # name -> Metric, in file order
    # Attributes the event contract (rollout/schema/skill_execution.schema.json) marks optional.
    optional_attributes: frozenset = frozenset()
    # The load test's budget: figure (p95_ms, error_rate...) -> Condition (rollout loadtest)
    performance_budget: dict = field(default_factory=dict)
    judge: JudgeSettings | None = None

    def gated(self, step: str) -> list[Metric]:
        return [m for m in self.metrics.values() if m.gates_at(step)]

    def alerts(self) -> list[tuple[Metric, Alert]]:
        return [(m, a) for m in self.metrics.values() for a in m.alerts]


def savings_percent(canary: float | None, control: float | None) -> float | None:
    """A `derived: {savings_of: M}` metric: (control - canary) / control * 100 of M."""
    return (control - canary) / control * 100.0 if canary is not None and control else None


def _notify_for(severity: str) -> str:
    return "pagerduty" if severity in PAGING else "slack"


def _alert_condition(when: str, metric: dict, where: str) -> Condition:
    """`when` is a condition, or names a threshold of the metric so the number that rolls
    back and the number that pages are stated once."""
    if when in ("target", "rollback", "warn"):
        text = (metric.get("thresholds") or {}).get(when)
        if text is None:
            raise UserError(f"catalog: field {where}.alerts: when: {when} names a threshold "
                            f"the metric does not have")
        return Condition.parse(text)
    return Condition.parse(when)


def build_catalog(data: dict, name: str = "catalog") -> Catalog:
    """Typed catalog from parsed data; raises UserError naming the field."""
    _check_schema(data, name)
    metrics = {mname: _metric(mname, m, data["metrics"], name)
               for mname, m in data["metrics"].items()}
    judge = _judge_settings(data["judge"], name)
    contract = load_event_contract()
    optional = frozenset(contract.optional) if contract.event == data["event"] else frozenset()
    return Catalog(data["event"], data["cohort_attribute"], data["min_requests"],
                   float(data["confidence"]), metrics, optional,
                   performance_budget={k: Condition.parse(v) for k, v in
                                       (data.get("performance_budget") or {}).items()},
                   judge=judge)


def _check_schema(data: dict, name: str) -> None:
    """The catalog's JSON Schema; the first error (in field order) names its field."""
    from jsonschema import Draft202012Validator
    import json

    schema = json.loads(SCHEMA_PATH.read_text())
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.path) or "(top level)"
        raise UserError(f"{name}: field {where}: {e.message}")


def _metric(mname: str, m: dict, all_metrics: dict, name: str) -> Metric:
    """One schema-valid metric entry as a Metric, with the rules that span its fields."""
    def conds(d):
        return {k: Condition.parse(v) for k, v in (d or {}).items()}
    derived = m.get("derived")
    if derived and derived["savings_of"] not in all_metrics:
        raise UserError(f"{name}: field metrics.{mname}.derived.savings_of: "
                        f"expected a metric name, got {derived['savings_of']!r}")
    if "gate_window_minutes" in m and "nrql" not in m:
        # cohort metrics share the evaluation window with the request counts
        raise UserError(f"{name}: field metrics.{mname}.gate_window_minutes: only a metric "
                        f"defined by nrql: (service-level) has its own gate window")
    if "compare" in m and "nrql" in m:
        raise UserError(f"{name}: field metrics.{mname}.compare: a metric defined by nrql: "
                        f"has no cohorts to compare")
    compare = dict(m["compare"]) if m.get("compare") else None
    if compare and "rollback" in compare:
        compare["rollback"] = Condition.parse(compare["rollback"])
    if "ran" in m and "nrql" not in m:
        raise UserError(f"{name}: field metrics.{mname}.ran: only a metric defined by nrql: "
                        f"counts the checks that ran")
    metric = Metric(
        name=mname, title=m["title"], unit=m["unit"], worse=m["worse"],
        aggregate=m.get("aggregate"), derived=derived, nrql_override=m.get("nrql"),
        thresholds=conds(m.get("thresholds")),
        steps={s: conds(t) for s, t in (m.get("steps") or {}).items()},
        compare=compare,
        gate_steps=tuple(m["gate_steps"]) if "gate_steps" in m else None,
        alerts=tuple(Alert(a["name"], _alert_condition(a["when"], m, f"metrics.{mname}"),
                           a["minutes"], a["severity"],
                           a.get("notify") or _notify_for(a["severity"]),
                           bool(a.get("loss_of_signal")), a["source"])
                     for a in m.get("alerts", ())),
        window_minutes=m.get("window_minutes"),
        gate_window_minutes=m.get("gate_window_minutes"),
        cusum=tuple(Chart(c["line"], c["in_control"], float(c["h"])) for c in m.get("cusum", ())),
        baseline=m.get("baseline"), ran=m.get("ran"),
    )
    _check_charts(metric, name)
    return metric


def _judge_settings(raw: dict, name: str) -> JudgeSettings:
    judge = JudgeSettings(**raw)
    if judge.recent_hours * 60 // judge.bucket_minutes > 366:
        raise UserError(f"{name}: field judge.recent_hours: {judge.recent_hours} h of "
                        f"{judge.bucket_minutes}-minute buckets is more than the 366 buckets "
                        f"NRQL answers; expected at most {366 * judge.bucket_minutes // 60} h")
    return judge


def _check_charts(m: Metric, name: str) -> None:
    """Every chart guards a line the metric has, from a healthy side (docs/judge.md)."""
    from rollout.core.tallies import chart_kind

    for i, c in enumerate(m.cusum):
        where = f"{name}: field metrics.{m.name}.cusum.{i}"
        kind = chart_kind(m, c)
        if kind is None:
            raise UserError(f"{where}: a chart needs a percentage or percentile metric, cost "
                            f"savings, or a compare ratio; {m.name} is none of them")
        if c.holds and c.in_control == "target":
            raise UserError(f"{where}: in_control: a chart on the target needs a number on "
                            f"the target's healthy side")
        steps = [None, *m.steps]
        lines = [(s, c.condition(m, s)) for s in steps]
        if not any(line for _, line in lines):
            raise UserError(f"{where}: line: {c.line} names a threshold the metric does not have")
        for step, line in lines:
            healthy = c.healthy(m, step)
            if line is None:
                continue
            if healthy is None:
                raise UserError(f"{where}: in_control: target, but the metric has no target")
            if line.op == ".." or line.met(healthy):
                raise UserError(f"{where}: in_control {healthy:g} must be on the healthy side "
                                f"of the line {line}")


def load_catalog(path: str | None = None) -> Catalog:
    """The catalog at `path`, else $ROLLOUT_CATALOG, else the one beside this package."""
    return _load(str(path or os.environ.get("ROLLOUT_CATALOG") or DEFAULT_PATH))


@lru_cache(maxsize=8)
def _load(path: str) -> Catalog:
    from rollout.yamlfile import load_yaml

    p = Path(path)
    data = load_yaml(p)
    if not isinstance(data, dict):
        raise UserError(f"{p}: expected a mapping at the top level")
    return build_catalog(data, str(p))

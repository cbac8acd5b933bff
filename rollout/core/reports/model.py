"""What every report is made of: judged lines, the common header, and the inputs the
builders share. Typed end to end; JSON is written only at the edge (`to_json`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rollout.core.catalog import Catalog, Condition, savings_percent
from rollout.core.reports.names import SAVINGS
from rollout.core.reports.plan import Measured, Plan
from rollout.core.reports.summaries import CohortSummary, Summary, Window
from rollout.core.reports.timeline import Period, Timeline, event_json, step_name
from rollout.core.state import Event, FlagState, format_duration, format_utc


@dataclass(frozen=True)
class Not:
    """A target met when a catalog rule is not: "not > 150" (the cost ratio must stay
    clear of the rollback rule)."""

    rule: Condition

    def met(self, x: float) -> bool:
        return not self.rule.met(x)

    def __str__(self) -> str:
        return f"not {self.rule}"


Target = Condition | Not


@dataclass(frozen=True)
class Line:
    """One judged line: a value, its target, met or not (None: no data or not decidable)."""

    key: str
    label: str
    value: float | int | None
    unit: str                       # a unit of rollout.core.units
    target: Target | None
    met: bool | None
    baseline: float | None = None
    source: str = ""
    note: str = ""

    def to_json(self) -> dict:
        return {"key": self.key, "label": self.label, "value": self.value, "unit": self.unit,
                "target": str(self.target) if self.target is not None else None,
                "met": self.met, "baseline": self.baseline, "source": self.source,
                "note": self.note}


def line(key: str, label: str, value, unit: str, target: Target | None, *,
         met: bool | None = None, source: str = "", note: str = "", baseline=None) -> Line:
    """A Line whose `met` is decided from `target` unless given."""
    if met is None and target is not None and value is not None:
        met = target.met(value)
    return Line(key, label, value, unit, target, met, baseline, source, note)


def all_met(lines) -> bool | None:
    """True when every line is met, False when one is not, None when data is missing."""
    states = [l.met for l in lines]
    if any(s is False for s in states):
        return False
    return None if any(s is None for s in states) else True


def lines_json(lines) -> list[dict]:
    return [l.to_json() for l in lines]


@dataclass(frozen=True)
class Header:
    """What every report starts with: which flag, when, which window, what the history says."""

    kind: str
    flag: str
    title: str
    at: datetime
    window: Window
    applied: int
    step: str
    step_since: datetime | None
    committed: int
    periods: tuple[Period, ...]
    rollbacks: tuple[Event, ...]
    holds: tuple[Event, ...]
    retries: tuple[Event, ...]
    source_errors: dict[str, str]           # what the metric source could not compute
    requests: dict[str, int]                # cohort -> requests in the window

    @property
    def window_text(self) -> str:
        w = self.window
        return f"{format_utc(w.start)} to {format_utc(w.end)} ({format_duration(w.span)})"

    def to_json(self) -> dict:
        return {
            "kind": self.kind, "flag": self.flag, "title": self.title, "at": self.at.isoformat(),
            "window": self.window.to_json(), "window_text": self.window_text,
            "applied": self.applied, "step": self.step,
            "step_since": self.step_since.isoformat() if self.step_since else None,
            "committed": self.committed,
            "periods": [p.to_json(self.at) for p in self.periods],
            "rollbacks": [event_json(e) for e in self.rollbacks],
            "holds": [event_json(e) for e in self.holds],
            "retries": [event_json(e) for e in self.retries],
            "source_errors": dict(self.source_errors), "requests": dict(self.requests),
        }


@dataclass(frozen=True)
class Inputs:
    """Everything a report is built from. `gate` is the rollout.core.gate.GateResult over
    the main window (daily and final only)."""

    plan: Plan
    state: FlagState
    history: list[Event]
    catalog: Catalog
    data: Measured
    tl: Timeline
    gate: object | None = None

    @property
    def main(self) -> Summary:
        return self.data.main

    def step_of(self, pct: int) -> str:
        return step_name(self.state, pct)

    def header(self, title: str) -> Header:
        tl, plan = self.tl, self.plan
        return Header(plan.kind, self.state.flag, title, plan.at, plan.main, tl.pct,
                      self.step_of(tl.pct), tl.current.start if tl.current else None,
                      self.state.percentage, tl.periods, tl.rollbacks, tl.holds, tl.retries,
                      dict(self.main.errors),
                      {n: self.main.cohort(n).requests for n in ("canary", "control")})

    def baseline(self, summary: Summary | None = None) -> tuple[CohortSummary, str]:
        """The control cohort to compare `summary` (default: the main window) against, and
        where it came from: the same window, or the control before the rollout began."""
        ctl = (summary or self.main).cohort("control")
        fallback = self.data.baseline
        if ctl.requests >= self.catalog.min_requests or fallback is None:
            return ctl, "control cohort in the same window"
        w = fallback.window
        return (fallback.cohort("control"),
                f"control cohort {format_utc(w.start)} to {format_utc(w.end)} (the window has "
                f"{ctl.requests} control requests, fewer than {self.catalog.min_requests})")

    def target(self, metric: str, step: str | None = None) -> Condition | None:
        return self.catalog.metrics[metric].thresholds_for(step).get("target")


def savings(catalog: Catalog, canary: CohortSummary, control: CohortSummary) -> float | None:
    """The catalog's derived metric: (control - canary) / control * 100 of its base metric."""
    base = catalog.metrics[SAVINGS].derived["savings_of"]
    return savings_percent(canary.value(base), control.value(base))


def verdict_word(met: bool | None, yes: str, no: str) -> str:
    return {True: yes, False: no, None: "INCONCLUSIVE"}[met]

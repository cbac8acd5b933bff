"""The history, digested: the periods the store held each percentage, and the rollbacks,
holds and retries on the way. Every report and the chart read the rollout through this."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rollout.core.state import ABORTED, CHANGES, HELD, REFUSED, RETRY, Event, FlagState, \
    format_duration


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


def step_name(state: FlagState, pct: int) -> str:
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
        periods.append(Period(e.to_pct, step_name(state, e.to_pct), e.at, None))
    return Timeline(tuple(periods), tuple(rollbacks), tuple(holds), tuple(retries), at)


def event_json(e: Event) -> dict:
    """An event as the reports' JSON lists it (rollbacks, holds, retries, incidents)."""
    return {"at": e.at.isoformat(), "kind": e.kind, "from": e.from_pct, "to": e.to_pct,
            "reasons": list(e.reasons), "actor": e.actor, "commit": e.commit,
            "severity": e.evidence.get("severity") if e.evidence else None, "id": e.id}


def severity(e: Event) -> str:
    """An abort's severity; one recorded without it counts as SEV2 (it paged)."""
    return (e.evidence or {}).get("severity", "SEV2")

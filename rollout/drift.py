"""Put a drifted flag store back in line with the history, record it, tell people.

The pure rule (what is drift, which value wins) is rollout/core/drift.py; this is the
I/O around it, shared by `rollout reconcile` and `rollout guard`, which look for drift
before they decide anything: a decision taken on a drifted value would be "already at
5 %" while the abort's 0 % is in force.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rollout.core.drift import Drift, find_drift
from rollout.core.state import DRIFT, Applied, Event, FlagState
from rollout.errors import ConflictError


@dataclass(frozen=True)
class DriftRepair:
    drift: Drift
    event: Event | None = None          # the drift row written; None on a dry run or a race
    alerts: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        if self.event is None:
            return f"drift: {self.drift.reason} (not repaired: changed meanwhile or dry run)"
        return f"drift: {self.drift.reason}"


def _evidence(state: FlagState, d: Drift) -> dict:
    return {"severity": "SEV3", "served": d.served, "recorded": d.recorded,
            "title": f"{state.flag}: the flag store served {d.served}%, the history says "
                     f"{d.recorded}%",
            "markdown": f"| served | history | now |\n|---|---|---|\n| {d.served}% | "
                        f"{d.recorded}% | {d.target}% |\n"}


def settle_drift(state: FlagState, store, applied: Applied | None, history: list[Event],
                 now: datetime, *, commit: str, actor: str, notifiers=None,
                 dry_run: bool = False) -> tuple[Applied | None, DriftRepair | None]:
    """(the value now served, what was done) for a flag whose store contradicts its
    history; (applied, None) when they agree."""
    d = find_drift(applied, history, state.flag)
    if d is None:
        return applied, None
    if dry_run:
        return applied, DriftRepair(d)
    event = Event(flag=state.flag, at=now, kind=DRIFT, from_pct=d.recorded, to_pct=d.target,
                  reasons=(d.reason,), revision=state.revision, commit=commit, actor=actor,
                  evidence=_evidence(state, d))
    try:
        repaired = store.apply(state.flag, d.target, applied.version, event)
    except ConflictError:
        # another controller wrote the flag meanwhile; the next run looks again
        return store.read(state.flag), DriftRepair(d)
    row = next(e for e in reversed(store.history(state.flag)) if e.kind == DRIFT)
    alerts = {}
    if notifiers is not None:
        from rollout.deliveries import alert_drift
        alerts = alert_drift(state, store, row, notifiers, now)
    return repaired, DriftRepair(d, row, alerts)

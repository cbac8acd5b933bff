"""Drift: the flag store serves another percentage than the history says was applied.

The history is the controller's record of what it wrote; the store is what users get.
They differ when something outside the controller wrote the store: a write that timed
out on our side and landed late (after an abort), a person in the application's admin,
a restored backup. "Already there" would be the wrong reading: the last change row says
what must be served.

The repair never raises exposure on its own: a store serving MORE than the history is
put back to the history's value (an abort's 0 % stays 0 %); a store serving LESS is
adopted as found (someone turned it down; the ladder's rules, soak and gate decide
whether it climbs again, through `rollout reconcile`). Either way a `drift` row records
it and people are told.
"""
from __future__ import annotations

from dataclasses import dataclass

from rollout.core.state import CHANGES, DRIFT, Applied, Event


@dataclass(frozen=True)
class Drift:
    flag: str
    served: int          # what the store serves now
    recorded: int        # what the history's last change (or drift repair) says

    @property
    def target(self) -> int:
        """The value the repair writes: never more exposure than either side."""
        return min(self.served, self.recorded)

    @property
    def reason(self) -> str:
        if self.target == self.recorded:
            return (f"the flag store served {self.served}% while the history says "
                    f"{self.recorded}%: put back to {self.recorded}%")
        return (f"the flag store served {self.served}% while the history says "
                f"{self.recorded}%: someone lowered it outside the controller; "
                f"{self.served}% adopted (reconcile climbs again by the ladder's rules)")


def recorded_percentage(history: list[Event], flag: str) -> int | None:
    """What the history says the store holds: the last change or drift row's to_pct."""
    for e in reversed(history):
        if e.flag == flag and (e.kind in CHANGES or e.kind == DRIFT) and e.to_pct is not None:
            return e.to_pct
    return None


def find_drift(applied: Applied | None, history: list[Event], flag: str) -> Drift | None:
    """A Drift when the store's value contradicts the history; None when they agree or
    the history has no change to compare with (a flag set up outside the controller)."""
    recorded = recorded_percentage(history, flag)
    if recorded is None or applied is None or applied.percentage == recorded:
        return None
    return Drift(flag, applied.percentage, recorded)

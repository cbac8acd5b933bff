"""What a metric source saw in one window, per cohort and for the whole service: the
gate's only input from outside.

Pure data. A source fills it; the gate (rollout/core/gate.py) judges it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

COHORTS = ("canary", "control")


@dataclass(frozen=True)
class CohortData:
    requests: int                                   # events of this cohort in the window
    values: dict[str, float | None] = field(default_factory=dict)   # metric name -> value
    # tally key (rollout/core/tallies.py) -> total over the buckets, and per bucket on
    # Observations.edges, oldest first
    counts: dict[str, float] = field(default_factory=dict)
    buckets: dict[str, Sequence[float]] = field(default_factory=dict)
    # field -> standard deviation over the window (confidence sequences of averages)
    spreads: dict[str, float | None] = field(default_factory=dict)


EMPTY = CohortData(0)


@dataclass(frozen=True)
class Observations:
    window_start: datetime                          # the step's start (or a given window)
    window_end: datetime
    cohorts: dict[str, CohortData]
    errors: dict[str, str] = field(default_factory=dict)   # metric name -> why the source failed it
    # service-level metrics (no cohort), each over its own window: name -> value, None
    # when the source answered without a value
    service: dict[str, float | None] = field(default_factory=dict)
    # service-level metrics this kind of source cannot measure at all (the sqlite events
    # file has no synthetic checks or process samples): left out of the gate, with a note
    unmeasured: frozenset[str] = frozenset()
    # bucket boundaries in epoch ms (one more than buckets): evidence.layout of the window
    edges: Sequence[int] = ()
    # service-level metrics with a `ran` query: how many checks ran in the same window
    ran: dict[str, float | None] = field(default_factory=dict)

    def cohort(self, name: str) -> CohortData:
        return self.cohorts.get(name, EMPTY)


def epoch_ms(t: datetime) -> int:
    """A window bound as both sources store and query time: epoch milliseconds (naive = UTC)."""
    t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    return round(t.timestamp() * 1000)

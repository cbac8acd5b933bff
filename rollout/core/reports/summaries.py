"""What a report source measured: per-cohort summaries over a window, and buckets of a
time series. The adapters in rollout/adapters/reportdata/ fill these.

Pure data, like observations.py is for the gate. The reports need more than the gate
(percentiles other than p95, the share of requests under a latency limit, total cost,
model mix, uptime, buckets over time), so they get their own shape; the per-metric
`values` are the catalog's metrics computed exactly as the gate computes them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime                   # exclusive

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    def to_json(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class ModelShare:
    requests: int
    cost: float | None              # USD, None when no event carried a cost


@dataclass(frozen=True)
class CohortSummary:
    requests: int = 0
    values: dict[str, float | None] = field(default_factory=dict)   # catalog metric -> value
    p50: float | None = None        # ms
    p99: float | None = None
    max: float | None = None
    under: dict[float, float | None] = field(default_factory=dict)  # limit ms -> % of requests below
    cost_total: float | None = None
    models: dict[str, ModelShare] = field(default_factory=dict)

    def value(self, metric: str) -> float | None:
        return self.values.get(metric) if self.requests else None


EMPTY_COHORT = CohortSummary()


@dataclass(frozen=True)
class Outage:
    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return round((self.end - self.start).total_seconds() / 60)


@dataclass(frozen=True)
class Uptime:
    percent: float | None
    method: str                     # how it was measured, printed beside the number
    minutes: int | None = None      # minutes judged
    outages: tuple[Outage, ...] | None = None   # None: the source cannot list them

    @property
    def down_minutes(self) -> int | None:
        return None if self.outages is None else sum(o.minutes for o in self.outages)


@dataclass(frozen=True)
class Summary:
    window: Window
    cohorts: dict[str, CohortSummary]
    uptime: Uptime
    peak_per_minute: int | None = None      # busiest minute, both cohorts
    errors: dict[str, str] = field(default_factory=dict)   # what the source could not compute

    def cohort(self, name: str) -> CohortSummary:
        return self.cohorts.get(name, EMPTY_COHORT)

    @property
    def requests(self) -> int:
        return sum(c.requests for c in self.cohorts.values())


@dataclass(frozen=True)
class BucketCohort:
    requests: int
    values: dict[str, float | None] = field(default_factory=dict)   # catalog metric -> value


@dataclass(frozen=True)
class Bucket:
    start: datetime
    end: datetime
    cohorts: dict[str, BucketCohort]

    def cohort(self, name: str) -> BucketCohort:
        return self.cohorts.get(name, BucketCohort(0))

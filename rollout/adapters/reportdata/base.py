"""The interface every report data source implements.

A report asks for a few named windows at once (the report's own window, a baseline, one
per phase or week) so a remote source can answer them in one round trip, and for one
time series (the chart, the "consistently" checks).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from rollout.core.catalog import Catalog
from rollout.core.reports.summaries import Bucket, Summary, Window


class ReportSource(Protocol):
    def summaries(self, catalog: Catalog, windows: dict[str, Window],
                  limits_ms: tuple[float, ...]) -> dict[str, Summary]:
        """One Summary per named window. `limits_ms`: latency limits for which the share of
        requests faster than the limit is wanted (the SLA's 5 s and 10 s)."""

    def series(self, catalog: Catalog, start: datetime, end: datetime, bucket: timedelta,
               metrics: tuple[str, ...]) -> list[Bucket]:
        """Consecutive buckets [start, start + bucket), ... up to `end`, each with the
        request count and the named catalog metrics per cohort."""

    def latest(self) -> datetime | None:
        """The time of the newest event, when the source can tell (`--at latest`)."""

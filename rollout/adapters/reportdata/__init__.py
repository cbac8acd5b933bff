"""Report data sources, chosen by the same --metrics URL as the gate's metric source.

    (none)                     the skill_events table inside the sqlite flag store's file
    sqlite:///PATH             events imported with `rollout events import`
    newrelic://ACCOUNT_ID[?region=eu]   NerdGraph (NEW_RELIC_API_KEY, NEW_RELIC_ACCOUNT_ID)

The URL is parsed once, by rollout.adapters.metrics.open_source; this wraps what it opens.
"""
from __future__ import annotations

from rollout.adapters.reportdata.base import ReportSource


def open_report_source(metrics_url: str | None, store_url: str) -> ReportSource:
    from rollout.adapters.metrics import open_source
    from rollout.adapters.metrics.sqlite_events import SQLiteEventSource

    source = open_source(metrics_url, store_url)
    if isinstance(source, SQLiteEventSource):
        from rollout.adapters.reportdata.sqlite import SQLiteReportSource
        return SQLiteReportSource(source.path)
    from rollout.adapters.reportdata.newrelic import NewRelicReportSource
    return NewRelicReportSource(source)


__all__ = ["ReportSource", "open_report_source"]

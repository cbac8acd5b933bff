"""Metric sources behind one small interface, chosen by URL scheme.

    newrelic://[ACCOUNT_ID][?region=eu]   NerdGraph; key in NEW_RELIC_API_KEY, account id
                                          from the URL or NEW_RELIC_ACCOUNT_ID
    sqlite:///PATH                        events loaded with `rollout events import`

Without a URL the source is the events table in the flag store's own SQLite file.
"""
from __future__ import annotations

import os
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from rollout.core.observations import Observations
from rollout.errors import UserError

US_ENDPOINT = "https://api.newrelic.com/graphql"
EU_ENDPOINT = "https://api.eu.newrelic.com/graphql"


class MetricSource(Protocol):
    def fetch(self, catalog, start: datetime, end: datetime) -> Observations:
        """Every catalog metric for both cohorts over [start, end).

        Raises ExternalError when the whole source fails; a failure of single metrics
        goes into Observations.errors. No data is not a failure: requests are 0.
        """


def metrics_url(cli_value: str | None) -> str | None:
    return cli_value or os.environ.get("ROLLOUT_METRICS") or None


def sqlite_events_path(url: str):
    from rollout.adapters.store.sqlite import sqlite_path

    try:
        return sqlite_path(url)
    except UserError:
        raise UserError(f"metrics URL {url!r}: expected sqlite:///relative/path.db or "
                        f"sqlite:////absolute/path.db") from None


def open_source(url: str | None, store_url: str) -> MetricSource:
    """--metrics URL, else ROLLOUT_METRICS, else the events in the sqlite store: the same
    resolution for every command, so gate, reconcile and guard judge the same data."""
    url = metrics_url(url)
    if not url:
        if not store_url.lower().startswith("sqlite:"):
            raise UserError(f"no metric source: the store {store_url.split('://')[0]}://… holds "
                            f"no events; pass --metrics newrelic://ACCOUNT_ID or sqlite:///PATH "
                            f"(or set ROLLOUT_METRICS)")
        url = store_url
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from rollout.adapters.metrics.sqlite_events import SQLiteEventSource
        return SQLiteEventSource(sqlite_events_path(url))
    if scheme == "newrelic":
        return _newrelic(url)
    raise UserError(f"metrics URL {url!r}: unknown scheme {scheme!r}, expected "
                    f"newrelic://ACCOUNT_ID[?region=eu] or sqlite:///PATH")


def _newrelic(url: str) -> MetricSource:
    from rollout.adapters.metrics.newrelic import NewRelicSource

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    unknown = sorted(set(query) - {"region"})
    if unknown:
        raise UserError(f"metrics URL {url!r}: unknown parameter {unknown[0]!r}, expected region")
    region = query.get("region", "us").lower()
    if region not in ("us", "eu"):
        raise UserError(f"metrics URL {url!r}: region {region!r}, expected us or eu")
    account = parts.netloc or os.environ.get("NEW_RELIC_ACCOUNT_ID", "")
    if not account.isdigit():
        raise UserError(f"metrics URL {url!r}: expected a numeric New Relic account id in the "
                        f"URL (newrelic://1234567) or in NEW_RELIC_ACCOUNT_ID, got {account!r}")
    key = os.environ.get("NEW_RELIC_API_KEY", "")
    if not key:
        raise UserError("NEW_RELIC_API_KEY is not set: expected a New Relic User key (NRAK-…)")
    endpoint = os.environ.get("NEW_RELIC_API_URL") or (EU_ENDPOINT if region == "eu" else US_ENDPOINT)
    return NewRelicSource(int(account), key, endpoint)

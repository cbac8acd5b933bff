"""`rollout baseline capture`: measure the catalog's metrics over the days before the
rollout through the metric source, and record them as `baseline` evidence.

Thin orchestration: the source measures, rollout/core/baseline.py judges and shapes the
evidence. With New Relic everything is ONE NerdGraph request: the source's usual queries
(both cohorts, FACET cohort) plus the same metrics over every event of the window, sent
as extra aliases, so events without the cohort attribute count before the first step.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from rollout.core.baseline import Everyone, baseline_evidence, baseline_metrics
from rollout.core.catalog import Catalog
from rollout.core.observations import Observations
from rollout.core.observations import epoch_ms as _ms

REQUESTS = "e_requests"


def everyone_queries(catalog: Catalog, start: datetime, end: datetime) -> dict[str, str]:
    """alias -> NRQL over every event of the window (no FACET: cohort or not)."""
    window = f"{_ms(start)} UNTIL {_ms(end)}"
    out = {REQUESTS: f"SELECT count(*) FROM {catalog.event} SINCE {window}"}
    for m in baseline_metrics(catalog):
        out[f"e_{m.name}"] = m.nrql(catalog, since=window)
    return out


def _everyone(catalog: Catalog, answers: dict) -> Everyone:
    from rollout.adapters.metrics.newrelic import row_value

    def one(alias):
        rows = answers.get(alias)
        if not isinstance(rows, list):
            return None, rows or "New Relic returned no result"
        row = rows[0] if rows and isinstance(rows[0], dict) else None
        return (row_value(row, catalog.cohort_attribute) if row else None), None

    count, why = one(REQUESTS)
    values, errors = {}, {}
    for m in baseline_metrics(catalog):
        values[m.name], err = one(f"e_{m.name}")
        if err or why:
            errors[m.name] = err or f"request count: {why}"
    return Everyone(int(count or 0), values, errors)


def measure(source, catalog: Catalog, start: datetime, end: datetime
            ) -> tuple[Observations, Everyone | None]:
    """Both cohorts over the window and, where the source can say it (New Relic), every
    event of it. The embedded events always carry a cohort: there control is everyone."""
    if hasattr(source, "fetch_with"):
        obs, answers = source.fetch_with(catalog, start, end, everyone_queries(catalog, start, end))
        return obs, _everyone(catalog, answers)
    return source.fetch(catalog, start, end), None


def capture(source, catalog: Catalog, start: datetime, end: datetime, *, days: int,
            label: str) -> dict:
    obs, everyone = measure(source, catalog, start, end)
    return baseline_evidence(catalog, obs, everyone, days=days, source=label)


def capture_and_record(state, store_url: str, history_url: str | None, metrics: str | None,
                       catalog: Catalog, *, days: int, at: datetime,
                       clock: Callable[[], datetime], commit: str, actor: str):
    """`rollout baseline capture`: the `days` before `at`, measured through the metric
    source and recorded in the store's history of `state`'s flag; returns (the event,
    its evidence)."""
    from rollout.adapters.metrics import metrics_url, open_source
    from rollout.adapters.store import open_store
    from rollout.core.baseline import baseline_event, window_of

    with open_store(store_url, history_url) as store:
        # the label names the source without credentials: the New Relic key lives in
        # NEW_RELIC_API_KEY, a store URL is shown as the store shows itself
        label = metrics_url(metrics) or store.url
        source = open_source(metrics, store_url)
        start, end = window_of(days, at)
        evidence = capture(source, catalog, start, end, days=days, label=label)
        event = baseline_event(state, evidence, clock(), commit=commit, actor=actor)
        store.record(event)
    return event, evidence

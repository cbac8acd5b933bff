"""`rollout verify`: the post-deployment checklist, fetched from the outside systems and
judged by the pure checklist (rollout/core/verify.py)."""
from __future__ import annotations

from datetime import datetime, timedelta

from rollout.core import verify
from rollout.errors import ExternalError


def fetch_metrics(source, catalog, start, at):
    """(observations, attributes seen in the last hour) from one request where the source
    can answer both (New Relic: keyset() beside the metric queries); else the attributes
    are unknown."""
    fetch_with = getattr(source, "fetch_with", None)
    try:
        if fetch_with is None:
            return source.fetch(catalog, start, at), verify.Unavailable(
                "unknown: the event contract is checked against New Relic "
                "(--metrics newrelic://ACCOUNT_ID)")
        query = verify.keyset_nrql(catalog.event, at - verify.CONTRACT_WINDOW, at)
        obs, answers = fetch_with(catalog, start, at, {verify.CONTRACT_ALIAS: query})
    except ExternalError as exc:
        failed = verify.Unavailable(f"metric source failed: {exc}", failed=True)
        return failed, failed
    rows = answers[verify.CONTRACT_ALIAS]
    if isinstance(rows, str):
        return obs, verify.Unavailable(f"keyset() failed: {rows}", failed=True)
    from rollout.adapters.metrics.newrelic import parse_keyset
    return obs, parse_keyset(rows)


def open_issues(source, at: datetime):
    """The critical issues open in New Relic; unknown for a source that knows no alerts."""
    ask = getattr(source, "open_issues", None)
    if ask is None:
        return verify.Unavailable("unknown: no New Relic account configured "
                                  "(--metrics newrelic://ACCOUNT_ID)")
    try:
        return ask(at - verify.INCIDENT_LOOKBACK, at)
    except ExternalError as exc:
        return verify.Unavailable(f"New Relic did not answer: {exc}", failed=True)


def verify_deployment(health_url: str, source, catalog, at: datetime, window: timedelta, *,
                      timeout: float, min_throughput: float | None) -> verify.Checklist:
    """Every automatable line of the checklist, its metrics over the window ending at `at`."""
    from rollout.adapters.health import fetch_health
    from rollout.core.event_contract import load_event_contract

    health = fetch_health(health_url, timeout)
    contract = load_event_contract()
    obs, seen = fetch_metrics(source, catalog, at - window, at)
    issues = open_issues(source, at)
    return verify.evaluate(health, issues, obs, catalog, window, min_throughput, seen, contract)

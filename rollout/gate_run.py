"""The gate as the controller runs it: soak from the store's history, metrics from a
source, judged by the pure gate (rollout/core/gate.py). One path for `gate`, `reconcile`,
`validate`, `guard`, `drill`, `serve` and the reports, so they cannot disagree.

The judge reads the step's own data: everything since the store last changed to the
applied percentage (docs/judge.md). Evidence accumulates over the step instead of being
cut into windows; a window is only a cap asked for by hand (`rollout gate --window`), or
the fallback when the store has no record of when the step began."""
from __future__ import annotations

from datetime import datetime, timedelta

from rollout.core.catalog import load_catalog
from rollout.core.rules import soak_status
from rollout.core.state import FlagState, format_duration
from rollout.errors import ExternalError

FALLBACK_WINDOW = timedelta(hours=24)  # no record of when the step began: the last day


def applied_as_of(history, applied, at: datetime) -> int:
    """The percentage the store held at `at`: the last change up to then; a store without
    history (set outside the controller) has only its current value."""
    from rollout.core.state import CHANGES

    changes = [e for e in history if e.kind in CHANGES and e.at <= at]
    if changes:
        return changes[-1].to_pct
    if applied and (applied.updated_at is None or applied.updated_at <= at):
        return applied.percentage
    return 0


def evidence_start(soak, now: datetime, window: timedelta | None = None) -> datetime:
    """Where the judged data begins: the step's start, capped to `window` if given."""
    start = soak.since if soak.since is not None and soak.since < now else None
    if window is not None:
        return max(start or now - window, now - window)
    return start or now - FALLBACK_WINDOW


def gate_result(state: FlagState, applied_pct: int, history, source, now: datetime,
                window: timedelta | None = None, catalog=None):
    """Judge the applied step of `state` as of `now` on the step's data up to then, with
    the pre-rollout baseline of the history beside it when one passed."""
    from rollout.core.baseline import latest_baseline
    from rollout.core.gate import evaluate, soak_check

    catalog = catalog or load_catalog()
    soak = soak_status(state, applied_pct, history, now)
    step = state.ladder.step(applied_pct)
    nxt = state.ladder.next(applied_pct)
    observations, error = None, None
    if applied_pct > 0:
        try:
            observations = source.fetch(catalog, evidence_start(soak, now, window), now)
        except ExternalError as exc:
            error = str(exc)
    return evaluate(catalog, step.name if step else f"{applied_pct}%", observations,
                    soak=soak_check(soak.done, soak.describe(),
                                    format_duration(soak.required) if soak.required else None),
                    source_error=error, flag=state.flag, at=now,
                    next_step=nxt.name if nxt else None,
                    baseline=latest_baseline(history, state.flag, now))


def make_gate(metrics_url: str | None, store_url: str, store, window: timedelta | None = None,
              source=None):
    """The reconciler's gate: (state, applied %, now) -> (verdict, reasons, source failed).
    The metric source is opened on first use (most reconciles have no step up to judge)."""

    def gate(state: FlagState, applied_pct: int, now: datetime):
        nonlocal source
        if source is None:
            from rollout.adapters.metrics import open_source
            source = open_source(metrics_url, store_url)
        result = gate_result(state, applied_pct, store.history(state.flag), source, now, window)
        return result.verdict, result.reasons, result.source_failed

    return gate


def judge(state, store_url: str, metrics: str | None, at, window=None,
          history_url: str | None = None):
    """The gate of `state`'s applied step as of `at`, from the store's history and applied
    value then: `rollout gate` and `rollout validate --metrics`."""
    from rollout.adapters.metrics import metrics_url, open_source
    from rollout.adapters.store import open_store

    with open_store(store_url, history_url) as store:
        history = store.history(state.flag, until=at)
        pct = applied_as_of(history, store.read(state.flag), at)
    source = open_source(metrics_url(metrics), store_url) if pct > 0 else None   # no canary yet
    return gate_result(state, pct, history, source, at, window)

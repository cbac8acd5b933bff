"""The gate of one flag as `rollout gate` and `rollout validate --metrics` run it: the
store's history and applied value as of a time, and the metric source, judged by
rollout/gating.py. (Moved verbatim from rollout/cli/cmd_gate.py.)"""
from __future__ import annotations


def judge(state, store_url: str, metrics: str | None, at, window=None,
          history_url: str | None = None):
    """The gate of `state`'s applied step as of `at`, from the store's history."""
    from rollout.adapters.metrics import metrics_url, open_source
    from rollout.adapters.store import open_store
    from rollout.gating import applied_as_of, gate_result

    with open_store(store_url, history_url) as store:
        history = store.history(state.flag, until=at)
        pct = applied_as_of(history, store.read(state.flag), at)
    source = open_source(metrics_url(metrics), store_url) if pct > 0 else None   # no canary yet
    return gate_result(state, pct, history, source, at, window)

"""One run of the guard over a set of flags: what `rollout guard` does per run and what
`rollout serve` does per evaluation (timed or asked for by a webhook), written once.

The caller brings the committed state, the clock and the actor: the command line reads
them from git and the environment, the service from its own configuration.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from rollout.core.state import FlagState
from rollout.guard import Notifiers, Outcome, guard_flag


def run_guard(states: list[FlagState], store_url: str, history_url: str | None,
              metrics_url: str | None, *, window: timedelta, clock: Callable[[], datetime],
              commit: str, actor: str, notifiers: Notifiers | None = None) -> list[Outcome]:
    """Judge every flag of `states` and act on its rollback triggers. Raises ExternalError
    when the store cannot be opened (no flag could be judged)."""
    from rollout.adapters.metrics import open_source
    from rollout.adapters.store import open_store

    notifiers = notifiers or Notifiers.from_env()
    with open_store(store_url, history_url) as store:
        source = open_source(metrics_url, store_url)
        return [guard_flag(s, store, source, notifiers, clock(), window=window, commit=commit,
                           actor=actor) for s in states]

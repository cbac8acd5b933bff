"""One run of the guard over a set of flags: what `rollout guard` does per run and what
`rollout serve` does per evaluation (timed or asked for by a webhook), written once.

The caller brings the committed state, the clock and the actor: the command line reads
them from git and the environment, the service from its own configuration.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from rollout.core.state import FlagState
from rollout.errors import ExternalError, one_line
from rollout.deliveries import NOTIFY_DEADLINE
from rollout.guard import GuardOutcome, Notifiers, guard_flag


def guard_all(states: list[FlagState], store, source, notifiers: Notifiers, at: datetime,
              window: timedelta, **who) -> list[GuardOutcome]:
    """guard_flag for each flag; a store failure on one flag makes it an `error` outcome
    (blind) instead of hiding the others' results, a rollback among them."""
    outcomes = []
    for s in states:
        try:
            outcomes.append(guard_flag(s, store, source, notifiers, at, window=window, **who))
        except ExternalError as exc:
            why = one_line(str(exc))
            outcomes.append(GuardOutcome(s.flag, "error", reasons=[why], blind=True,
                                         blind_reason=why))
    return outcomes


def run_guard(states: list[FlagState], store_url: str, history_url: str | None,
              metrics_url: str | None, *, window: timedelta, clock: Callable[[], datetime],
              commit: str, actor: str,
              notify_deadline: float = NOTIFY_DEADLINE) -> list[GuardOutcome]:
    """Judge every flag of `states` and act on its rollback triggers; the notifications
    of the run share `notify_deadline` seconds. Raises ExternalError when the store cannot
    be opened (no flag could be judged)."""
    from rollout.adapters.metrics import open_source
    from rollout.adapters.store import open_store

    notifiers = Notifiers.from_env(deadline=notify_deadline)
    with open_store(store_url, history_url) as store:
        source = open_source(metrics_url, store_url)
        return guard_all(states, store, source, notifiers, clock(), window, commit=commit,
                         actor=actor)

"""What an operator does by hand: roll a flag back (`rollout abort`, the guard's own path,
emergency method 1 of the playbook) and clear an abort so the revision may resume
(`rollout retry`). Both send what the flag's history still owes its notifiers."""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from rollout.core.state import FlagState
from rollout.deliveries import Notifiers, deliver, pending_deliveries
from rollout.errors import ConflictError, UserError
from rollout.guard import GuardOutcome, abort


def manual_abort(state: FlagState, store_url: str, history_url: str | None, *, reason: str,
                 severity: str, notifiers: Notifiers, clock: Callable[[], datetime],
                 commit: str, actor: str) -> tuple[GuardOutcome | None, dict[str, str]]:
    """Set the flag to 0 % with an abort row, then notify. (None, owed) when the flag is
    already at 0 %: an earlier abort may have stopped before its notifications (a store
    failure), so what it still owes is sent. ConflictError when another controller
    rolled it back first."""
    from rollout.adapters.store import open_store

    at = clock()
    with open_store(store_url, history_url) as store:
        applied = store.read(state.flag)
        if applied is None or applied.percentage == 0:
            return None, pending_deliveries(state, store, notifiers, at)
        reason = f"manual abort by {actor}: {reason}"
        evidence = {"severity": severity, "title": f"manual rollback of {state.flag}",
                    "markdown": f"| reason | actor |\n|---|---|\n| {reason} | {actor} |\n"}
        event = abort(state, store, applied, reasons=[reason], evidence=evidence, now=at,
                      commit=commit, actor=actor)
        if event is None:
            raise ConflictError(f"{state.flag}: another controller rolled it back to 0% first; "
                                f"nothing was written (see `rollout history {state.flag}`)")
        return GuardOutcome(state.flag, "rolled_back", applied.percentage, [reason], severity,
                            deliver(state, store, event, notifiers, at)), {}


def clear_abort(state: FlagState, store_url: str, history_url: str | None, *, reason: str,
                notifiers: Notifiers, clock: Callable[[], datetime], commit: str, actor: str):
    """Record a `retry` against the abort that stands for the committed revision; returns
    (that abort, what the history still owed and was sent now: the page is resolved)."""
    from rollout.adapters.store import open_store
    from rollout.core.rules import active_abort
    from rollout.core.state import RETRY, Event

    with open_store(store_url, history_url) as store:
        standing = active_abort(store.history(state.flag), state.flag, state.revision)
        if standing is None:
            raise UserError(f"{state.flag}: no abort stands against revision "
                            f"{state.revision[:12]}; nothing to retry")
        at = clock()
        store.record(Event(flag=state.flag, at=at, kind=RETRY, from_pct=standing.to_pct,
                           to_pct=standing.from_pct, reasons=(reason,),
                           revision=state.revision, commit=commit, actor=actor))
        return standing, pending_deliveries(state, store, notifiers, at)

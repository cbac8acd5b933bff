"""Desired against applied, per flag: the document of `rollout status --output json` and
of `GET /status` in `rollout serve`, computed in one place."""
from __future__ import annotations

from datetime import datetime


def flag_status(state, store, at: datetime) -> dict:
    from rollout.core.drift import find_drift
    from rollout.core.rules import active_abort, soak_status
    from rollout.core.state import format_duration

    applied = store.read(state.flag)
    history = store.history(state.flag)
    have = applied.percentage if applied else None
    soak = soak_status(state, have or 0, history, at)
    step = state.ladder.step(have) if have is not None else None
    last = history[-1] if history else None
    abort = active_abort(history, state.flag, state.revision)
    drift = find_drift(applied, history, state.flag)
    return {
        "flag": state.flag,
        "desired": state.percentage,
        "applied": have,
        "in_sync": have == state.percentage,
        "step": step.name if step else (f"{have}% (off ladder)" if have is not None else "not applied"),
        "time_in_step": format_duration(soak.served) if soak.served is not None else None,
        "soak_remaining": (format_duration(soak.remaining) if soak.remaining is not None else None),
        "revision": state.revision,
        "aborted": ({"at": abort.at.isoformat(), "reasons": list(abort.reasons)} if abort else None),
        "last_decision": ({"at": last.at.isoformat(), "kind": last.kind, "from": last.from_pct,
                           "to": last.to_pct, "reasons": list(last.reasons)} if last else None),
        # the store serves another value than the history's last change (see reconcile)
        "drift": drift.reason if drift else None,
    }


def status_document(states, store, at: datetime) -> dict:
    return {"at": at.isoformat(), "flags": [flag_status(s, store, at) for s in states]}

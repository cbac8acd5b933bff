"""Desired against applied, per flag: the document of `rollout status --output json` and
of `GET /status` in `rollout serve`, computed in one place (rollout/core/flag_view.py, which
the status page's cards are built on too)."""
from __future__ import annotations

from datetime import datetime


def flag_status(state, store, at: datetime) -> dict:
    from rollout.core.flag_view import flag_status as status_of

    return status_of(state, store.read(state.flag), store.history(state.flag), at).to_json()


def status_document(states, store, at: datetime) -> dict:
    return {"at": at.isoformat(), "flags": [flag_status(s, store, at) for s in states]}

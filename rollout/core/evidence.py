"""Evidence in the history: rows that record what was proven (a load test, later a
baseline or a drill) rather than a change of the flag.

Pure. A readiness gate asks "what is the newest evidence of this kind, as of now, that
matches what the flag file demands (e.g. profile seed)?" and judges its age and verdict
itself; this module only finds it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from rollout.core.state import Event


def latest_evidence(history: Iterable[Event], kind: str, now: datetime, *,
                    flag: str | None = None, where: dict | None = None) -> Event | None:
    """The newest row of `kind` recorded at or before `now` (rows after `now` are the
    future of a pinned clock) whose evidence holds every key/value of `where`.

    Newest by time, then by id: two rows of one second keep their insertion order.
    """
    where = where or {}
    best = None
    for e in history:
        if e.kind != kind or e.at > now or (flag is not None and e.flag != flag):
            continue
        if any(e.evidence.get(k) != v for k, v in where.items()):
            continue
        if best is None or (e.at, e.id or 0) >= (best.at, best.id or 0):
            best = e
    return best

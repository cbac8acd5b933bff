"""Where `rollout gate` learns the flag's current step and how long it has soaked.

One function, so the wiring to the controller core stays in one place: the committed
flag file gives the ladder, the store's history gives the applied percentage and the
time it was applied, as of `now` (a past time for audits).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from rollout.core.gate import Check, soak_check


class GateContext(NamedTuple):
    step: str                   # the applied step, e.g. "canary"
    soak: Check                 # the soak of that step, as the gate's first check
    next_step: str | None       # the step a proceed would lead to (None at the top)
    percentage: int = 0


def current_step_and_soak(flag: str, store_url: str, now: datetime,
                          flags_dir: Path = Path("rollout/flags")) -> GateContext:
    """Raises UserError when `flag` has no committed file."""
    from rollout.adapters.store import open_store
    from rollout.core.rules import soak_status
    from rollout.core.state import CHANGES, format_duration
    from rollout.flagfiles import find_flag

    committed = find_flag(flag, flags_dir)
    with open_store(store_url) as store:
        history = store.history(flag, until=now)
        applied = store.read(flag)
    changes = [e for e in history if e.kind in CHANGES]
    # As of `now`: the last change up to then; a store without history has only its value.
    if changes:
        pct = changes[-1].to_pct
    else:
        pct = applied.percentage if applied and (applied.updated_at is None
                                                 or applied.updated_at <= now) else 0
    step = committed.ladder.step(pct)
    following = committed.ladder.next(pct)
    soak = soak_status(committed, pct, history, now)
    check = soak_check(soak.done, soak.describe(),
                       format_duration(soak.required) if soak.required else None)
    return GateContext(step.name if step else f"{pct}%", check,
                       following.name if following else None, pct)

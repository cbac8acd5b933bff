"""One `rollout drill`: rehearse the playbook on a store of its own (a fresh SQLite file,
or the staging stack's store, where the drill walks a flag of its own), judge the outcome
against what the playbook requires, and with --record-in record it as `drill` evidence
of the real flag (rollout/drill_staging.py)."""
from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Callable

from rollout.core.state import FlagState
from rollout.errors import UserError


def expected(summary: dict) -> bool:
    fault = summary["fault"]
    if fault == "none":
        return summary["final_percentage"] == 100 and not summary["rolled_back"]
    if fault == "provider-outage":
        return not summary["rolled_back"] and summary["final_percentage"] == 5
    return summary["rolled_back"] and summary["final_percentage"] == 0


def rehearse(base: FlagState, url: str, cfg, *, flags_dir: Path, record_in: str | None,
             clock: Callable[[], datetime], actor: str) -> dict:
    """The drill's summary, with `as_expected` and, with `record_in`, `recorded`."""
    from rollout.adapters.store import open_store
    from rollout.drill import run_drill
    from rollout.drill_staging import is_staging_store, same_place

    if record_in:
        if same_place(_label(url), _label(record_in)):
            raise UserError(f"--store and --record-in name the same database "
                            f"({_label(url)}): the drill runs in staging, its evidence goes "
                            f"to production")
        with open_store(record_in):
            pass        # a store that cannot be reached fails now, not after the drill
    if is_staging_store(url):
        summary = _staging_drill(base, url, cfg, flags_dir, clock)
    else:
        with open_store(url) as store:
            if store.history(base.flag):
                raise UserError(f"store {url} already holds history for {base.flag}; "
                                f"a drill needs a store of its own")
            summary = run_drill(base, store, url, cfg, ends_by=clock())
    summary["as_expected"] = expected(summary)
    if record_in:
        _record(base, summary, record_in, clock(), actor, cfg)
    return summary


def _staging_drill(base: FlagState, url: str, cfg, flags_dir: Path, clock) -> dict:
    """The drill against the staging store: its own flag, its events in a temporary file."""
    from rollout.adapters.store import open_store
    from rollout.drill import run_drill
    from rollout.drill_staging import drill_flag, leave_at_zero
    from rollout.flagfiles import flag_paths

    events_dir = tempfile.mkdtemp(prefix="rollout-drill-events-")
    try:
        with open_store(url) as store:
            state = drill_flag(base, clock(), [p.stem for p in flag_paths(flags_dir)])
            summary = run_drill(state, store, store.url, cfg, ends_by=clock(), actor="drill",
                                events_url=f"sqlite:///{Path(events_dir) / 'events.db'}")
            leave_at_zero(store, state.flag, clock(), actor="drill")
        summary["drill_flag"] = state.flag
        return summary
    finally:
        shutil.rmtree(events_dir, ignore_errors=True)


def _label(url: str) -> str:
    """A store URL as the store shows itself (no password), without connecting."""
    from rollout.drill_staging import is_staging_store

    if is_staging_store(url):
        from rollout.adapters.store.postgres import describe
        return describe(url)
    return url


def _record(base: FlagState, summary: dict, record_in: str, at: datetime, actor: str,
            cfg) -> None:
    from rollout.adapters.store import open_store
    from rollout.drill_staging import drill_event
    from rollout.flagfiles import current_commit

    event = drill_event(base, summary, summary["as_expected"], store_label=summary["store"],
                        drill_flag_name=summary["drill_flag"], at=at, commit=current_commit(),
                        actor=actor, seed=cfg.seed, rate=cfg.requests_per_hour)
    with open_store(record_in) as store:
        store.record(event)
        summary["recorded"] = f"recorded as `drill` evidence of {base.flag} in {store.url}"

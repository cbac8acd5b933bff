"""One load test from start to evidence, as `rollout loadtest` runs it: the store and the
target checked before minutes of load, the worker run, its summary judged against the
catalog's performance budget (written beside Locust's report as summary.json), and the
result recorded as a `loadtest` history row of the flag."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Callable

from rollout.core.state import FlagState
from rollout.errors import ExternalError, UserError
from rollout.loadtest.profiles import Profile


def run_load_test(target: str, profile: Profile, out: Path, budget: dict, store_url: str,
                  history_url: str | None, progress: Callable[[dict], None], every: float):
    """Run the profile against the target; returns (summary, budget verdict)."""
    from rollout.adapters.store import open_store
    from rollout.loadtest.launch import probe, run_worker
    from rollout.loadtest.target import public_url

    with open_store(store_url, history_url):
        pass    # a store that cannot be reached fails now, not after twenty minutes of load
    probe(target)
    _make(out)
    summary = run_worker(target, profile, out, progress, every=every)
    overall = summary["overall"]
    if not overall["requests"] or overall["no_answer"] == overall["requests"]:
        raise ExternalError(f"load test target {public_url(target)}: none of "
                            f"{overall['requests']} requests got an answer "
                            f"({_first_error(summary)}); see {out / 'report.html'}")
    return summary, _judge(summary, budget, out)


def record_load_test(state: FlagState, summary: dict, verdict, budget: dict, out: Path,
                     store_url: str, history_url: str | None, *, at: datetime, commit: str,
                     actor: str) -> None:
    from rollout.adapters.store import open_store
    from rollout.loadtest.record import loadtest_event

    with open_store(store_url, history_url) as store:
        store.record(loadtest_event(state, summary, verdict, budget, out, at, commit=commit,
                                    actor=actor))


def _make(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create it ({exc.strerror})") from None
    return out


def _first_error(summary: dict) -> str:
    errors = summary.get("errors") or []
    return errors[0]["error"] if errors else "no request completed"


def _judge(summary: dict, budget: dict, out: Path):
    from rollout.core.perfbudget import judge

    verdict = judge(budget, summary["overall"], summary["scenarios"])
    summary["budget"] = verdict.to_json()
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / "summary.json")
    return verdict

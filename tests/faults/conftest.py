"""Shared setup of the fault suite: a repository whose flag has been live at 5 % since
T0, traffic in its embedded store, and the outside receivers on 127.0.0.1.

Setup runs in-process (the real `rollout` main, in the repository's directory) to keep
the suite's CPU small; every behaviour under test runs as a real `rollout` subprocess.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from tests.cli import make_repo, rollout, set_percentage
from tests.receivers import ROUTING_KEY

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(hours=80)
FLAG = "skills_rollout"


def at(t: datetime) -> dict:
    return {"ROLLOUT_NOW": t.isoformat()}


def here(args: list[str], cwd: Path, env: dict | None = None) -> int:
    """`rollout ARGS` in this process, in `cwd` (setup steps only)."""
    from rollout.cli.main import main

    with contextlib.chdir(cwd), mock.patch.dict(os.environ, {"ROLLOUT_ACTOR": "setup", **(env or {})}):
        return main(args)


def make_live(repo: Path, store_args: list[str] = (), env: dict | None = None) -> Path:
    """The repository's flag applied at 0 % then 5 % at T0 (committed as two revisions)."""
    env = {**(env or {}), **at(T0)}
    assert here(["reconcile", *store_args], repo, env) == 0
    set_percentage(repo, 5)
    assert here(["reconcile", *store_args], repo, env) == 0
    return repo


def add_traffic(db: Path, canary_behaviour, start: datetime = NOW - timedelta(hours=1),
                n: int = 4000, seed: int = 1) -> None:
    """An hour of generated SkillExecution traffic at 5 %, straight into the events table."""
    from rollout.adapters.metrics.sqlite_events import insert_columns
    from rollout.drill import CONTROL, generate_columns

    cols = generate_columns(np.random.default_rng(seed), start, timedelta(hours=1), n, 5,
                            lambda c: canary_behaviour if c else CONTROL)
    insert_columns(db, cols)


def flag_row(db: Path, flag: str = FLAG):
    with contextlib.closing(sqlite3.connect(db)) as c:
        return c.execute("SELECT percentage FROM feature_flags WHERE name = ?", (flag,)).fetchone()


def history_kinds(db: Path, flag: str = FLAG) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as c:
        return [k for (k,) in c.execute("SELECT kind FROM rollout_history WHERE flag = ? "
                                        "ORDER BY id", (flag,))]


def one_clear_line(r, code: int) -> str:
    """The run exited `code` with a one-line error and no traceback; returns the line."""
    assert r.returncode == code, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path)


@pytest.fixture
def live(repo):
    return make_live(repo)


@pytest.fixture
def receivers(live):
    """Slack, PagerDuty and GitHub fakes, and the environment that points the CLI at them."""
    from tests.receivers import receivers as started

    with started(live, NOW) as found:
        yield found


__all__ = ["T0", "NOW", "FLAG", "at", "here", "make_live", "add_traffic", "flag_row",
           "history_kinds", "one_clear_line", "rollout"]

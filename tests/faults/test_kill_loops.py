"""Dying at any point: the controller's PostgreSQL session killed mid-command, and the CLI
itself killed (SIGKILL) at random points, in loops. After every trial the store agrees
with its history (no torn flag/history state, nothing applied twice), the command said
one line with a documented exit code, and the next command converges."""
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tests import pg
from tests.cli import set_percentage
from tests.faults.conftest import FLAG, NOW, at, make_live

ALLOWED = {0, 1, 3, 4}


def agrees(store) -> None:
    """The store serves what its history says, and no revision was aborted twice."""
    from rollout.core.drift import find_drift
    from rollout.core.state import ABORTED, RETRY

    applied, history = store.read(FLAG), store.history(FLAG)
    assert find_drift(applied, history, FLAG) is None, (applied, history[-3:])
    standing = set()
    for e in history:
        if e.kind == RETRY:
            standing.discard(e.revision)
        elif e.kind == ABORTED:
            assert e.revision not in standing, "the same revision aborted twice"
            standing.add(e.revision)


def trial_commands(i: int) -> list[list[str]]:
    """A new commit each trial (so an abort never blocks the next one), then a command."""
    return [["reconcile"], ["abort", FLAG, "--reason", f"trial {i}"], ["reconcile"],
            ["guard", "--once"]][i % 4:i % 4 + 1]


def run_and_kill(args, cwd, env, kill) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([sys.executable, "-m", "rollout", *args], cwd=cwd,
                            env={**os.environ, "ROLLOUT_ACTOR": "tester", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kill(proc)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def loop(repo, store_args, open_store, kill, trials, seed, env=None):
    rnd = random.Random(seed)
    killed = failed = 0
    for i in range(trials):
        set_percentage(repo, 5 if i % 2 else 0)      # a new revision every trial
        for args in trial_commands(i):
            r = run_and_kill([*args, *store_args], repo, {**at(NOW), **(env or {})},
                             lambda p: kill(p, rnd))
            killed += r.returncode < 0
            failed += r.returncode == 4
            assert r.returncode in ALLOWED or r.returncode == -signal.SIGKILL, \
                (i, args, r.returncode, r.stdout, r.stderr)
            assert "Traceback" not in r.stderr, r.stderr
            if r.returncode == 4:
                assert len(r.stderr.strip().splitlines()) == 1 and pg.PASSWORD not in r.stderr
        time.sleep(0.1)             # a write of a killed run still in flight lands first
        with open_store() as store:
            agrees(store)
    # and the next command converges: a clean reconcile leaves no drift, exit 0 or 1
    r = subprocess.run([sys.executable, "-m", "rollout", "reconcile", *store_args], cwd=repo,
                       env={**os.environ, **at(NOW), **(env or {})}, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    with open_store() as store:
        agrees(store)
    return killed, failed


def events(repo) -> dict:
    """The guard's metric source for a store that holds no events: a healthy hour."""
    from rollout.drill import CANARY
    from tests.faults.conftest import add_traffic

    add_traffic(repo / "events.db", CANARY)
    return {"ROLLOUT_METRICS": f"sqlite:///{repo}/events.db"}


# -- the PostgreSQL session killed mid-command ---------------------------------------------------

def pg_loop(repo, trials, seed):
    cluster = pg.cluster()
    url = cluster.create_database()
    dbname = url.rsplit("/", 1)[1]

    def kill(proc, rnd):
        """Once the command's session is up, kill it a random few milliseconds later:
        inside a read, a transaction, a commit, or between two of them."""
        import psycopg
        with psycopg.connect(cluster.admin_url, autocommit=True) as admin:
            mine = "FROM pg_stat_activity WHERE datname = %s AND application_name = 'rollout'"
            while proc.poll() is None and not admin.execute(f"SELECT 1 {mine}", (dbname,)).fetchone():
                time.sleep(0.002)
            time.sleep(rnd.uniform(0, 0.06))
            admin.execute(f"SELECT pg_terminate_backend(pid) {mine}", (dbname,))

    try:
        from rollout.adapters.store import open_store
        make_live(repo, ["--store", url])
        return loop(repo, ["--store", url], lambda: open_store(url), kill, trials, seed,
                    events(repo))[1]
    finally:
        cluster.drop_database(url)


def test_postgres_session_killed_mid_command_short(repo):
    pg_loop(repo, trials=3, seed=1)


@pytest.mark.slow
def test_postgres_session_killed_mid_command_100_times(repo):
    failed = pg_loop(repo, trials=100, seed=2)
    assert failed >= 20          # the kill landed inside many commands (each: one line, exit 4)


# -- the CLI killed at random points ---------------------------------------------------------------

def sigkill_at_random(proc, rnd):
    time.sleep(rnd.uniform(0.05, 0.6))
    proc.send_signal(signal.SIGKILL)


def cli_loop(repo, backend, trials, seed, tmp_path):
    from rollout.adapters.store import open_store

    if backend == "sqlite":
        url = f"sqlite:///{repo}/.rollout/flags.db"
        make_live(repo)
        return loop(repo, [], lambda: open_store(url), sigkill_at_random, trials, seed)
    from rollout.adapters.store.http import HTTPStore
    from tests.fakes.flagapi import FakeFlagAPI

    hist = f"sqlite:///{tmp_path}/history.db"
    with FakeFlagAPI(token="kill-loop-token") as api:
        args = ["--store", api.base_url, "--history", hist]
        env = {"ROLLOUT_HTTP_TOKEN": "kill-loop-token", **events(repo)}
        make_live(repo, args, env)
        return loop(repo, args, lambda: HTTPStore(api.base_url, hist, token="kill-loop-token"),
                    sigkill_at_random, trials, seed, env)


@pytest.mark.parametrize("backend", ["sqlite", "http"])
def test_cli_killed_at_random_points_short(repo, tmp_path, backend):
    cli_loop(repo, backend, trials=3, seed=3, tmp_path=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "http"])
def test_cli_killed_at_random_points_many(repo, tmp_path, backend):
    killed, _ = cli_loop(repo, backend, trials=60, seed=4, tmp_path=tmp_path)
    assert killed >= 10          # the loop really killed runs at many points

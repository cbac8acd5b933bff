"""From a New Relic webhook's arrival to the flag at 0 %, through `rollout serve`.

A real `rollout serve` process (SQLite store, fake NerdGraph on 127.0.0.1 whose canary
fails a fifth of its requests) receives `POST /hooks/newrelic`; the clock runs from just
before the request is sent until a separate SQLite connection reads percentage 0. Between
runs the flag is put back at 5 % directly in the store. Target (issue 11): p95 <= 1 s
over >= 50 runs.

For comparison it also times the timed loop with a short interval (the breach starts at
a random moment; the loop finds it at its next look), which scales to production's
--interval 60 as interval/2 on average and one interval at worst.

    python bench/hook_latency.py [--runs 50] [--loop-runs 10]
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.newrelic import FakeNerdGraph  # noqa: E402
from tests.serve_proc import Served, live_repo, traffic  # noqa: E402

FLAG = "skills_rollout"


def reset(db_path: Path, now) -> None:
    """The flag back at 5 %, as a reconcile after `rollout retry` would leave it."""
    from rollout.adapters.store import open_store
    from rollout.core.state import APPLIED, Event

    with open_store(f"sqlite:///{db_path}") as store:
        applied = store.read(FLAG)
        store.apply(FLAG, 5, applied.version, Event(flag=FLAG, at=now, kind=APPLIED,
                                                     from_pct=applied.percentage, to_pct=5,
                                                     reasons=("bench: back to 5%",),
                                                     actor="bench"))


def wait_for_zero(db: sqlite3.Connection, timeout: float = 30) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if db.execute("SELECT percentage FROM feature_flags WHERE name = ?",
                      (FLAG,)).fetchone()[0] == 0:
            return time.perf_counter()
        time.sleep(0.001)
    raise SystemExit("the flag never reached 0 %")


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def show(name: str, ms: list[float], target: str = "") -> None:
    print(f"{name:34s} runs {len(ms):3d}  p50 {statistics.median(ms):7.1f} ms  "
          f"p95 {pct(ms, 95):7.1f} ms  max {max(ms):7.1f} ms  {target}")


def hook_runs(repo: Path, env: dict, metrics: str, now, runs: int) -> None:
    db_path = repo / ".rollout/flags.db"
    with Served(repo, env, "--metrics", metrics, "--interval", "3600") as srv:
        srv.wait_until(lambda h: h["last_evaluation"] is not None)
        db = sqlite3.connect(db_path)
        wall = []
        for i in range(runs):
            reset(db_path, now)
            time.sleep(1.05)                 # the webhook's rate limit: 1 call a second
            start = time.perf_counter()
            code, _, _ = srv.post_hook({"state": "ACTIVATED", "title": "High Skill Error Rate"})
            assert code == 202, code
            wall.append((wait_for_zero(db) - start) * 1000)
        srv.wait_until(lambda h: not h["evaluating"])
        evaluations = [e["duration_ms"] for e in srv.events("evaluation")
                       if e["action"] == "rolled_back" and e["trigger"] == "hook"]
    show("webhook -> flag at 0 %", wall, "(target p95 <= 1000 ms)")
    show("  the whole evaluation (server side)", evaluations)


def loop_runs(repo: Path, env: dict, nr, metrics: str, now, runs: int, interval: float) -> None:
    db_path = repo / ".rollout/flags.db"
    nr.events = traffic(now)
    reset(db_path, now)
    with Served(repo, env, "--metrics", metrics, "--interval", str(interval)) as srv:
        db = sqlite3.connect(db_path)
        rng, took = random.Random(5), []
        for _ in range(runs):
            srv.wait_until(lambda h: h["last_evaluation"] is not None)
            time.sleep(rng.uniform(0, interval))
            start = time.perf_counter()
            nr.events = traffic(now, faulty=True)          # the breach begins
            took.append((wait_for_zero(db) - start) * 1000)
            nr.events = traffic(now)
            reset(db_path, now)
    show(f"breach -> 0 % by the loop ({interval:g} s)", took,
         f"(production --interval 60: ~{60 / 2:.0f} s on average, <= 60 s + evaluation)")


def cli_runs(repo: Path, env: dict, metrics: str, now, runs: int) -> None:
    """`rollout guard --once`, the command the cron backup runs, from process start to exit
    (without the runner's checkout and install, which take ~30-60 s on GitHub)."""
    import os
    import subprocess

    took = []
    for _ in range(runs):
        reset(repo / ".rollout/flags.db", now)
        start = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "rollout", "guard", "--once", "--metrics",
                            metrics], cwd=repo, env={**os.environ, **env}, capture_output=True)
        took.append((time.perf_counter() - start) * 1000)
        assert r.returncode == 3, r.stderr
    show("rollout guard --once (cron's run)", took, "(+ schedule delay + runner install)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--loop-runs", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo, now = live_repo(Path(tmp))
        with FakeNerdGraph(traffic(now, faulty=True)) as nr:
            from tests.fakes.newrelic import API_KEY

            env = {"ROLLOUT_NOW": now.isoformat(), "NEW_RELIC_API_KEY": API_KEY,
                   "NEW_RELIC_API_URL": nr.url}
            metrics = f"newrelic://{nr.account_id}"
            hook_runs(repo, env, metrics, now, args.runs)
            cli_runs(repo, env, metrics, now, 5)
            if args.loop_runs:
                loop_runs(repo, env, nr, metrics, now, args.loop_runs, interval=2.0)


if __name__ == "__main__":
    main()

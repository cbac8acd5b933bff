"""How much load this machine's generator sustains, and how many Locust worker processes
the seed's profile needs (issue 12).

Runs the real worker (python -m rollout.loadtest.worker, Locust's FastHttpUser, the seed's
5 s pacing and scenarios) at fixed rates against the fake skills service in a process of
its own, and measures the worker's CPU time (user + system, from the kernel's rusage).
Rates: the seed's 1,000 requests/minute (16.7/s), its sustained 100/s and its spike 200/s.
Target: 1,000 requests/minute sustained. A worker is taken as full at 70 % of one core
(Locust itself warns at 90 %), so the seed's peak needs ceil(peak x CPU per request / 0.7)
processes.

    python bench/loadtest_capacity.py [--seconds 20]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rollout.loadtest.profiles import SEED, Phase, Profile  # noqa: E402

FULL = 0.70          # share of one core a worker may use before it is "full"
LATENCY = 0.2        # the fake service's answer time, seconds
SERVE = """
import sys, time
sys.path.insert(0, {root!r})
from tests.fakes.skills_service import FakeSkillsService
svc = FakeSkillsService(latency={latency}, keep_requests=False).start()
print(svc.base_url, flush=True)
sys.stdin.read()          # until the benchmark closes it
print(svc.count, flush=True)
"""


def run(target: str, rate: float, seconds: float) -> dict:
    profile = Profile(f"bench-{rate:g}", (Phase("fixed", seconds, rate),), pacing=SEED.pacing)
    with tempfile.TemporaryDirectory() as out:
        job = {"target": target, "profile": profile.to_json(), "out": out, "progress": 60}
        proc = subprocess.Popen([sys.executable, "-m", "rollout.loadtest.worker"], cwd=ROOT,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        started = time.monotonic()
        proc.stdin.write(json.dumps(job))
        proc.stdin.close()
        proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        summary = json.loads((Path(out) / "summary.json").read_text())
    assert proc.returncode == 0, proc.returncode
    [phase] = summary["phases"]
    cpu = usage.ru_utime + usage.ru_stime
    return {"rate": rate, "achieved": phase["rps"], "requests": summary["overall"]["requests"],
            "failures": summary["overall"]["failures"], "p95": summary["overall"]["p95_ms"],
            "cpu_s": cpu, "wall_s": wall, "users": profile.users_for(rate),
            "max_in_flight": summary["generator"]["max_in_flight"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each run (default 20)")
    args = ap.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVE.format(root=str(ROOT), latency=LATENCY)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        target = server.stdout.readline().strip()
        results = [run(target, rate, args.seconds) for rate in (1000 / 60, 100, 200)]
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    print(f"load generator against the fake skills service ({LATENCY * 1000:.0f} ms answers), "
          f"{args.seconds:g} s per rate, one worker process, seed pacing {SEED.pacing:g} s")
    print(f"{'target':>12}  {'achieved':>9}  {'users':>5}  {'requests':>8}  {'failed':>6}  "
          f"{'p95':>7}  {'CPU':>6}  {'CPU/request':>11}")
    for r in results:
        # the worker's CPU includes its start (imports) and the HTML report: a fixed cost
        per_req = r["cpu_s"] / max(r["requests"], 1)
        print(f"{r['rate']:>10.1f}/s  {r['achieved']:>7.1f}/s  {r['users']:>5}  {r['requests']:>8,}  "
              f"{r['failures']:>6}  {r['p95'] or 0:>4} ms  {r['cpu_s'] / r['wall_s'] * 100:>5.1f}%  "
              f"{per_req * 1000:>8.2f} ms")
    sustained = results[0]
    print(f"the seed's 1,000 requests/minute: {sustained['achieved'] * 60:,.0f}/minute achieved "
          f"({'met' if sustained['achieved'] >= 0.95 * sustained['rate'] else 'NOT met'})")
    busiest = results[-1]
    fixed = results[0]["cpu_s"] - results[0]["requests"] * (
        (busiest["cpu_s"] - results[0]["cpu_s"]) / max(busiest["requests"] - results[0]["requests"], 1))
    marginal = (busiest["cpu_s"] - results[0]["cpu_s"]) / max(busiest["requests"] - results[0]["requests"], 1)
    peak_share = SEED.peak_rate * marginal
    print(f"CPU per request (marginal, 16.7/s -> 200/s): {marginal * 1000:.2f} ms; start-up and "
          f"report: {max(fixed, 0):.2f} s")
    print(f"one worker's ceiling, extrapolated: ~{FULL / marginal:,.0f} requests/s at "
          f"{FULL * 100:.0f} % of a core (plain HTTP; TLS to a real staging costs more)")
    print(f"the seed's spike ({SEED.peak_rate:g}/s, {SEED.peak_users:,} users) needs "
          f"{peak_share * 100:.0f} % of a core: {max(1, math.ceil(peak_share / FULL))} worker "
          f"process(es) at <= {FULL * 100:.0f} % of a core each")


if __name__ == "__main__":
    main()

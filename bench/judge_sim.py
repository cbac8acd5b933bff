"""Monte-Carlo of whole rollouts against the project's real judge (issue 9).

A rollout is the playbook's ladder: 5 % for 72 h, 25 % for 168 h, 100 % for 48 h, the
guard looking every 5 minutes, Poisson traffic at 0.1x, 1x and 10x the playbook's
10,000 requests a day (bench/simtraffic.py: a healthy canary equals control on errors
and latency, the drill's numbers). At each step the rollback charts run through the
real rollout/core/cusum.py functions over all runs at once (setup, increments, path: the
functions evaluate() calls), which gives the first look where a chart crosses; the real
evaluate() is then called on Observations shaped as the sources produce them (tallies on
the judge's bucket layout) at that look and the look before, to confirm it, and at every
step-up decision: at the soak's end, then every 12 h through the playbook's 48 h hold
extension; a step still held after it stops the rollout (a person decides).

    python bench/judge_sim.py              the table (minutes)
    python bench/judge_sim.py --quick      few runs, for CI: the mechanics
    python bench/judge_sim.py --calibrate  the CUSUM thresholds h for the catalog's budgets
    python bench/judge_sim.py --curve      what the hold budget costs in detection time
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rollout.core import cusum  # noqa: E402
from rollout.core.catalog import load_catalog  # noqa: E402
from rollout.core.tallies import sum_tallies  # noqa: E402
from rollout.core.gate import ROLLBACK, evaluate, soak_check  # noqa: E402
from simtraffic import CANARY, CONTROL, CVS, generate, with_p95  # noqa: E402
from tests.judge_obs import observations  # noqa: E402

CATALOG = load_catalog()
DAILY = 10_000
LEVELS = (0.1, 1.0, 10.0)
LADDER = (("canary", 5, 72), ("beta", 25, 168), ("full", 100, 48))
EXTENSION_H, RECHECK_H = 48, 12         # 003: "extend canary monitoring for 48 more hours"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
SERVICE = {"service_health": 3.0, "memory_usage": 60.0}     # a healthy service, always
RAN = {"service_health": 9.0}

FAULTS = {                              # name -> (canary behaviour after onset, steps)
    "error 6 %": (replace(CANARY, error=6.0), ("canary", "beta")),
    "error 10 %": (replace(CANARY, error=10.0), ("canary", "beta")),
    "error 30 %": (replace(CANARY, error=30.0), ("canary", "beta")),
    "error 50 %": (replace(CANARY, error=50.0), ("canary", "beta")),
    "p95 12 s": (with_p95(CANARY, 12000), ("canary", "beta")),
    "savings 25 %": (replace(CANARY, cost=0.75 * CONTROL.cost), ("beta",)),
}
HOLDS = {
    "error 3 %": (replace(CANARY, error=3.0), ("canary", "beta")),
    "p95 7 s": (with_p95(CANARY, 7000), ("canary", "beta")),
}


@dataclass
class Run:
    """One rollout's outcome (hours from the rollout's start)."""

    onset: float | None = None
    rolled_back: float | None = None
    held_at: str | None = None          # the step a hold ended the rollout at
    alerted: float | None = None        # first SEV3 hold alert (sampled runs)
    proceeded: list = field(default_factory=list)   # (step, hours late)
    disagreements: int = 0


def charts(step: str) -> list[tuple[str, cusum.Setup]]:
    """(label, setup) of every rollback chart at `step`, label "metric line"."""
    out = []
    for m in CATALOG.gated(step):
        for c in m.cusum:
            s = cusum.setup(m, c, step, CATALOG)
            if isinstance(s, cusum.Setup):
                out.append((f"{m.name} {c.line}", s))
    return out


def statistic(s: cusum.Setup, tr) -> np.ndarray:
    """Per run and look, the highest S of the step so far (what "crossed anywhere in the
    step" reads), through the judge's own functions. A ratio chart's scale follows the
    costs' spread over the step at each look, as the judge estimates it."""
    can, ctl = tr.canary, tr.control
    if s.kind == "bernoulli":
        return np.maximum.accumulate(
            cusum.path(cusum.bernoulli_increments(s, can["requests"], can[s.key])), axis=1)
    total, present = (t.key for t in sum_tallies(s.field))
    x = cusum.ratio_increments(s, can[total], can[present], ctl[total], ctl[present])
    mean, sd = tr.canary_spread(s.field)
    cv = np.maximum(sd / np.where(mean > 0, mean, np.inf), CVS[s.field])   # max(canary, control), as _cv()
    return cusum.ratio_scale(s, cv) * np.maximum.accumulate(cusum.path(x), axis=1)


def first_crossing(step: str, tr) -> np.ndarray:
    """Per run, the first bucket where a rollback chart of the step reaches h (inf: none)."""
    best = np.full(tr.canary["requests"].shape[0], np.inf)
    for _, s in charts(step):
        if s.holds:
            continue
        hit = statistic(s, tr) >= s.h
        best = np.minimum(best, np.where(hit.any(axis=1), hit.argmax(axis=1), np.inf))
    return best


def judge_at(step: str, tr, r: int, looks: int, soak_looks: int, faulty):
    """The real evaluate() on run r's first `looks` buckets of the step."""
    can_b = faulty if faulty is not None and tr.onset[r] < looks else CANARY
    fine = {c: {k: v[r, :looks] for k, v in getattr(tr, c).items()} for c in ("canary", "control")}
    obs = observations(CATALOG, T0, T0 + timedelta(minutes=5 * looks), fine,
                       {"canary": can_b.values(), "control": CONTROL.values()},
                       tr.spreads(r, looks), service=SERVICE, ran=RAN)
    return evaluate(CATALOG, step, obs, soak=soak_check(looks >= soak_looks, "simulated soak"))


TOLERANCE = 12      # looks: the real judge's coarse buckets before the last day may move
                    # a crossing by a few looks; more than an hour would be a disagreement


def confirm_rollback(step, tr, r, look, last, soak_looks, faulty, run: Run) -> int | None:
    """The first look where the real evaluate() rolls back, searched from the charts'
    candidate (backwards while it already does, else forwards); the rollout takes the
    real judge's look, and a shift beyond TOLERANCE counts as a disagreement."""
    said = lambda at: judge_at(step, tr, r, at, soak_looks, faulty).verdict == ROLLBACK
    at = look
    if said(at):
        while at > 1 and look - at < 3 * TOLERANCE and said(at - 1):
            at -= 1
    else:
        at = next((x for x in range(look + 1, min(last, look + 3 * TOLERANCE) + 1) if said(x)), None)
    run.disagreements += at is None or abs(at - look) > TOLERANCE
    return at


def step_up(step, tr, r, soak_looks, cross, faulty) -> tuple[str, int]:
    """("proceed" | "rollback" | "held", look) at the soak's end and through the extension."""
    for k in range(EXTENSION_H // RECHECK_H + 1):
        look = soak_looks + k * RECHECK_H * 12
        if cross < look:
            return "rollback", int(cross) + 1
        verdict = judge_at(step, tr, r, look, soak_looks, faulty).verdict
        if verdict != "hold":
            return verdict, look
    return "held", look


def first_alert(step, tr, r, lo, hi, soak_looks, faulty) -> int | None:
    """The first hourly look in [lo, hi] where evaluate() raises a SEV3 hold alert, by
    bisection: for a sustained fault the evidence only tightens."""
    grid = list(range(lo + (-(lo) % 12), hi + 1, 12)) or [hi]
    if not judge_at(step, tr, r, grid[-1], soak_looks, faulty).alerts:
        return None
    a, b = 0, len(grid) - 1
    while a < b:
        mid = (a + b) // 2
        if judge_at(step, tr, r, grid[mid], soak_looks, faulty).alerts:
            b = mid
        else:
            a = mid + 1
    return grid[a]


def simulate(rng, level: float, runs: int, fault=None, alert_sample: int = 0, chunk=100):
    """Whole rollouts at `level` x the playbook's traffic; fault = (behaviour, onset step)."""
    out = []
    for first in range(0, runs, chunk):
        n = min(chunk, runs - first)
        out += _simulate_chunk(rng, level, n, fault, max(0, alert_sample - first))
    return out


def _simulate_chunk(rng, level, runs, fault, alert_sample):
    behaviour, fault_step = fault if fault else (None, None)
    out = [Run() for _ in range(runs)]
    start, alive, started = np.zeros(runs), np.ones(runs, bool), False
    for i, (step, pct, soak) in enumerate(LADDER):
        idx = np.flatnonzero(alive)
        if not len(idx):
            break
        last = i == len(LADDER) - 1
        soak_looks, looks = soak * 12, (soak + (0 if last else EXTENSION_H)) * 12
        onset = None
        if behaviour is not None and (started or step == fault_step):
            onset = np.zeros(len(idx), int) if started else rng.integers(0, soak_looks, len(idx))
            for j, r in enumerate(idx):
                if not started:
                    out[r].onset = start[r] + onset[j] / 12
            started = True
        faulty = behaviour if onset is not None else None
        tr = generate(rng, CATALOG, len(idx), looks, DAILY * level / 24, pct, faulty, onset)
        cross = first_crossing(step, tr)
        for j, r in enumerate(idx):
            run = out[r]
            if last:
                verdict, look = ("rollback", int(cross[j]) + 1) if cross[j] < looks else ("done", looks)
            else:
                verdict, look = step_up(step, tr, j, soak_looks, cross[j], faulty)
            if verdict == "rollback":
                look = confirm_rollback(step, tr, j, look, looks, soak_looks, faulty, run)
            if onset is not None and r < alert_sample and step == fault_step:
                at = first_alert(step, tr, j, int(onset[j]) + 1, look or looks, soak_looks, faulty)
                run.alerted = None if at is None else start[r] + at / 12
            if verdict == "rollback" and look is not None:
                run.rolled_back, alive[r] = start[r] + look / 12, False
            elif verdict in ("held", "rollback"):      # an unconfirmed rollback: counted held
                run.held_at, alive[r] = step, False
            elif verdict == "proceed":
                run.proceeded.append((step, (look - soak_looks) / 12))
                start[r] += look / 12
    return out


# -- statistics and the table -------------------------------------------------------------------

def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - half) / (1 + z * z / n)), min(1.0, (centre + half) / (1 + z * z / n))


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def quantile(xs, q):
    """The q-quantile of sorted values that may end in inf (never rolled back)."""
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]


def healthy_rows(rng, runs, levels=LEVELS):
    print(f"\nHealthy rollouts (canary = control on errors and latency), {runs} per level")
    print(f"{'traffic':>8} {'rolled back':>12} {'95 % CI':>14} {'reached 100 %':>14} "
          f"{'held (stopped)':>15} {'judge checks':>13}")
    rows = {}
    for level in levels:
        res = simulate(rng, level, runs)
        k = sum(r.rolled_back is not None for r in res)
        lo, hi = wilson(k, runs)
        full = sum(len(r.proceeded) == 2 and r.rolled_back is None for r in res)
        held = {s: sum(r.held_at == s for r in res) for s, _, _ in LADDER}
        bad = sum(r.disagreements for r in res)
        print(f"{level:>7g}x {k:>5}/{runs:<6} {pct(lo):>6}–{pct(hi):<7} {pct(full / runs):>14} "
              f"{', '.join(f'{s} {v}' for s, v in held.items() if v) or '0':>15} "
              f"{'ok' if not bad else f'{bad} differ':>13}")
        rows[level] = (k, runs, hi, full, bad)
    return rows


def scenarios(faults, levels):
    """(name, behaviour, onset step, level) of every fault, step and traffic level."""
    for name, (behaviour, steps) in faults.items():
        for step in steps:
            for level in levels:
                yield name, behaviour, step, level


def fault_rows(rng, runs, faults, levels):
    print(f"\nFaults, onset at a uniformly random time of the step; hours from onset to "
          f"rollback, {runs} runs each")
    print(f"{'fault':<13} {'step':<7} {'traffic':>7} {'median':>7} {'p90':>7} "
          f"{'missed 24 h':>12} {'never':>6} {'runs':>6}")
    out = {}
    for name, behaviour, step, level in scenarios(faults, levels):
        res = [r for r in simulate(rng, level, runs, (behaviour, step)) if r.onset is not None]
        allx = sorted(r.rolled_back - r.onset if r.rolled_back is not None else math.inf
                      for r in res)
        med, p90 = quantile(allx, 0.5), quantile(allx, 0.9)
        missed = sum(d > 24 for d in allx) / max(len(allx), 1)
        print(f"{name:<13} {step:<7} {level:>6g}x {med:>7.2f} {p90:>7.2f} "
              f"{pct(missed):>12} {sum(d == math.inf for d in allx):>6} {len(res):>6}")
        out[(name, step, level)] = (med, p90, missed, sum(r.disagreements for r in res))
    return out


def hold_rows(rng, runs, levels, sample, holds=HOLDS):
    print(f"\nHold-band faults (003: hold and investigate, never roll back), {runs} runs each; "
          f"SEV3 alert timing on {sample} runs")
    print(f"{'fault':<10} {'step':<7} {'traffic':>7} {'rolled back':>12} {'held at step':>13} "
          f"{'alerted':>8} {'median h':>9}")
    out = {}
    for name, behaviour, step, level in scenarios(holds, levels):
        res = simulate(rng, level, runs, (behaviour, step), alert_sample=sample)
        k = sum(r.rolled_back is not None for r in res)
        held = sum(r.held_at == step for r in res)
        timed = [r.alerted - r.onset for r in res[:sample] if r.alerted is not None]
        med = statistics.median(timed) if timed else float("nan")
        print(f"{name:<10} {step:<7} {level:>6g}x {k:>5}/{runs:<6} "
              f"{pct(held / runs):>13} {len(timed):>3}/{sample:<4} {med:>9.1f}")
        out[(name, step, level)] = (k, held, len(timed))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few runs: the mechanics, for CI")
    ap.add_argument("--calibrate", action="store_true", help="print the thresholds h")
    ap.add_argument("--curve", action="store_true",
                    help="what the hold budget costs: error thresholds scaled down, at 1x")
    ap.add_argument("--runs", type=int, help="healthy rollouts per traffic level")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    t = time.perf_counter()
    if args.calibrate or args.curve:
        from simcalibrate import calibrate, curve

        (curve if args.curve else calibrate)(rng, args.runs or (400 if args.curve else 2000))
        print(f"\n{time.perf_counter() - t:.0f} s")
        return 0
    print(f"judge: {CATALOG.judge.method}, budgets: false rollback "
          f"{CATALOG.judge.false_rollback_budget:g}, hold {CATALOG.judge.hold_rollback_budget:g}")
    if args.quick:
        quick(rng)
    else:
        healthy_rows(rng, args.runs or 500)
        fault_rows(rng, 300, FAULTS, LEVELS)
        hold_rows(rng, 300, LEVELS, 60)
    print(f"\n{time.perf_counter() - t:.0f} s")
    return 0


def quick(rng) -> dict:
    """A few runs of each kind at 1x: enough to show the mechanics (CI), not the rates."""
    some = {k: FAULTS[k] for k in ("error 30 %", "p95 12 s", "savings 25 %")}
    return {"healthy": healthy_rows(rng, 12, (1.0,)),
            "faults": fault_rows(rng, 8, {k: (b, s[-1:]) for k, (b, s) in some.items()}, (1.0,)),
            "holds": hold_rows(rng, 8, (1.0,), 2, {"error 3 %": HOLDS["error 3 %"]})}


if __name__ == "__main__":
    sys.exit(main())

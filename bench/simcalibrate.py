"""Calibration of the judge's CUSUM thresholds h (python bench/judge_sim.py --calibrate).

Each chart must keep its crossing share within the catalog's budgets in the scenarios
that could set it off, over whole simulated rollouts at 0.1x, 1x and 10x traffic, run
through the judge's own chart functions (bench/judge_sim.py: charts, statistic):
healthy rollouts (false_rollback_budget, false_alert_budget for hold charts), canaries
parked mid hold band or at a chart's in-control level (hold_rollback_budget), and a hold
chart's in-control level (false_alert_budget). A scenario's budget is shared equally by
the charts it can set off; h is the smallest multiple of 0.5 that passes them all.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from judge_sim import CATALOG, DAILY, EXTENSION_H, HOLDS, LADDER, LEVELS, charts, statistic
from simtraffic import CANARY, CONTROL, generate, with_p95

# Per chart's metric, the canaries that must not roll back: parked mid hold band (003), or
# at the chart's in-control level where that is worse for it. Their rollback share over the
# exposure (onset to the step's end plus the hold extension) is held to hold_rollback_budget.
# Hold charts instead must not alert on a canary at their in-control level (false_alert_budget).
ALERT_FREE_AT = [
    ("skill_error_rate", "error 1 % (003 baseline)", replace(CANARY, error=1.0)),
    ("p95_response_time", "p99 5 s", with_p95(CANARY, 5000 * math.exp(
        (1.6448536269514722 - 2.3263478740408408) * 0.45))),
]
CALIBRATE_AT = [
    ("skill_error_rate", "error 3 %", HOLDS["error 3 %"][0]),
    ("p95_response_time", "p95 7 s", HOLDS["p95 7 s"][0]),
    ("p95_response_time", "p99 10 s (002)", with_p95(CANARY, 10000 * math.exp(
        (1.6448536269514722 - 2.3263478740408408) * 0.45))),
    ("cost_savings", "savings 32.5 %", replace(CANARY, cost=(1 - 0.325) * CONTROL.cost)),
    ("cost_per_request", "cost = control", replace(CANARY, cost=CONTROL.cost)),
]


def peaks(rng, level, runs, behaviour=None, step_of_onset=None, chunk=250) -> dict[str, np.ndarray]:
    """Per chart, each run's highest statistic: over the whole healthy rollout, or from a
    fault's onset to the rollout's end (a late onset may pass a step's decision unseen,
    so the fault is assumed to go on through every later step, each with its extension)."""
    parts = [_peaks(rng, level, min(chunk, runs - i), behaviour, step_of_onset)
             for i in range(0, runs, chunk)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _peaks(rng, level, runs, behaviour, step_of_onset) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    names = [step for step, _, _ in LADDER]
    first = names.index(step_of_onset) if step_of_onset else 0
    for i, (step, pct, soak) in enumerate(LADDER):
        if i < first:
            continue
        looks = soak * 12 + (EXTENSION_H * 12 if behaviour is not None else 0)
        onset = None if behaviour is None else \
            rng.integers(0, soak * 12, runs) if i == first else np.zeros(runs, int)
        tr = generate(rng, CATALOG, runs, looks, DAILY * level / 24, pct, behaviour, onset)
        after = np.arange(looks)[None, :] >= (onset[:, None] if onset is not None else 0)
        for label, s in charts(step):
            top = np.where(after, statistic(s, tr), 0.0).max(axis=1)
            out[label] = np.maximum(out.get(label, 0.0), top)
    return out


def calibrate(rng, runs: int) -> None:
    """The smallest h per chart that keeps every scenario within its budget, the budget
    of a scenario shared equally by the charts it can set off."""
    judge = CATALOG.judge
    roles = {label: s.holds for step, _, _ in LADDER for label, s in charts(step)}
    labels = sorted(roles)
    need = {label: (0.0, "") for label in labels}

    def account(found: dict, holds: bool, budget: float, what: str, metric=None):
        mine = {k: v for k, v in found.items() if roles[k] == holds
                and (metric is None or k.split()[0] == metric)}
        for label, tops in mine.items():
            h = float(np.quantile(tops, 1 - budget / len(mine)))
            if h > need[label][0]:
                need[label] = (h, what)

    for level in LEVELS:
        found = peaks(rng, level, runs)
        account(found, False, judge.false_rollback_budget, f"healthy {level:g}x")
        account(found, True, judge.false_alert_budget, f"healthy {level:g}x")
        for metric, name, behaviour in CALIBRATE_AT + ALERT_FREE_AT:
            holds = (metric, name, behaviour) in ALERT_FREE_AT
            budget = judge.false_alert_budget if holds else judge.hold_rollback_budget
            for step in ("canary", "beta"):
                account(peaks(rng, level, runs, behaviour, step), holds, budget,
                        f"{name} at {step} {level:g}x", metric)
    print(f"CUSUM thresholds for false_rollback_budget {judge.false_rollback_budget:g}, "
          f"hold_rollback_budget {judge.hold_rollback_budget:g} and false_alert_budget "
          f"{judge.false_alert_budget:g} ({runs} runs per scenario)")
    current = {f"{m.name} {c.line}": c.h for m in CATALOG.metrics.values() for c in m.cusum}
    for label in labels:
        h, what = need[label]
        print(f"  {label:<32} h >= {math.ceil(h * 2) / 2:5.1f}   (catalog {current[label]:g}; "
              f"bound by {what or 'nothing'})")


def curve(rng, runs: int, scales=(0.4, 0.6, 0.8, 1.0)) -> None:
    """The price of the hold budget at 1x: the error charts' thresholds scaled down, the
    share of canaries parked at 3 % errors rolled back (onset in the canary, exposure to
    the rollout's end) against the median hours to roll back 10 % and 30 % errors."""
    errors = [(label, s) for label, s in charts("canary")
              if label.startswith("skill_error_rate") and not s.holds]
    print(f"error charts' h scaled, 1x, {runs} runs: hold-band 3 % rolled back | median hours "
          f"from onset to rollback, canary 10 % / 30 %")
    parked = peaks(rng, 1.0, runs, HOLDS["error 3 %"][0], "canary")
    onset = rng.integers(0, 72 * 12, runs)
    delays = {}
    for p in (10.0, 30.0):
        tr = generate(rng, CATALOG, runs, 120 * 12, DAILY / 24, 5, replace(CANARY, error=p), onset)
        delays[p] = {label: statistic(s, tr) for label, s in errors}
    for k in scales:
        rolled = np.zeros(runs, bool)
        for label, s in errors:
            rolled |= parked[label] >= k * s.h
        medians = []
        for p in (10.0, 30.0):
            first = np.full(runs, np.inf)
            for label, s in errors:
                hit = delays[p][label] >= k * s.h
                first = np.minimum(first, np.where(hit.any(axis=1), hit.argmax(axis=1), np.inf))
            medians.append(float(np.median((first + 1 - onset) / 12)))
        print(f"  h x {k:.1f} ({', '.join(f'{k * s.h:.1f}' for _, s in errors)}): "
              f"{100 * rolled.mean():5.1f} % | {medians[0]:5.2f} h / {medians[1]:4.2f} h")

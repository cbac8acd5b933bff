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
    fault's onset to its step's end plus the hold extension."""
    parts = [_peaks(rng, level, min(chunk, runs - i), behaviour, step_of_onset)
             for i in range(0, runs, chunk)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _peaks(rng, level, runs, behaviour, step_of_onset) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for step, pct, soak in LADDER:
        if step_of_onset not in (None, step):
            continue
        looks = soak * 12 + (EXTENSION_H * 12 if behaviour is not None else 0)
        onset = rng.integers(0, soak * 12, runs) if behaviour is not None else None
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

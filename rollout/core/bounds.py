"""Each metric's confidence-sequence evidence, in the metric's own terms.

target(): bounds on the quantity a step's target speaks of, and that target restated on
the same quantity: a percentage metric's share, the share of requests beyond a
percentile's line (p95 < 5000 ms <=> fewer than 5 % of requests slower than 5000 ms), an
average, the cost savings of the canary against control. versus_control(): bounds on
canary minus control. Both read the step's totals (the sums of its buckets) and the
standard deviations, never a raw ratio of a thin window.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from rollout.core.catalog import Condition
from rollout.core.tallies import REQUESTS, beyond_tally, carried_tally, percentage_tally, sum_tallies
from rollout.core.stats import PRIOR_REQUESTS, normal_bounds, proportion_bounds


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float
    what: str                   # the quantity, in words, when it is not the metric itself
    unit: str                   # percent, ms, usd

    def inside(self, cond: Condition) -> bool:
        """The whole interval meets `cond` (a half-line): evidence it holds."""
        return cond.met(self.low) and cond.met(self.high)

    def outside(self, cond: Condition) -> bool:
        """No point of the interval meets `cond`: evidence it fails."""
        return not cond.met(self.low) and not cond.met(self.high)


def _share(k: float, n: float, alpha: float, what: str) -> Bounds:
    lo, hi = proportion_bounds(k, n, alpha)
    return Bounds(100 * lo, 100 * hi, what, "percent")


def _mean(cohort, field: str):
    """(mean, variance of the mean, standard deviation, n) of a field, or None."""
    total, present = sum_tallies(field)
    n, sd = cohort.counts.get(present.key, 0), cohort.spreads.get(field)
    if not n or sd is None or sd <= 0:
        return None
    return cohort.counts[total.key] / n, sd * sd / n, sd, n


def target(m, step, obs, catalog, alpha) -> tuple[Bounds, Condition] | str:
    """Bounds and the target on the same quantity, or why there is no evidence yet."""
    cond = m.thresholds_for(step).get("target")
    can = obs.cohort("canary") if obs else None
    if cond is None or cond.op == "..":
        return "no target"
    if can is None or not can.counts.get(REQUESTS.key):
        return "no canary requests in the step yet"
    kind = next(iter(m.aggregate)) if m.aggregate else None
    n = can.counts[REQUESTS.key]
    if kind == "percentage":
        k = can.counts.get(percentage_tally(m).key, 0)
        n = can.counts.get(carried_tally(m, catalog).key, 0)
        if not n:
            return f"no canary request carries {m.attribute} yet"
        return _share(k, n, alpha, ""), cond
    if kind == "percentile":
        p = m.aggregate["percentile"]["p"]
        if cond.op not in ("<", "<="):
            return f"no evidence method for a percentile target {cond}"
        k = can.counts.get(beyond_tally(m, cond.value).key, 0)
        return (_share(k, n, alpha, f"share of canary requests slower than {cond.value:g} {m.unit}"),
                Condition("<", 100 - p))
    if kind == "average":
        got = _mean(can, m.aggregate["average"])
        if got is None:
            return "no spread of the canary values yet"
        mean, var, sd, _ = got
        lo, hi = normal_bounds(mean, var, sd * sd / PRIOR_REQUESTS, alpha)
        return Bounds(lo, hi, "", m.unit), cond
    if m.derived:
        return _savings(m, obs, catalog, alpha, cond)
    return f"no evidence method for {m.name}"


def _savings(m, obs, catalog, alpha, cond):
    """Savings = 1 - canary / control mean cost, through the log of the ratio."""
    base = catalog.metrics[m.derived["savings_of"]]
    field = base.aggregate["average"]
    can, ctl = _mean(obs.cohort("canary"), field), _mean(obs.cohort("control"), field)
    if can is None or ctl is None:
        return "no spread of the cost of both cohorts yet"
    (mc, vc, sc, _), (mk, vk, sk, _) = can, ctl
    if mc <= 0 or mk <= 0:
        return "a cohort with no cost"
    var = vc / mc ** 2 + vk / mk ** 2                  # delta method: var of ln(mc / mk)
    ref = ((sc / mc) ** 2 + (sk / mk) ** 2) / PRIOR_REQUESTS
    lo, hi = normal_bounds(math.log(mc / mk), var, ref, alpha)
    return Bounds(100 * (1 - math.exp(hi)), 100 * (1 - math.exp(lo)), "", "percent"), cond


def versus_control(m, obs, alpha) -> Bounds | str:
    """Bounds on canary minus control (points for a percentage, the unit for an average)."""
    can, ctl = obs.cohort("canary"), obs.cohort("control")
    kind = next(iter(m.aggregate)) if m.aggregate else None
    if kind == "percentage":
        key = percentage_tally(m).key
        n1, n2 = can.counts.get(REQUESTS.key, 0), ctl.counts.get(REQUESTS.key, 0)
        if not n1 or not n2:
            return "no requests in one of the cohorts yet"
        # half a success and half a failure each, so a cohort without any is not certain
        p1 = (can.counts.get(key, 0) + 0.5) / (n1 + 1)
        p2 = (ctl.counts.get(key, 0) + 0.5) / (n2 + 1)
        var = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        ref = (p1 * (1 - p1) + p2 * (1 - p2)) / PRIOR_REQUESTS
        est = 100 * (can.counts.get(key, 0) / n1 - ctl.counts.get(key, 0) / n2)
        lo, hi = normal_bounds(est, 1e4 * var, 1e4 * ref, alpha)
        return Bounds(lo, hi, "canary minus control", "percent")
    if kind == "average":
        field = m.aggregate["average"]
        a, b = _mean(can, field), _mean(ctl, field)
        if a is None or b is None:
            return "no spread of the values of both cohorts yet"
        ref = (a[2] ** 2 + b[2] ** 2) / PRIOR_REQUESTS
        lo, hi = normal_bounds(a[0] - b[0], a[1] + b[1], ref, alpha)
        return Bounds(lo, hi, "canary minus control", m.unit)
    return f"no difference method for {m.name}"

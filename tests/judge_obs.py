"""Observations shaped as the metric sources produce them, for the gate's tests and
bench/judge_sim.py: per-bucket tallies on the judge's layout, totals, spreads, values.

Traffic is described per cohort by the catalog metrics' values (an error rate, a p95, an
average latency, a cost per request...); the tallies follow as a source would count them,
with latency log-normal (sigma LATENCY_SIGMA, the drill's) and cost spread COST_CV (the
drill's log-normal 0.3). `fine` tallies are per 5-minute bucket from the step's start;
`observations` puts them on the layout the sources use (coarse buckets before the last day).
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

from rollout.core.tallies import carried_tally, edges_ms, layout, percentage_tally, sum_tallies, tallies
from rollout.core.observations import COHORTS, CohortData, Observations, epoch_ms

LATENCY_SIGMA = 0.45
COST_CV = math.sqrt(math.exp(0.3 ** 2) - 1)


def above_share(p95_ms: float, line_ms: float, sigma: float = LATENCY_SIGMA) -> float:
    """Share of a log-normal latency with this p95 that is slower than `line_ms`."""
    median = p95_ms / math.exp(1.6448536269514722 * sigma)
    return 0.5 * math.erfc(math.log(line_ms / median) / sigma / math.sqrt(2))


def rates(catalog, values: dict) -> dict[str, float]:
    """tally key -> expected amount per request, from metric values."""
    out = {"requests": 1.0}
    for m in catalog.metrics.values():
        if not m.aggregate or m.service_level or values.get(m.name) is None:
            continue
        kind = next(iter(m.aggregate))
        v = values[m.name]
        if kind == "percentage":
            out[percentage_tally(m).key] = v / 100
            # an optional attribute (cacheHit): every request of a steady cohort carries it
            out[carried_tally(m, catalog).key] = 1.0
        elif kind == "percentile":
            for t in tallies(catalog):
                if t.kind == "count_if" and t.field == m.aggregate["percentile"]["field"] and t.op == ">":
                    out[t.key] = above_share(v, t.value)
        elif kind == "average":
            total, present = sum_tallies(m.aggregate["average"])
            out[total.key], out[present.key] = v, 1.0
    # the two percentages of one field are complements
    out.setdefault("success=true", 1 - out.get("success=false", 0.0))
    return out


def steady(catalog, values: dict, per_bucket: float, buckets: int) -> dict[str, np.ndarray]:
    """Deterministic tallies of a cohort behaving exactly as `values` say (rounded so the
    running totals are exact)."""
    out = {}
    for key, per_request in rates(catalog, values).items():
        whole = key.startswith("sum:")
        cum = np.arange(1, buckets + 1) * per_bucket * per_request
        cum = cum if whole else np.round(cum)
        out[key] = np.diff(np.concatenate([[0.0], cum]))
    return out


def spreads_of(values: dict) -> dict[str, float | None]:
    avg, cost = values.get("avg_response_time"), values.get("cost_per_request")
    latency_cv = math.sqrt(math.exp(LATENCY_SIGMA ** 2) - 1)
    return {"executionTime": avg * latency_cv if avg else None,
            "cost": cost * COST_CV if cost else None}


def observations(catalog, start: datetime, end: datetime, fine: dict, values: dict,
                 spreads: dict, service=None, errors=None, unmeasured=frozenset(),
                 ran=None) -> Observations:
    """fine: cohort -> tally key -> per-5-minute amounts since `start` (at least up to `end`)."""
    edges = edges_ms(layout(start, end, catalog.judge))
    first = epoch_ms(start)
    cohorts = {}
    for c in COHORTS:
        cols = fine.get(c, {})
        n_fine = round((epoch_ms(end) - first) / 300_000)
        bounds = [round((e - first) / 300_000) for e in edges]
        buckets = {}
        for t in tallies(catalog):
            col = np.asarray(cols.get(t.key, np.zeros(n_fine)), dtype=float)[:n_fine]
            cum = np.concatenate([[0.0], np.cumsum(col)])
            buckets[t.key] = (np.diff(cum[bounds]) if len(bounds) > 1 else np.zeros(0)).tolist()
        requests = int(round(float(np.sum(np.asarray(cols.get("requests", []))[:n_fine]))))
        counts = {k: float(sum(v)) for k, v in buckets.items()}
        shown = dict(values.get(c, {})) if requests else {k: None for k in values.get(c, {})}
        cohorts[c] = CohortData(requests, shown, counts, buckets, dict(spreads.get(c, {})))
    return Observations(start, end, cohorts, dict(errors or {}), dict(service or {}),
                        frozenset(unmeasured), edges, dict(ran or {}))


def steady_observations(catalog, canary: dict, control: dict, *, hours: float = 72,
                        per_hour=(1000, 1000), end=datetime(2026, 11, 20, 9, 0), **kw):
    """A step of `hours` with each cohort steady at its values."""
    from datetime import timezone

    end = end.replace(tzinfo=timezone.utc) if end.tzinfo is None else end
    start = end - timedelta(hours=hours)
    n = round(hours * 12)
    fine = {"canary": steady(catalog, canary, per_hour[0] / 12, n) if per_hour[0] else {},
            "control": steady(catalog, control, per_hour[1] / 12, n) if per_hour[1] else {}}
    return observations(catalog, start, end, fine, {"canary": canary, "control": control},
                        {"canary": spreads_of(canary), "control": spreads_of(control)}, **kw)

"""Simulated SkillExecution traffic for bench/judge_sim.py, as tallies per 5-minute bucket.

Each cohort's requests per bucket are Poisson; each request fails, is slower than the
catalog's latency lines, hits the cache or times out independently at the cohort's
rates; latency is log-normal (the drill's sigma 0.45), a bucket's cost sum is Gamma
with the drill's per-request spread (CV 0.307). Everything is vectorised over runs
(axis 0) and buckets (axis 1); a fault switches the canary's behaviour from its onset
bucket on. The tallies are exactly those the metric sources return (rollout/core/tallies.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from rollout.core.tallies import tallies
from tests.judge_obs import COST_CV, LATENCY_SIGMA, rates

Z95 = 1.6448536269514722


@dataclass(frozen=True)
class Behaviour:
    """How one cohort behaves (the drill's numbers unless a fault says otherwise)."""

    error: float = 0.6          # % of failed executions
    median_ms: float = 1700.0   # log-normal latency
    cost: float = 0.030         # USD per request
    cache: float = 30.0         # % cache hits
    timeout: float = 0.2        # % timeouts

    def values(self) -> dict:
        """The catalog metrics' values of this behaviour."""
        return {"skill_error_rate": self.error, "skills_api_success": 100 - self.error,
                "p95_response_time": self.median_ms * math.exp(Z95 * LATENCY_SIGMA),
                "avg_response_time": self.median_ms * math.exp(LATENCY_SIGMA ** 2 / 2),
                "cost_per_request": self.cost, "cache_hit_rate": self.cache,
                "timeout_rate": self.timeout}

    def means(self) -> dict:
        v = self.values()
        return {"executionTime": v["avg_response_time"], "cost": v["cost_per_request"]}


CVS = {"executionTime": math.sqrt(math.exp(LATENCY_SIGMA ** 2) - 1), "cost": COST_CV}


CONTROL = Behaviour()                                    # drill CONTROL (no skills, ~$0.03)
CANARY = replace(CONTROL, cost=0.018, cache=50.0)        # = control on errors and latency


def with_p95(b: Behaviour, p95_ms: float) -> Behaviour:
    return replace(b, median_ms=p95_ms / math.exp(Z95 * LATENCY_SIGMA))


def _draw(rng, catalog, b_before: Behaviour, b_after: Behaviour, onset, n) -> dict:
    """Tallies of one cohort given its requests per bucket and a behaviour switch."""
    after = np.arange(n.shape[1])[None, :] >= onset[:, None]
    r0, r1 = rates(catalog, b_before.values()), rates(catalog, b_after.values())
    pick = lambda key: np.where(after, r1.get(key, 0.0), r0.get(key, 0.0))
    out = {"requests": n.astype(float)}
    lines = sorted((t for t in tallies(catalog) if t.op == ">"), key=lambda t: t.value)
    outer, outer_p = n, np.ones_like(n, dtype=float)
    for t in lines:                          # slower than 10 s is inside slower than 5 s
        p = pick(t.key)
        inner = rng.binomial(outer, np.clip(p / np.maximum(outer_p, 1e-300), 0, 1))
        out[t.key], outer, outer_p = inner.astype(float), inner, p
    for t in tallies(catalog):
        if t.key in out:
            continue
        if t.kind == "present":
            out[t.key] = n.astype(float)
        elif t.kind == "sum":
            mean = pick(t.key)
            cv = COST_CV if t.field == "cost" else math.sqrt(math.exp(LATENCY_SIGMA ** 2) - 1)
            shape = np.where(n > 0, n / cv ** 2, 1.0)
            out[t.key] = np.where(n > 0, rng.gamma(shape, mean * cv ** 2), 0.0)
        elif t.key == "success=true":
            continue
        else:
            out[t.key] = rng.binomial(n, pick(t.key)).astype(float)
    out["success=true"] = out["requests"] - out["success=false"]
    return out


@dataclass
class StepTraffic:
    """One step's tallies for R runs over B buckets: cohort -> key -> (R, B) array."""

    canary: dict
    control: dict
    onset: np.ndarray           # bucket of the canary's switch to `faulty` (B: never)
    before: Behaviour = None
    after: Behaviour = None

    def canary_spread(self, field: str):
        """(mean, standard deviation) of the canary's `field` over buckets 0..t, per run
        and bucket: a mixture of the behaviour before and after the onset, each with the
        field's own spread (what a source's stddev() over the step returns)."""
        n = self.canary["requests"]
        late = np.arange(n.shape[1])[None, :] >= self.onset[:, None]
        n1 = np.cumsum(np.where(late, n, 0), axis=1)
        n0 = np.cumsum(n, axis=1) - n1
        m0, m1 = self.before.means()[field], self.after.means()[field]
        total = np.maximum(n0 + n1, 1)
        mean = (n0 * m0 + n1 * m1) / total
        square = (n0 * m0 ** 2 + n1 * m1 ** 2) * (1 + CVS[field] ** 2) / total
        return mean, np.sqrt(np.maximum(square - mean ** 2, 0.0))

    def spreads(self, r: int, looks: int) -> dict:
        """cohort -> field -> standard deviation over the first `looks` buckets of run r."""
        can = {f: float(self.canary_spread(f)[1][r, looks - 1]) for f in CVS}
        return {"canary": can, "control": {f: CONTROL.means()[f] * CVS[f] for f in CVS}}


def generate(rng, catalog, runs: int, buckets: int, per_hour: float, pct: int,
             faulty: Behaviour | None, onset: np.ndarray | None) -> StepTraffic:
    """A step at `pct` % of `per_hour` requests; the canary is CANARY, then `faulty`."""
    onset = np.full(runs, buckets) if onset is None or faulty is None else onset
    lam = per_hour / 12.0
    n_can = rng.poisson(lam * pct / 100, (runs, buckets))
    n_ctl = rng.poisson(lam * (100 - pct) / 100, (runs, buckets))
    canary = _draw(rng, catalog, CANARY, faulty or CANARY, onset, n_can)
    control = _draw(rng, catalog, CONTROL, CONTROL, np.full(runs, buckets), n_ctl)
    return StepTraffic(canary, control, onset, CANARY, faulty or CANARY)

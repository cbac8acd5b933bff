"""Always-valid confidence sequences: bounds that hold at every look at once.

The step-up decision ("is the target met?") and the hold alerts ("is the canary in the
hold band? worse than control by the playbook's margin?") are asked again at every
look of the guard and every reconcile. A fixed-sample interval asked thousands of times
is wrong far more often than its level says; these bounds are not: with probability at
least 1 - alpha they contain the truth at every look of the step simultaneously (Ville's
inequality on a mixture martingale). No request minimum is needed: with little data the
bounds are simply wide, and "insufficient evidence" is the honest answer.

- proportion_bounds: one-sided beta-binomial mixtures of Bernoulli likelihood ratios,
  exact for any count (Robbins 1970; Howard et al. 2021, section 3). For the upper bound
  the mixture is the Jeffreys prior truncated below the candidate q, so its martingale
  tests "p < q" against p = q (and is a supermartingale for any p >= q); the lower bound
  mirrors it. A one-sided mixture spends no prior mass on the side it cannot show, which
  makes "target met" about a fifth cheaper in requests than a two-sided one.
- normal_bounds: the normal mixture for an estimate with approximately Gaussian error
  and estimated variance (an asymptotic confidence sequence, Waudby-Smith et al. 2021):
  |estimate - truth| <= sqrt(2 (I + r) ln(sqrt((I + r) / r) / alpha)) / I, with I the
  information (1 / variance) and r the information of a reference sample, where the
  bounds are tightest for their validity (PRIOR_REQUESTS requests per cohort).
"""
from __future__ import annotations

import math

JEFFREYS = 0.5
PRIOR_REQUESTS = 100


def _log_mixture(k: float, n: float, q: float, below: bool) -> float:
    """ln of the mixture martingale of k successes in n against the null q, the Jeffreys
    prior truncated to the side of q it tests (below: "p < q")."""
    from scipy.special import betainc, betaln

    a = b = JEFFREYS
    post, prior = betainc(a + k, b + n - k, q), betainc(a, b, q)
    if not below:
        post, prior = 1.0 - post, 1.0 - prior
    if post <= 0.0 or prior <= 0.0:
        return -math.inf
    return (betaln(a + k, b + n - k) + math.log(post) - betaln(a, b) - math.log(prior)
            - k * math.log(q) - (n - k) * math.log1p(-q))


def proportion_bounds(k: float, n: float, alpha: float) -> tuple[float, float]:
    """(low, high) of a proportion after k of n, each a one-sided bound at `alpha`;
    (0, 1) without data."""
    if n <= 0:
        return 0.0, 1.0
    k = min(max(k, 0.0), n)
    level, p, eps = math.log(1 / alpha), k / n, 1e-12

    def edge(inside, outside, below):   # where the martingale reaches 1/alpha
        from scipy.optimize import brentq

        gap = lambda q: _log_mixture(k, n, q, below) - level
        if gap(outside) < 0:
            return outside
        if gap(inside) >= 0:
            return inside
        # Brent's method: ~10 evaluations where halving the bracket took 60; the answer
        # is moved by its tolerance to the side already shown, as the halving returned
        root = brentq(gap, inside, outside, xtol=1e-13)
        return min(max(root + (2e-13 if outside > inside else -2e-13), min(inside, outside)),
                   max(inside, outside))

    return (edge(max(p, eps), eps, below=False) if k > 0 else 0.0,
            edge(min(p, 1 - eps), 1 - eps, below=True) if k < n else 1.0)


def normal_bounds(estimate: float, variance: float, reference_variance: float,
                  alpha: float) -> tuple[float, float]:
    """(low, high) around an estimate with the given variance."""
    if not (variance > 0 and reference_variance > 0) or not math.isfinite(estimate):
        return -math.inf, math.inf
    info, r = 1 / variance, 1 / reference_variance
    half = math.sqrt(2 * (info + r) * math.log(math.sqrt((info + r) / r) / alpha)) / info
    return estimate - half, estimate + half

"""The two tests the gate uses to say "canary is worse than control".

Both are one-sided: they only ever find the canary worse, in the metric's own direction
(`worse: higher` or `lower`), and return a p-value; 1.0 means no evidence at all.
"""
from __future__ import annotations

import math
from collections.abc import Sequence


def _upper_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def two_proportion_p(canary_hits: int, canary_n: int, control_hits: int, control_n: int,
                     worse: str = "higher", margin: float = 0.0) -> float:
    """Two-proportion z-test; H1: the canary proportion is worse than control's by more
    than `margin` (a proportion, 0.01 = one point).

    margin 0 is the classic pooled test. With a margin the null is "worse by at most the
    margin", so the pooled variance no longer applies: the Agresti-Caffo adjusted
    (one success and one failure added per group) unpooled variance is used, which stays
    sane for small counts and zero events.
    """
    if canary_n <= 0 or control_n <= 0:
        return 1.0
    if margin:
        a1, a2 = (canary_hits + 1) / (canary_n + 2), (control_hits + 1) / (control_n + 2)
        se = math.sqrt(a1 * (1 - a1) / (canary_n + 2) + a2 * (1 - a2) / (control_n + 2))
        diff = a1 - a2 if worse == "higher" else a2 - a1
        return _upper_tail((diff - margin) / se)
    p1, p2 = canary_hits / canary_n, control_hits / control_n
    pooled = (canary_hits + control_hits) / (canary_n + control_n)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / canary_n + 1.0 / control_n))
    if se == 0.0:            # both all-zero or all-one: identical, nothing to find
        return 1.0
    z = (p1 - p2) / se
    return _upper_tail(z if worse == "higher" else -z)


def mann_whitney_p(canary: Sequence[float], control: Sequence[float],
                   worse: str = "higher", margin: float = 0.0) -> float | None:
    """Mann-Whitney U; H1: canary values tend to be worse than control's by more than
    `margin` (in the values' unit: the canary is shifted back by it before ranking).

    None when either side has no values. Robust to the long tails latency has, which
    is why it is used instead of a t-test on means.
    """
    if len(canary) == 0 or len(control) == 0:
        return None
    from scipy.stats import mannwhitneyu

    import numpy as np

    alternative = "greater" if worse == "higher" else "less"
    shifted = np.asarray(canary, dtype=float) - (margin if worse == "higher" else -margin)
    p = float(mannwhitneyu(shifted, control, alternative=alternative).pvalue)
    return 1.0 if math.isnan(p) else p     # all values tied: no evidence

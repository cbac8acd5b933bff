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
                     worse: str = "higher") -> float:
    """Pooled two-proportion z-test; H1: the canary proportion is worse than control's."""
    if canary_n <= 0 or control_n <= 0:
        return 1.0
    p1, p2 = canary_hits / canary_n, control_hits / control_n
    pooled = (canary_hits + control_hits) / (canary_n + control_n)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / canary_n + 1.0 / control_n))
    if se == 0.0:            # both all-zero or all-one: identical, nothing to find
        return 1.0
    z = (p1 - p2) / se
    return _upper_tail(z if worse == "higher" else -z)


def mann_whitney_p(canary: Sequence[float], control: Sequence[float],
                   worse: str = "higher") -> float | None:
    """Mann-Whitney U; H1: canary values tend to be worse than control's.

    None when either side has no values. Robust to the long tails latency has, which
    is why it is used instead of a t-test on means.
    """
    if len(canary) == 0 or len(control) == 0:
        return None
    from scipy.stats import mannwhitneyu

    alternative = "greater" if worse == "higher" else "less"
    p = float(mannwhitneyu(canary, control, alternative=alternative).pvalue)
    return 1.0 if math.isnan(p) else p     # all values tied: no evidence

"""The two tests behind "worse than control": values, direction, edge cases, calibration."""
import math

import numpy as np
import pytest
from scipy.stats import norm

from rollout.core.stats import mann_whitney_p, two_proportion_p


def z_pooled(x1, n1, x2, n2):
    p = (x1 + x2) / (n1 + n2)
    return (x1 / n1 - x2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))


@pytest.mark.parametrize("x1,n1,x2,n2", [(30, 1000, 10, 1000), (15, 1000, 10, 1000),
                                         (120, 5000, 400, 20000), (3, 100, 1, 100)])
def test_two_proportion_matches_the_normal_tail(x1, n1, x2, n2):
    z = z_pooled(x1, n1, x2, n2)
    assert two_proportion_p(x1, n1, x2, n2, "higher") == pytest.approx(norm.sf(z), rel=1e-9)
    # the other direction is the other tail
    assert two_proportion_p(x1, n1, x2, n2, "lower") == pytest.approx(norm.cdf(z), rel=1e-9)


@pytest.mark.parametrize("args,expected", [
    ((0, 1000, 0, 1000), 1.0),        # nobody failed anywhere: nothing to find
    ((1000, 1000, 1000, 1000), 1.0),  # everyone failed in both
    ((5, 0, 5, 100), 1.0),            # no canary requests
    ((5, 100, 5, 0), 1.0),            # no control requests
    ((10, 1000, 10, 1000), 0.5),      # identical: z = 0
])
def test_two_proportion_edges(args, expected):
    assert two_proportion_p(*args) == pytest.approx(expected)


def test_clearly_worse_proportion_is_significant_and_better_is_not():
    assert two_proportion_p(60, 2000, 20, 2000, "higher") < 1e-5
    assert two_proportion_p(20, 2000, 60, 2000, "higher") > 0.999


def test_two_proportion_false_alarm_rate_is_about_alpha():
    rng = np.random.default_rng(7)
    trials = 2000
    x1 = rng.binomial(1000, 0.02, trials)
    x2 = rng.binomial(1000, 0.02, trials)
    alarms = sum(two_proportion_p(a, 1000, b, 1000) < 0.05 for a, b in zip(x1, x2))
    assert 0.02 < alarms / trials < 0.08


def test_mann_whitney_direction():
    rng = np.random.default_rng(3)
    slow, fast = rng.lognormal(8.0, 0.5, 400), rng.lognormal(7.5, 0.5, 400)
    assert mann_whitney_p(slow, fast, "higher") < 1e-6
    assert mann_whitney_p(fast, slow, "higher") > 0.99
    assert mann_whitney_p(fast, slow, "lower") < 1e-6


@pytest.mark.parametrize("canary,control,expected", [
    ([], [1.0, 2.0], None),           # nothing to rank
    ([1.0, 2.0], [], None),
    ([5.0] * 50, [5.0] * 50, 1.0),    # all tied: no evidence either way
])
def test_mann_whitney_edges(canary, control, expected):
    assert mann_whitney_p(canary, control) == expected


def test_mann_whitney_exact_small_sample():
    # three against three, fully separated: the exact one-sided p is 1 / C(6, 3) = 0.05
    assert mann_whitney_p([4, 5, 6], [1, 2, 3]) == pytest.approx(0.05)


def test_mann_whitney_false_alarm_rate_is_about_alpha():
    rng = np.random.default_rng(11)
    alarms = sum(mann_whitney_p(rng.lognormal(7, 0.6, 60), rng.lognormal(7, 0.6, 60)) < 0.05
                 for _ in range(400))
    assert 0.02 < alarms / 400 < 0.09

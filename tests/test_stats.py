"""The judge's statistics: always-valid confidence sequences (rollout/core/stats.py) and
CUSUM charts (rollout/core/cusum.py): values, edges, and error rates over many looks."""
import math

import numpy as np
import pytest

from rollout.core import cusum
from rollout.core.catalog import load_catalog
from rollout.core.stats import normal_bounds, proportion_bounds

CATALOG = load_catalog()


# -- confidence sequences ------------------------------------------------------------------------

@pytest.mark.parametrize("k,n", [(0, 0), (0, 10), (10, 10), (9, 1500), (30, 1000), (500, 1000)])
def test_proportion_bounds_contain_the_estimate(k, n):
    lo, hi = proportion_bounds(k, n, 0.05)
    assert 0.0 <= lo <= hi <= 1.0
    if n:
        assert lo <= k / n <= hi
    assert (lo == 0.0) == (k == 0) and (hi == 1.0) == (k == n)


def test_proportion_bounds_tighten_with_evidence_and_loosen_with_confidence():
    widths = [np.subtract(*proportion_bounds(n // 100, n, 0.05)[::-1]) for n in (100, 1000, 10000)]
    assert widths[0] > widths[1] > widths[2]
    assert proportion_bounds(20, 1000, 0.01)[1] > proportion_bounds(20, 1000, 0.05)[1]
    # the playbook's 1x canary over its 72 h soak, healthy: shown below the 2 % target
    assert proportion_bounds(9, 1500, 0.05)[1] < 0.02


def test_proportion_bounds_hold_at_every_look_at_once():
    """Asked after every 25 requests up to 1,000 (40 looks), a 95 % sequence excludes the
    true rate in at most 5 % of streams, where a fixed-sample interval would not."""
    rng = np.random.default_rng(9)
    p, streams, looks = 0.02, 150, range(25, 1001, 25)
    misses = 0
    for _ in range(streams):
        k = np.cumsum(rng.random(1000) < p)
        misses += any(not (lo <= p <= hi) for lo, hi in
                      (proportion_bounds(int(k[n - 1]), n, 0.05) for n in looks))
    assert misses / streams <= 0.05


def test_normal_bounds_hold_at_every_look_at_once():
    rng = np.random.default_rng(4)
    x = rng.normal(10.0, 2.0, (400, 2000))
    n = np.arange(1, 2001)
    means = np.cumsum(x, axis=1) / n
    misses = 0
    for row in means:
        bad = False
        for i in range(9, 2000, 10):
            lo, hi = normal_bounds(row[i], 4.0 / (i + 1), 4.0 / 100, 0.05)
            bad = bad or not lo <= 10.0 <= hi
        misses += bad
    assert misses / 400 <= 0.05


def test_normal_bounds_edges():
    assert normal_bounds(1.0, 0.0, 1.0, 0.05) == (-math.inf, math.inf)
    assert normal_bounds(float("nan"), 1.0, 1.0, 0.05) == (-math.inf, math.inf)
    lo, hi = normal_bounds(5.0, 0.01, 0.04, 0.05)
    assert lo < 5.0 < hi and hi - 5.0 == pytest.approx(5.0 - lo)


# -- CUSUM charts --------------------------------------------------------------------------------

@pytest.mark.parametrize("p0,line", [(0.02, 0.05), (0.02, 0.10), (0.01, 0.05), (0.30, 0.60)])
def test_bernoulli_weights_put_zero_drift_on_the_line(p0, line):
    a, b = cusum.bernoulli_weights(p0, line)
    drift = lambda p: p * a + (1 - p) * b
    assert a > 0 > b and drift(line) == pytest.approx(0.0, abs=1e-9)
    assert drift(p0) < 0 < drift(line * 1.2)


def test_bernoulli_weights_refuse_a_line_below_control():
    with pytest.raises(ValueError):
        cusum.bernoulli_weights(0.05, 0.02)


def test_path_is_the_cusum_recursion_and_works_on_many_runs():
    rng = np.random.default_rng(2)
    x = rng.normal(-0.2, 1.0, (5, 300))
    s = cusum.path(x)
    for row, got in zip(x, s):
        want, acc = [], 0.0
        for v in row:
            acc = max(0.0, acc + v)
            want.append(acc)
        assert got == pytest.approx(want)
    assert (s >= 0).all() and cusum.path(3 * x) == pytest.approx(3 * s)


def test_the_catalog_error_chart_counts_excess_errors_over_five_percent():
    m = CATALOG.metrics["skill_error_rate"]
    s = cusum.setup(m, m.cusum[0], "canary", CATALOG)
    assert (s.kind, str(s.line), s.level, s.healthy, s.key) == ("bernoulli", "> 5", 0.05, 0.02,
                                                               "success=false")
    a, b = s.weights
    # a bucket of 100 requests with 5 errors adds nothing; 15 errors add 10 excess errors
    assert cusum.bernoulli_increments(s, [100], [5])[0] == pytest.approx(0.0, abs=1e-9)
    assert cusum.bernoulli_increments(s, [100], [15])[0] == pytest.approx(10 * (a - b))


def test_charts_exist_only_where_their_line_does():
    savings = CATALOG.metrics["cost_savings"]
    assert cusum.setup(savings, savings.cusum[0], "canary", CATALOG) is None
    s = cusum.setup(savings, savings.cusum[0], "beta", CATALOG)
    assert (s.kind, s.level, s.healthy) == ("ratio", pytest.approx(0.70), pytest.approx(0.65))
    hold = CATALOG.metrics["p95_response_time"].cusum[1]
    s = cusum.setup(CATALOG.metrics["p95_response_time"], hold, "canary", CATALOG)
    assert s.holds and str(s.line) == ">= 5000" and s.key == "executionTime>5000"


def test_ratio_increments_compare_with_control_so_far_then_the_baseline():
    cost = CATALOG.metrics["cost_per_request"]
    s = cusum.setup(cost, cost.cusum[0], "canary", CATALOG)
    assert (s.level, s.healthy, s.baseline) == (1.5, 1.0, 0.03)
    # control's mean up to each bucket: 0.02, then (0.02 + 0.06) / 2 = 0.04
    x = cusum.ratio_increments(s, [0.06, 0.06], [1, 1], [0.02, 0.06], [1, 1])
    assert x == pytest.approx([0.06 / 0.02 - 1.5, 0.06 / 0.04 - 1.5])
    # no control yet: the catalog baseline $0.03 stands in
    assert cusum.ratio_increments(s, [0.09], [1], [0.0], [0])[0] == pytest.approx(3 - 1.5)
    no_baseline = cusum.Setup("ratio", s.line, s.h, 1.5, 1.0, field="cost")
    assert cusum.ratio_increments(no_baseline, [0.09], [1], [0.0], [0])[0] == 0.0

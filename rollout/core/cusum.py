"""CUSUM charts: "is the canary beyond a rollback line?" answered with evidence.

A chart sums, bucket by bucket since the step began, the log likelihood ratio of "beyond
the line" against "healthy", restarting from zero whenever the sum would go negative:

    S_0 = 0,   S_t = max(0, S_{t-1} + x_t),   roll back once S_t >= h.

- Bernoulli chart (a share of requests: errors, requests slower than the p95 line):
  x_t = a * bad_t + b * (n_t - bad_t), a = ln(p1/p0), b = ln((1-p1)/(1-p0)), for H0
  p = p0 (in control) against H1 p = p1, p1 chosen so the expected increment is zero
  exactly at the line: a canary below the line drifts down, one above drifts up, however
  few requests each bucket holds. S / (a - b) counts the bad requests in excess of
  `line` of all requests over the best recent stretch.
- Ratio chart (canary cost per request against control's, or the catalog's baseline at
  100 %): x_t = lam * (sum_t / ref_t - line * m_t), the Gaussian log likelihood ratio of
  a mean cost ratio r1 = 2 line - r0 against r0, per request; ref_t is control's mean cost
  up to bucket t (so a bucket's increment never changes at later looks), lam =
  2 (line - r0) / sigma^2 with sigma the spread of one request's cost ratio. Since
  path(lam * x) = lam * path(x), a new spread at a later look only rescales the path.

The chart is a pure function of the buckets, recomputed at every look (nothing is kept
between looks), and "crossed" means crossed anywhere in the step, so a look the guard
missed cannot hide a crossing. h is calibrated by bench/judge_sim.py (docs/judge.md),
which drives these same functions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from rollout.core.catalog import Condition
from rollout.core.tallies import REQUESTS, beyond_tally, chart_kind, percentage_tally, sum_tallies

MIN_SPREAD_VALUES = 10      # costs a cohort needs before its spread is trusted


def bernoulli_weights(p0: float, line: float) -> tuple[float, float]:
    """(a, b): log likelihood ratio per bad and per good request, zero drift at `line`."""
    if not 0 < p0 < line < 1:
        raise ValueError(f"need 0 < p0 < line < 1, got p0={p0}, line={line}")

    def zero_drift(p1):
        a, b = math.log(p1 / p0), math.log((1 - p1) / (1 - p0))
        return -b / (a - b)

    lo, hi = line, 1.0 - 1e-12           # zero_drift rises with p1 from p0 toward 1
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if zero_drift(mid) < line else (lo, mid)
    p1 = (lo + hi) / 2
    return math.log(p1 / p0), math.log((1 - p1) / (1 - p0))


def path(increments):
    """S after each bucket (numpy; the last axis is time, so many runs fit one call)."""
    import numpy as np

    x = np.cumsum(np.asarray(increments, dtype=float), axis=-1)
    return x - np.minimum.accumulate(np.minimum(x, 0.0), axis=-1)


@dataclass(frozen=True)
class Unread:
    """Why a chart has nothing to say at this look; `blind`: it never will as things are."""

    reason: str
    blind: bool = False


@dataclass(frozen=True)
class Setup:
    """A chart at one step, in its own quantity."""

    kind: str                   # bernoulli | ratio
    line: Condition             # in the metric's own terms: "> 5", "> 10000", "< 30", "> 150"
    h: float
    level: float                # the line as a share of requests (bernoulli) or a cost ratio
    healthy: float              # p0, or the in-control cost ratio r0
    key: str = ""               # bernoulli: the tally of the condition
    complement: bool = False    # bernoulli: bad requests are those NOT meeting it
    field: str = ""             # ratio: the averaged field (cost)
    baseline: float | None = None
    holds: bool = False         # a chart on the target: crossing it holds, never rolls back

    @property
    def weights(self) -> tuple[float, float]:
        return bernoulli_weights(self.healthy, self.level)


def setup(m, chart, step, catalog) -> Setup | Unread | None:
    """The chart of metric `m` at `step`; None where the step has no such line."""
    line = chart.condition(m, step)
    if line is None:
        return None
    healthy = chart.healthy(m, step)
    if chart_kind(m, chart) == "ratio":
        base = catalog.metrics[m.derived["savings_of"]] if m.derived else m
        # savings "< 30" is a cost ratio "> 0.70"; a compare "> 150" (% of control) is "> 1.5"
        level, r0 = (1 - line.value / 100, 1 - healthy / 100) if m.derived else \
            (line.value / 100, healthy / 100)
        return Setup("ratio", line, chart.h, level, r0, field=base.aggregate["average"],
                     baseline=base.baseline, holds=chart.holds)
    if m.aggregate and "percentile" in m.aggregate:
        if line.op not in (">", ">="):
            return Unread(f"a percentile chart needs a line above, got {line}", blind=True)
        return Setup("bernoulli", line, chart.h, (100 - m.aggregate["percentile"]["p"]) / 100,
                     healthy / 100, key=beyond_tally(m, line.value).key, holds=chart.holds)
    above = line.op in (">", ">=")
    return Setup("bernoulli", line, chart.h, line.value / 100 if above else 1 - line.value / 100,
                 healthy / 100 if above else 1 - healthy / 100,
                 key=percentage_tally(m).key, complement=not above, holds=chart.holds)


def bernoulli_increments(s: Setup, n, counted):
    """Per-bucket log likelihood ratios from requests and the condition's count."""
    import numpy as np

    n, counted = np.asarray(n, dtype=float), np.asarray(counted, dtype=float)
    bad = n - counted if s.complement else counted
    a, b = s.weights
    return a * bad + b * (n - bad)


def ratio_increments(s: Setup, can_sum, can_n, ctl_sum, ctl_n):
    """Per-bucket excess cost over `level` times the reference, in requests' worth of
    cost ratio (unscaled: multiply the path by ratio_scale). The reference is control's
    mean cost up to each bucket, else the baseline; a bucket with neither adds nothing."""
    import numpy as np

    ctl_sum, ctl_n = np.cumsum(ctl_sum, axis=-1), np.cumsum(ctl_n, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.where(ctl_n > 0, ctl_sum / np.where(ctl_n > 0, ctl_n, 1.0), s.baseline or np.nan)
        x = np.asarray(can_sum, dtype=float) / ref - s.level * np.asarray(can_n, dtype=float)
    return np.where(np.isfinite(ref) & (ref > 0), x, 0.0)


def ratio_scale(s: Setup, cv: float) -> float:
    """lam of the ratio chart for a per-request coefficient of variation `cv`."""
    return 2 * (s.level - s.healthy) / (cv * s.level) ** 2


@dataclass(frozen=True)
class Reading:
    """One chart at one look."""

    line: Condition
    h: float
    holds: bool                 # a hold chart: what counts is `now`, not a past crossing
    now: float                  # S at the end of the window
    peak: float                 # S where it first reached h, else its highest in the step
    crossed_at: int | None      # first bucket where S >= h
    stretch: tuple[int, int]    # buckets (first, last) of the excursion that peaked
    basis: str                  # what the chart counted over that stretch, in words

    @property
    def crossed(self) -> bool:
        return self.crossed_at is not None


def read(m, chart, step, obs, catalog) -> Reading | Unread | None:
    """The chart at this look, why it cannot be read, or None (no such line at `step`)."""
    s = setup(m, chart, step, catalog)
    if s is None or isinstance(s, Unread):
        return s
    if obs is None:
        return Unread("no observations")
    can, ctl = obs.cohort("canary"), obs.cohort("control")
    n = can.buckets.get(REQUESTS.key, ())
    if not obs.edges or not len(n):
        return Unread("no canary requests in the step yet")
    if s.kind == "bernoulli":
        counted = can.buckets.get(s.key)
        if counted is None or len(counted) != len(n):
            return Unread(f"the metric source returned no {s.key} tally", blind=True)
        x, scale = bernoulli_increments(s, n, counted), 1.0
        describe = _count_basis(m, s, n, counted)
    else:
        total, present = (t.key for t in sum_tallies(s.field))
        if not ctl.counts.get(present) and not s.baseline:
            return Unread("no control cohort and no baseline to compare cost with", blind=True)
        cvs = [c for c in (_cv(co, s.field, total, present) for co in (can, ctl)) if c]
        if not cvs:
            return Unread(f"fewer than {MIN_SPREAD_VALUES} costs in a cohort yet: their "
                          f"spread is unknown")
        if any(k not in co.buckets for k in (total, present) for co in (can, ctl)):
            return Unread(f"the metric source returned no {total} tally", blind=True)
        sums, counts = can.buckets[total], can.buckets[present]
        x = ratio_increments(s, sums, counts, ctl.buckets[total], ctl.buckets[present])
        scale, describe = ratio_scale(s, max(cvs)), _cost_basis(s, x, counts)
    return _reading(s, scale * path(x), scale * x, describe)


def _reading(s: Setup, sp, x, describe) -> Reading:
    import numpy as np

    if s.holds:         # a hold is a state: the excursion that ends now
        end = len(sp) - 1
        crossed = end if sp[end] >= s.h else None
    else:               # a rollback is an event: the first crossing anywhere in the step
        hit = np.flatnonzero(sp >= s.h)
        end = int(hit[0]) if len(hit) else int(np.argmax(sp))
        crossed = end if len(hit) else None
    first = first_reset(x, end)
    return Reading(s.line, s.h, s.holds, float(sp[-1]), float(sp[end]), crossed,
                   (first, end), describe(first, end))


def first_reset(x, end: int) -> int:
    """The first bucket of the excursion that reaches bucket `end` (after its last reset)."""
    import numpy as np

    before = np.concatenate([[0.0], np.cumsum(x)[:end]])
    return int(np.flatnonzero(before == before.min())[-1])


def _cv(cohort, field, total, present):
    n, sd = cohort.counts.get(present, 0), cohort.spreads.get(field)
    if n < MIN_SPREAD_VALUES or sd is None or not cohort.counts.get(total):
        return None
    return sd / (cohort.counts[total] / n)


def _count_basis(m, s: Setup, n, counted):
    def describe(first, last):
        nn = float(sum(n[first:last + 1]))
        cc = float(sum(counted[first:last + 1]))
        bad = nn - cc if s.complement else cc
        name = "errors" if m.name == "skill_error_rate" else \
            (f"requests slower than {s.line.value:g} {m.unit}" if s.key.find(">") > 0
             else "bad requests")
        pct = f" ({100 * bad / nn:.1f} %)" if nn else ""
        return f"{bad:.0f} {name} in {nn:.0f} canary requests{pct} against the line {s.level * 100:g} %"
    return describe


def _cost_basis(s: Setup, x, counts):
    def describe(first, last):
        n = float(sum(counts[first:last + 1]))
        ratio = (float(sum(x[first:last + 1])) / n + s.level) if n else None
        shown = f"{100 * ratio:.0f} %" if ratio is not None else "—"
        return (f"canary cost per request {shown} of the reference over {n:.0f} requests "
                f"against the line {s.level * 100:g} %")
    return describe

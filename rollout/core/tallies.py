"""What the judge asks of a metric source, stated once so every source answers alike.

Tallies are per-cohort counts and sums that add up over time: the requests, the events
meeting a percentage metric's condition, the requests beyond a percentile metric's
lines, the sum and number of an averaged field. A source returns each tally per bucket of
the step (the CUSUM charts, rollout/core/cusum.py) and the judge sums the buckets for the
whole step (the confidence sequences, rollout/core/stats.py). New Relic computes them as
NRQL aggregates of one TIMESERIES query, the SQLite source with numpy over the packed
events; `spread_fields` are the fields whose standard deviation over the step the
confidence sequences of averages need (not additive, so not per bucket).

The layout puts the step's buckets on a grid ending at the evaluation's end: the last
`recent_hours` in `bucket_minutes` buckets, the time before in coarser ones, each series
at most 366 buckets long (NRQL's limit) and a whole number of buckets (NRQL's TIMESERIES
snaps a partial first bucket away; so does this layout, in every source: the first
minutes of a long step, less than one coarse bucket, are left out).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_BUCKETS = 360           # per TIMESERIES query; NRQL answers at most 366


@dataclass(frozen=True)
class Tally:
    kind: str                   # count | count_if | sum | present
    field: str | None = None
    op: str | None = None       # count_if: "=" (a boolean or text value) or ">"
    value: object = None

    @property
    def key(self) -> str:
        """Its name in CohortData.counts and .buckets, e.g. 'success=false', 'executionTime>10000'."""
        if self.kind == "count":
            return "requests"
        if self.kind == "count_if":
            shown = str(self.value).lower() if isinstance(self.value, bool) else \
                (f"{self.value:g}" if isinstance(self.value, float) else str(self.value))
            return f"{self.field}{self.op}{shown}"
        return f"{self.kind}:{self.field}"


REQUESTS = Tally("count")


def percentage_tally(metric) -> Tally:
    arg = metric.aggregate["percentage"]
    return Tally("count_if", arg["field"], "=", arg["is"])


def carried_tally(metric, catalog) -> Tally:
    """The denominator of a percentage metric: every request, or, where its attribute is
    optional in the event contract, the requests that carry it (not sent is no evidence,
    as the NRQL's `IS NOT NULL` makes it for the alerts)."""
    field_ = metric.aggregate["percentage"]["field"]
    return Tally("present", field_) if field_ in catalog.optional_attributes else REQUESTS


def beyond_tally(metric, value: float) -> Tally:
    """Requests whose field is above `value` (a percentile metric's line)."""
    return Tally("count_if", metric.aggregate["percentile"]["field"], ">", float(value))


def sum_tallies(field: str) -> tuple[Tally, Tally]:
    return Tally("sum", field), Tally("present", field)


def _judged(m) -> bool:
    return not m.service_level and m.gate_steps != ()


def _lines(m) -> list[float]:
    """Every threshold value of a metric at any step (target and rollback lines)."""
    out = []
    for thr in [m.thresholds, *m.steps.values()]:
        for name in ("target", "rollback"):
            cond = thr.get(name)
            if cond is not None and cond.op != ".." and cond.value not in out:
                out.append(cond.value)
    return out


def tallies(catalog) -> tuple[Tally, ...]:
    """Every tally the judge reads, for every step of the catalog, in a stable order."""
    out = [REQUESTS]
    for m in catalog.metrics.values():
        if not _judged(m):
            continue
        base = catalog.metrics[m.derived["savings_of"]] if m.derived else m
        kind = next(iter(base.aggregate)) if base.aggregate else None
        if kind == "percentage":
            out += [percentage_tally(base), carried_tally(base, catalog)]
        elif kind == "percentile":
            out += [beyond_tally(base, v) for v in _lines(base)]
        elif kind == "average":
            out += sum_tallies(base.aggregate["average"])
    return tuple(dict.fromkeys(out))


def spread_fields(catalog) -> tuple[str, ...]:
    """Fields of averaged metrics: their standard deviation over the step."""
    out = [m.aggregate["average"] for m in catalog.metrics.values()
           if _judged(m) and m.aggregate and "average" in m.aggregate]
    return tuple(dict.fromkeys(out))


def chart_kind(metric, chart) -> str | None:
    """bernoulli (a share of requests) or ratio (canary cost per request against a
    reference), or None when no chart fits the metric."""
    agg = next(iter(metric.aggregate)) if metric.aggregate else None
    if chart.line == "compare":
        return "ratio" if (metric.compare or {}).get("test") == "ratio" and agg == "average" else None
    if agg in ("percentage", "percentile"):
        return "bernoulli"
    return "ratio" if metric.derived else None


# -- the buckets of a step ------------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    """One TIMESERIES query: [since, until) in buckets of `minutes`."""

    since: datetime
    until: datetime
    minutes: int

    @property
    def count(self) -> int:
        return round((self.until - self.since) / timedelta(minutes=self.minutes))


def layout(start: datetime, end: datetime, judge) -> tuple[Span, ...]:
    """The step [start, end) as at most two series: coarse, then the recent fine one."""
    width = judge.bucket_minutes
    total = (end - start) / timedelta(minutes=1)
    fine = min(math.floor(total / width), judge.recent_hours * 60 // width)
    if fine <= 0:
        return ()
    fine_since = end - timedelta(minutes=fine * width)
    spans = [Span(fine_since, end, width)]
    rest = (fine_since - start) / timedelta(minutes=1)
    coarse = width * math.ceil(rest / (width * MAX_BUCKETS)) if rest >= width else 0
    if coarse and math.floor(rest / coarse):
        n = math.floor(rest / coarse)
        spans.insert(0, Span(fine_since - timedelta(minutes=n * coarse), fine_since, coarse))
    return tuple(spans)


def edges_ms(spans) -> tuple[int, ...]:
    """Bucket boundaries in epoch milliseconds, oldest first (one more than buckets)."""
    from rollout.core.observations import epoch_ms

    out: list[int] = []
    for s in spans:
        first, step = epoch_ms(s.since), s.minutes * 60_000
        cells = [first + i * step for i in range(s.count + 1)]
        out += cells[1:] if out else cells
    return tuple(out)

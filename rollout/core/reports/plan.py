"""What a report needs fetched: its windows and time series, from the history alone.

    plan(kind, state, history, at, length) -> Plan       what to ask the report source
    Measured.collect(plan, summaries, series) -> Measured what it answered, typed

Two steps, so that the adapters only fetch what the core asked for, in one round trip.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from rollout.core.reports.names import ERROR_RATE, P95
from rollout.core.reports.summaries import Bucket, Summary, Window
from rollout.core.reports.timeline import timeline
from rollout.core.state import Event, FlagState

KINDS = ("daily", "sla", "cost", "final", "review")

# How long a report looks back by default: 003 runs the daily report each day, validates
# the SLA "at 24 hours and 48 hours" (--hours 24) and the cost savings at 48 hours.
DEFAULT_LENGTH = {"daily": timedelta(hours=24), "sla": timedelta(hours=24),
                  "cost": timedelta(hours=48)}
# 003 "Baseline Metrics Captured": 7 days before skills. The control cohort over that
# span stands in when the window itself has too few control requests (at 100 % none).
BASELINE_SPAN = timedelta(days=7)
WEEK = timedelta(days=7)

CHART_POINTS = 48          # about this many buckets on the timeline chart
CHECK_BUCKETS = 24         # "consistently": the window cut in about this many buckets
NICE_BUCKETS = [timedelta(minutes=m) for m in (1, 5, 15, 30, 60, 120, 180, 360, 720, 1440, 2880)]
SERIES_METRICS = (ERROR_RATE, P95)


@dataclass(frozen=True)
class Series:
    """A time series to fetch: `window` cut into buckets of `bucket`."""

    window: Window
    bucket: timedelta


@dataclass(frozen=True)
class Plan:
    kind: str
    flag: str
    at: datetime
    main: Window                                  # the report's own window
    chart: Series                                 # the timeline chart
    baseline: Window | None = None                # control before the rollout, as a fallback
    phases: tuple[tuple[str, Window], ...] = ()   # review: (step, first start to last end)
    weeks: tuple[Window, ...] = ()                # review: the weekly cost table
    checks: Series | None = None                  # final: the "consistently" buckets

    @property
    def windows(self) -> dict[str, Window]:
        """Every summary to fetch, by name: a source answers them in one round trip."""
        out = {"main": self.main}
        if self.baseline is not None:
            out["baseline"] = self.baseline
        out.update({f"phase:{step}": w for step, w in self.phases})
        out.update({f"week:{k}": w for k, w in enumerate(self.weeks, 1)})
        return out

    @property
    def series(self) -> dict[str, Series]:
        """Every time series to fetch, by name."""
        return {**({"checks": self.checks} if self.checks else {}), "chart": self.chart}


@dataclass(frozen=True)
class Measured:
    """What the report source answered for a plan."""

    main: Summary
    baseline: Summary | None = None
    phases: dict[str, Summary] = field(default_factory=dict)     # step -> its summary
    weeks: tuple[Summary, ...] = ()
    checks: tuple[Bucket, ...] = ()
    chart: tuple[Bucket, ...] = ()

    @classmethod
    def collect(cls, plan: Plan, summaries: dict[str, Summary],
                series: dict[str, list[Bucket]]) -> "Measured":
        """From the answers to plan.windows and plan.series, by the same names."""
        return cls(summaries["main"], summaries.get("baseline"),
                   {step: summaries[f"phase:{step}"] for step, _ in plan.phases},
                   tuple(summaries[f"week:{k}"] for k in range(1, len(plan.weeks) + 1)),
                   tuple(series.get("checks", ())), tuple(series.get("chart", ())))


def nice_bucket(span: timedelta, points: int) -> timedelta:
    want = span / max(points, 1)
    return next((b for b in NICE_BUCKETS if b >= want), NICE_BUCKETS[-1])


def _floor(t: datetime, bucket: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return epoch + ((t - epoch) // bucket) * bucket


def plan(kind: str, state: FlagState, history: list[Event], at: datetime,
         length: timedelta | None = None) -> Plan:
    if kind not in KINDS:
        raise ValueError(kind)
    tl = timeline(state, history, at)
    cur = tl.current
    live_since = cur.start if cur and cur.pct > 0 else None
    if kind in DEFAULT_LENGTH:
        start = at - (length or DEFAULT_LENGTH[kind])
        if length is None and live_since and live_since > start:
            start = live_since              # the current step only, unless asked otherwise
    elif kind == "final":
        start = cur.start if cur else at - DEFAULT_LENGTH["sla"]
    else:                                   # review: the whole rollout
        start = tl.start or at - DEFAULT_LENGTH["daily"]
    start = min(start, at)
    main = Window(start, at)
    began = tl.start or start
    phases, weeks = (), ()
    if kind == "review":
        phases = tuple((step.name, Window(spans[0].start, spans[-1].until(at)))
                       for step in state.ladder.steps
                       if step.percentage > 0 and (spans := tl.of_step(step.percentage)))
        count = max(1, math.ceil((at - began) / WEEK)) if tl.start else 0
        weeks = tuple(Window(began + WEEK * k, min(began + WEEK * (k + 1), at)) for k in range(count))
    chart_start = min(began, start)
    span = max(at - chart_start, timedelta(minutes=1))
    bucket = nice_bucket(span * 1.05, CHART_POINTS)
    chart_start = _floor(chart_start - span * 0.05, bucket)
    return Plan(kind, state.flag, at, main, Series(Window(chart_start, at), bucket),
                baseline=Window(began - BASELINE_SPAN, at) if kind != "sla" else None,
                phases=phases, weeks=weeks,
                checks=Series(main, nice_bucket(main.span, CHECK_BUCKETS)) if kind == "final" else None)

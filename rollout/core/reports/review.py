"""The post-deployment review (seed 000), pre-filled from the history and the data: the
phases, the hold / proceed decisions, performance, weekly cost, SLA, rollbacks, critical
incidents and the status of AC#1, #4, #5, #6 and #9. review_template.py writes it into
the seed's template."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from rollout.core.catalog import PAGING, Condition
from rollout.core.reports.cost import ModelMix, cost_figures, model_mix
from rollout.core.reports.model import Header, Inputs, Line, all_met
from rollout.core.reports.names import ERROR_RATE, P95, SAVINGS, TIMEOUTS, TOKENS
from rollout.core.reports.sla import sla_lines
from rollout.core.reports.summaries import EMPTY_COHORT, Window
from rollout.core.reports.timeline import event_json, severity
from rollout.core.state import ABORTED, Event, Step, format_duration

STATUSES = ("successful", "partial", "rollback")


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _duration(d: timedelta | None) -> str | None:
    return None if d is None else format_duration(d)


@dataclass(frozen=True)
class Phase:
    """One live step of the ladder, as the review's phase table shows it."""

    step: str
    target: int                     # the ladder's percentage
    actual: float | None            # the canary's share of requests during the phase
    duration: timedelta | None      # time served, over every period at this step
    soak: timedelta | None
    started: datetime | None
    completed: datetime | None
    complete: bool | None           # None: never reached
    holds: tuple[Event, ...]
    rollbacks: tuple[Event, ...]
    error_rate: float | None
    error_met: bool | None

    def to_json(self) -> dict:
        return {"step": self.step, "target": self.target, "actual": self.actual,
                "duration": _duration(self.duration), "soak": _duration(self.soak),
                "started": _iso(self.started), "completed": _iso(self.completed),
                "complete": self.complete, "holds": [e.to_json() for e in self.holds],
                "rollbacks": [e.to_json() for e in self.rollbacks],
                "error_rate": self.error_rate, "error_met": self.error_met}


@dataclass(frozen=True)
class Decision:
    """The hold / proceed story of one ladder move, from the history."""

    frm: str
    to: str
    proceed: bool
    held: int
    first_held: datetime | None
    reasons: tuple[str, ...]

    def to_json(self) -> dict:
        return {"from": self.frm, "to": self.to, "proceed": self.proceed, "held": self.held,
                "first_held": _iso(self.first_held), "reasons": list(self.reasons)}


@dataclass(frozen=True)
class CostWeek:
    """A row of the weekly cost table; `week` and `window` are None for the total."""

    with_skills: float | None
    without_skills: float | None
    saved: float | None
    savings_pct: float | None
    met: bool | None
    week: int | None = None
    window: Window | None = None

    def to_json(self) -> dict:
        out = {"week": self.week, "window": self.window.to_json()} if self.week else {}
        return {**out, "with_skills": self.with_skills, "without_skills": self.without_skills,
                "saved": self.saved, "savings_pct": self.savings_pct, "met": self.met}


@dataclass(frozen=True)
class Performance:
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    p95_met: bool | None
    per_minute: float | None
    peak_per_minute: int | None

    def to_json(self) -> dict:
        return {"p50": self.p50, "p95": self.p95, "p99": self.p99, "max": self.max,
                "p95_met": self.p95_met, "per_minute": self.per_minute,
                "peak_per_minute": self.peak_per_minute}


@dataclass(frozen=True)
class UptimeFacts:
    percent: float | None
    method: str
    outages: int | None             # None: the source cannot list them
    down_minutes: int | None

    def to_json(self) -> dict:
        return {"percent": self.percent, "method": self.method, "outages": self.outages,
                "down_minutes": self.down_minutes}


@dataclass(frozen=True)
class Criterion:
    """An acceptance criterion decided from data; AC#1 is per phase, the others a value."""

    met: bool | None
    value: float | None = None
    phases: dict[str, bool | None] | None = None

    def to_json(self) -> dict:
        if self.phases is not None:
            return {"met": self.met, "phases": dict(self.phases)}
        return {"value": self.value, "met": self.met}


@dataclass(frozen=True)
class ReviewReport:
    header: Header
    deployment_start: datetime | None
    status: str                     # successful | partial | rollback
    phases: tuple[Phase, ...]
    decisions: tuple[Decision, ...]
    total_duration: timedelta | None
    performance: Performance
    post_error_rate: float | None
    skill_errors: float | None
    timeouts: float | None
    weeks: tuple[CostWeek, ...]
    weeks_total: CostWeek
    baseline_source: str
    models: tuple[ModelMix, ...]
    token_reduction: float | None
    sla: tuple[Line, ...]
    success_rate: float | None
    success_met: bool | None
    uptime: UptimeFacts
    critical: tuple[Event, ...]
    ac: dict[str, Criterion]

    def sla_line(self, key: str) -> Line:
        return next(l for l in self.sla if l.key == key)

    def to_json(self) -> dict:
        return {**self.header.to_json(), "deployment_start": _iso(self.deployment_start),
                "status": self.status, "phases": [p.to_json() for p in self.phases],
                "decisions": [d.to_json() for d in self.decisions],
                "total_duration": _duration(self.total_duration),
                "performance": self.performance.to_json(), "post_error_rate": self.post_error_rate,
                "error_breakdown": {"skill": self.skill_errors, "timeout": self.timeouts},
                "weeks": [w.to_json() for w in self.weeks], "weeks_total": self.weeks_total.to_json(),
                "baseline_source": self.baseline_source, "models": [m.to_json() for m in self.models],
                "token_reduction": self.token_reduction, "sla": {l.key: l.to_json() for l in self.sla},
                "success_rate": self.success_rate, "success_met": self.success_met,
                "uptime": self.uptime.to_json(), "critical": [event_json(e) for e in self.critical],
                "ac": {k: a.to_json() for k, a in self.ac.items()}}

    def to_markdown(self, chart: str | None = None, template: str | None = None) -> str:
        from rollout.core.reports.review_template import fill, review_values

        if template is None:
            raise ValueError("the review needs its template")
        return fill(template, review_values(self, chart))


def _phase(c: Inputs, step: Step) -> Phase:
    tl, at = c.tl, c.plan.at
    spans = tl.of_step(step.percentage)
    s = c.data.phases.get(step.name)
    served = sum(((p.until(at) - p.start) for p in spans), timedelta(0))
    longest = max(((p.until(at) - p.start) for p in spans), default=timedelta(0))
    higher = [p for p in spans if p.ended_by is not None and p.ended_by.to_pct > step.percentage]
    is_top = step.percentage == c.state.ladder.steps[-1].percentage
    complete = bool(spans) and (longest >= (step.soak or timedelta(0))) and (bool(higher) or is_top)
    canary = s.cohort("canary") if s else EMPTY_COHORT
    total = s.requests if s else 0
    error = canary.value(ERROR_RATE)
    return Phase(step.name, step.percentage, 100.0 * canary.requests / total if total else None,
                 served if spans else None, step.soak, spans[0].start if spans else None,
                 (higher[-1].end if higher else
                  spans[-1].start + step.soak if is_top and complete and step.soak else None),
                 complete if spans else None,
                 tuple(e for e in tl.holds if e.from_pct == step.percentage),
                 tuple(e for e in tl.rollbacks if e.from_pct == step.percentage),
                 error, None if error is None else c.target(ERROR_RATE).met(error))


def _decision(c: Inputs, frm: Step, to: Step) -> Decision:
    proceeded = any(p.pct == frm.percentage and p.ended_by is not None
                    and p.ended_by.to_pct == to.percentage for p in c.tl.periods)
    held = [e for e in c.tl.holds if e.from_pct == frm.percentage and e.to_pct == to.percentage]
    reasons = tuple(dict.fromkeys(r for e in held for r in e.reasons))
    return Decision(frm.name, to.name, proceeded, len(held), held[0].at if held else None, reasons)


def _share(saved, without) -> float | None:
    return 100.0 * saved / without if saved is not None and without else None


def _weeks(c: Inputs) -> tuple[tuple[CostWeek, ...], CostWeek]:
    """The weekly cost table: each week against its own baseline, and the total."""
    target = c.catalog.metrics[SAVINGS].thresholds["target"]
    met = lambda pct: None if pct is None else target.met(pct)
    weeks = []
    for k, summary in enumerate(c.data.weeks, 1):
        fig = cost_figures(c.catalog, summary.cohort("canary"), c.baseline(summary)[0])
        pct = _share(fig.saved, fig.without_skills)
        weeks.append(CostWeek(fig.with_skills, fig.without_skills, fig.saved, pct, met(pct), k,
                              summary.window))
    add = lambda values: sum(values) if weeks and None not in values else None
    with_ = add([w.with_skills for w in weeks])
    without, saved = add([w.without_skills for w in weeks]), add([w.saved for w in weeks])
    pct = _share(saved, without)
    return tuple(weeks), CostWeek(with_, without, saved, pct, met(pct))


def _criteria(c: Inputs, phases, sla: tuple[Line, ...], total: CostWeek) -> dict[str, Criterion]:
    can, dep = c.main.cohort("canary"), c.main
    err = can.value(ERROR_RATE)
    p95_met = next(l.met for l in sla if l.key == "p95")
    return {
        "AC#1": Criterion(all(p.complete for p in phases) if phases else False,
                          phases={p.step: p.complete for p in phases}),
        "AC#4": Criterion(p95_met, can.value(P95)),
        "AC#5": Criterion(total.met, total.savings_pct),
        "AC#6": Criterion(None if err is None else c.target(ERROR_RATE).met(err), err),
        "AC#9": Criterion(all_met(sla), dep.uptime.percent),
    }


def _performance(c: Inputs, sla: tuple[Line, ...]) -> Performance:
    dep = c.main
    can = dep.cohort("canary")
    minutes = dep.window.span.total_seconds() / 60
    return Performance(can.p50, can.value(P95), can.p99, can.max,
                       next(l.met for l in sla if l.key == "p95"),
                       dep.requests / minutes if minutes else None, dep.peak_per_minute)


def build(c: Inputs) -> ReviewReport:
    tl, at = c.tl, c.plan.at
    steps = [s for s in c.state.ladder.steps if s.percentage > 0]
    phases = tuple(_phase(c, s) for s in steps)
    dep = c.main
    can = dep.cohort("canary")
    weeks, total = _weeks(c)
    full = phases[-1] if phases else None
    sla = sla_lines(c.catalog, dep)
    err = can.value(ERROR_RATE)
    success = 100.0 - err if err is not None else None
    ac = _criteria(c, phases, sla, total)
    rolled_back = tl.current is not None and tl.current.pct == 0 and bool(tl.rollbacks)
    ended = max((p.completed for p in phases if p.completed), default=None) or at
    up = dep.uptime
    return ReviewReport(
        header=c.header("Post-Deployment Review"), deployment_start=tl.start,
        status="rollback" if rolled_back else "successful" if ac["AC#1"].met else "partial",
        phases=phases, decisions=tuple(_decision(c, a, b) for a, b in zip(steps, steps[1:])),
        total_duration=ended - tl.start if tl.start else None,
        performance=_performance(c, sla),
        post_error_rate=full.error_rate if full and full.started else err,
        skill_errors=err, timeouts=can.value(TIMEOUTS), weeks=weeks, weeks_total=total,
        baseline_source=c.baseline()[1], models=model_mix(can),
        token_reduction=can.value(TOKENS), sla=sla, success_rate=success,
        # 100 minus the error-rate target: "> 98 %" successful
        success_met=None if success is None else
        Condition(">", 100 - c.target(ERROR_RATE).value).met(success),
        uptime=UptimeFacts(up.percent, up.method,
                           len(up.outages) if up.outages is not None else None, up.down_minutes),
        critical=tuple(e for e in tl.rollbacks if e.kind == ABORTED and severity(e) in PAGING),
        ac=ac)

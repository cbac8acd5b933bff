"""The rollout reports: every number from the history and the report data, every
met / not-met decided here. Pure: no I/O, no clock.

    plan(kind, state, history, at, length) -> Plan      what to fetch (plan.py)
    Measured.collect(plan, summaries, series)           what the source answered
    build(plan, state=, history=, catalog=, data=, gate=) -> a report (typed, frozen)
    report.to_markdown(chart[, template]) / render_json(report, chart)   the output edge

One module per kind (seeds: 003 playbook, 002 story, 000 review template):
    daily   the playbook's daily report (Canary Report - Day N)
    sla     SLA validation (AC#9): uptime, share under 5 s / 10 s, p95, p99, error rate
    cost    cost validation (AC#5): savings against the target, cost with / without skills,
            token reduction, model distribution
    final   the playbook's final validation checklist (Day 13)
    review  the post-deployment review, pre-filled (written into the seed's template by
            review_template.py)
and the shared pieces: timeline.py (the history digested), model.py (lines, header,
inputs), markdown.py, chart.py (the SVG timeline), summaries.py (what a source measured).
"""
from __future__ import annotations

import json
import math

from rollout.core.catalog import Catalog
from rollout.core.reports import cost, daily, final, review, sla
from rollout.core.reports.model import Inputs, savings
from rollout.core.reports.names import ERROR_RATE, P95
from rollout.core.reports.plan import KINDS, SERIES_METRICS, Measured, Plan, Series, plan
from rollout.core.reports.sla import latency_limits
from rollout.core.reports.timeline import Timeline, timeline
from rollout.core.state import Event, FlagState

BUILDERS = {"daily": daily.build, "sla": sla.build, "cost": cost.build, "final": final.build,
            "review": review.build}
Report = daily.DailyReport | sla.SlaReport | cost.CostReport | final.FinalReport | review.ReviewReport


def build(p: Plan, *, state: FlagState, history: list[Event], catalog: Catalog, data: Measured,
          gate=None) -> Report:
    """The report `p.kind` asks for. `gate`: the GateResult over p.main (daily and final)."""
    return BUILDERS[p.kind](Inputs(p, state, history, catalog, data, timeline(state, history, p.at),
                                   gate))


def _clean(obj):
    """JSON has no NaN or infinity: such a number is null."""
    if isinstance(obj, float):
        return None if not math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def render_json(report: Report, chart: str | None = None) -> str:
    """The report for programs: the same data, every number unrounded."""
    data = report.to_json()
    if chart:
        data["chart"] = chart
    return json.dumps(_clean(data), indent=2, ensure_ascii=False)


__all__ = ["KINDS", "SERIES_METRICS", "ERROR_RATE", "P95", "Measured", "Plan", "Report", "Series",
           "Timeline", "build", "latency_limits", "plan", "render_json", "savings", "timeline"]

"""Markdown pieces every report shares: the head, the judged-lines table, the marks."""
from __future__ import annotations

from rollout.core.reports.model import Header, Line, Not
from rollout.core.state import format_utc
from rollout.core.tables import markdown_table
from rollout.core.units import format_threshold, format_value

MET = {True: "✅ met", False: "❌ not met", None: "⚠️ no data"}
MARK = {True: "✅", False: "❌", None: "⚠️"}
CHART_ALT = "Rollout timeline: percentage, error rate and p95 per cohort"


def target_text(target, unit: str) -> str:
    """A line's target for people: '< 5,000 ms', 'not > 150 %'."""
    if isinstance(target, Not):
        return f"not {format_threshold(target.rule, unit)}"
    return format_threshold(target, unit)


def lines_table(lines: tuple[Line, ...]) -> list[str]:
    return markdown_table(["Check", "Value", "Target", "Status", "Source"],
                          [[l.label, format_value(l.value, l.unit), target_text(l.target, l.unit),
                            MET[l.met], l.source + (f" — {l.note}" if l.note else "")]
                           for l in lines])


def head(h: Header, chart: str | None, baseline_source: str | None = None) -> list[str]:
    where = [f"`{h.flag}` at {h.applied}% ({h.step})"
             + (f" since {format_utc(h.step_since)}" if h.step_since else ""),
             f"window {h.window_text}"]
    if baseline_source:
        where.append(f"baseline: {baseline_source}")
    out = [f"## {h.title}", "", " · ".join(where)]
    if h.source_errors:
        out += ["", "⚠️ The metric source could not compute: "
                + "; ".join(f"{k}: {v}" for k, v in h.source_errors.items())]
    if chart:
        out += ["", f"![{CHART_ALT}]({chart})"]
    return out + [""]

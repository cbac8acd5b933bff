"""A GateResult as people read it: a terminal table, JSON, or the pull-request comment.

Only presentation; the decision is in gate.py.
"""
from __future__ import annotations

import json

from rollout.core.gate import ERROR, HOLD, INCONCLUSIVE, PASS, PROCEED, ROLLBACK, GateResult
from rollout.core.tables import markdown_table, md_escape as _md, text_table
from rollout.core.units import format_delta, format_value

ICON = {PASS: "✅", PROCEED: "✅", HOLD: "⚠️", INCONCLUSIVE: "⚠️", ERROR: "⚠️", ROLLBACK: "🛑"}
COLUMNS = ["Metric", "Canary", "Control", "Δ", "Target", "Threshold", "Verdict"]
BASELINE_COLUMN = "Pre-rollout baseline"    # beside Δ (vs control), when a baseline exists


def _title(check, catalog) -> str:
    if check.metric is None:
        return check.name.capitalize()
    metric = catalog.metrics.get(check.metric) if catalog else None
    title = metric.title if metric else check.metric
    if check.scope == "service":      # one value for the whole service, shown as Canary
        return f"{title} (service-wide)"
    return f"{title} vs control" if check.name.endswith(" vs control") else title


def _omitted(r: GateResult) -> str:
    return "Not judged: " + "; ".join(why for _, why in r.omitted) if r.omitted else ""


def _cells(check, catalog) -> list[str]:
    return [_title(check, catalog), format_value(check.canary, check.unit),
            format_value(check.control, check.unit), format_delta(check.delta, check.unit),
            check.target or "—", check.threshold or "—", check.verdict]


def row_cells(check, catalog) -> list[str]:
    """One check as every table of the gate shows it (terminal, pull-request comment, the
    status page of `rollout serve`): metric, canary, control, delta, target, threshold,
    verdict."""
    return _cells(check, catalog)


def baseline_cell(found) -> str:
    """A check's canary against the pre-rollout baseline (a BaselineComparison or None)."""
    return found.text() if found is not None else "—"


def _columns(r: GateResult) -> list[str]:
    return COLUMNS[:4] + [BASELINE_COLUMN] + COLUMNS[4:] if r.baseline else COLUMNS


def _row(r: GateResult, check, catalog, verdict: str) -> list[str]:
    """A check's cells with its verdict cell as given, and the baseline's when there is one."""
    cells = _cells(check, catalog)[:-1] + [verdict]
    if r.baseline:
        cells.insert(4, baseline_cell(r.baseline.of(check)))
    return cells


def _headline(r: GateResult) -> str:
    move = f"{r.step} → {r.next_step}" if r.next_step else r.step
    return f"{r.flag or 'flag'} at {move}: {r.verdict.upper()} ({r.code})"


def _window(r: GateResult) -> str:
    from rollout.core.state import format_utc as fmt

    if r.window_start and r.window_end:
        return f"metrics from {fmt(r.window_start)} to {fmt(r.window_end)}"
    return f"as of {fmt(r.at)}" if r.at else ""


def render_json(r: GateResult) -> str:
    return json.dumps(r.to_json(), indent=2, ensure_ascii=False)


def render_table(r: GateResult, catalog=None) -> str:
    out = [_headline(r) + (f"  ({_window(r)})" if _window(r) else "")]
    out += [r.baseline.description] if r.baseline else []
    out += [""] + text_table(_columns(r), [_row(r, c, catalog, f"{c.verdict} ({c.code})")
                                           for c in r.checks])
    out += ["", "reasons:"] + [f"  {c.verdict:<12} {c.code:<22} {c.reason}" for c in r.checks]
    out += [_omitted(r)] if r.omitted else []
    return "\n".join(out)


def render_markdown(r: GateResult, catalog=None) -> str:
    """The pull-request comment: the playbook's metric table, then every reason."""
    out = [f"### {ICON[r.verdict]} Rollout gate: `{r.flag or 'flag'}` "
           f"{r.step + (' → ' + r.next_step if r.next_step else '')}: **{r.verdict.upper()}** "
           f"(`{r.code}`)", ""]
    if _window(r):
        out += [f"_{_window(r)}_", ""]
    if r.baseline:
        out += [f"_{_md(r.baseline.description)}_", ""]
    verdict = lambda c: f"{ICON[c.verdict]} {c.verdict} `{c.code}`"
    out += markdown_table(_columns(r), [_row(r, c, catalog, verdict(c)) for c in r.checks])
    out += ["", "**Reasons**", ""]
    out += [f"- {ICON[c.verdict]} **{_md(_title(c, catalog))}** ({c.verdict}, `{c.code}`): "
            f"{_md(c.reason)}" for c in r.checks]
    out += ["", f"_{_md(_omitted(r))}_"] if r.omitted else []
    return "\n".join(out) + "\n"


def render(r: GateResult, output: str, catalog=None) -> str:
    if output == "json":
        return render_json(r)
    if output == "markdown":
        return render_markdown(r, catalog)
    return render_table(r, catalog)

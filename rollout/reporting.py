"""`rollout report` end to end: read the history, fetch what the report's plan asks of
the report source, build the report (rollout.core.reports), write it and its chart.
The command line (rollout/cli/cmd_report.py) only parses and prints."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from rollout.core.state import FlagState
from rollout.errors import UserError

TEMPLATE = Path(__file__).resolve().parent / "data" / "post_deployment_review.md"


@dataclass(frozen=True)
class ReportRequest:
    kind: str
    state: FlagState
    at: datetime                    # as of this time; with `latest`, the fallback
    latest: bool = False            # as of the newest event of the metric source instead
    length: timedelta | None = None     # --window
    store_url: str = ""
    history_url: str | None = None
    metrics_url: str | None = None
    output: str = "markdown"        # markdown | json
    output_dir: Path | None = None
    chart: Path | None = None
    no_chart: bool = False


def fetch(plan, source, catalog):
    """What the report source answers to `plan`: every window and series it asks for."""
    from rollout.core import reports

    summaries = source.summaries(catalog, plan.windows, reports.latency_limits(catalog))
    series = {name: source.series(catalog, s.window.start, s.window.end, s.bucket,
                                  reports.SERIES_METRICS)
              for name, s in plan.series.items()}
    return reports.Measured.collect(plan, summaries, series)


def make_report(kind: str, state: FlagState, history, source, catalog, at: datetime,
                length: timedelta | None = None, gate_source=None):
    """(plan, measured data, report) of `kind` as of `at`, from the history and a report
    source. `gate_source`: the metric source the daily and final reports' gate judges with."""
    from rollout.core import reports
    from rollout.gate_run import gate_result

    plan = reports.plan(kind, state, history, at, length)
    data = fetch(plan, source, catalog)
    gate = None
    if kind in ("daily", "final") and gate_source is not None:
        gate = gate_result(state, reports.timeline(state, history, at).pct, history, gate_source,
                           at, plan.main.span, catalog)
    report = reports.build(plan, state=state, history=history, catalog=catalog, data=data, gate=gate)
    return plan, data, report


def write_report(req: ReportRequest) -> str:
    """Build the report `req` asks for and write it (and its chart); returns what to print:
    the report itself, or the paths written under --output-dir."""
    from rollout.adapters.metrics import open_source
    from rollout.adapters.reportdata import open_report_source
    from rollout.adapters.store import open_store
    from rollout.core import reports
    from rollout.core.catalog import load_catalog
    from rollout.core.reports import chart as timeline_chart

    catalog = load_catalog()
    source = open_report_source(req.metrics_url, req.store_url)
    at = req.at
    if req.latest:
        # the newest event, plus a second: windows end before `at`
        at = (source.latest() or at).replace(microsecond=0) + timedelta(seconds=1)
    with open_store(req.store_url, req.history_url) as store:
        history = store.history(req.state.flag, until=at)
    gate_source = open_source(req.metrics_url, req.store_url) \
        if req.kind in ("daily", "final") else None
    plan, data, report = make_report(req.kind, req.state, history, source, catalog, at,
                                     req.length, gate_source)
    stem = f"{req.kind}-{req.state.flag}-{at.strftime('%Y-%m-%d')}"
    out_file = (req.output_dir / f"{stem}.{'json' if req.output == 'json' else 'md'}"
                if req.output_dir else None)
    chart = req.chart or (req.output_dir / f"{stem}.svg" if req.output_dir and not req.no_chart else None)
    link = None
    if chart:
        w = plan.chart.window
        _write(chart, timeline_chart.render(req.state.flag, reports.timeline(req.state, history, at),
                                            list(data.chart), catalog, w.start, w.end,
                                            (plan.main.start, plan.main.end),
                                            f"{req.state.flag}: {report.header.title}"))
        link = os.path.relpath(chart, out_file.parent) if out_file else str(chart)
    if req.output == "json":
        text = reports.render_json(report, str(chart) if chart else None) + "\n"
    elif req.kind == "review":
        text = report.to_markdown(link, TEMPLATE.read_text(encoding="utf-8"))
    else:
        text = report.to_markdown(link)
    if not out_file:
        return text
    _write(out_file, text)
    return f"{out_file}\n" + (f"{chart}\n" if chart else "")


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror})") from None

"""rollout report: the playbook's reports, every number from the history and the metrics."""
from __future__ import annotations

import argparse
from pathlib import Path

from rollout.cli.common import add_flags_dir, add_store
from rollout.errors import EXIT_OK

KINDS = ("daily", "sla", "cost", "final", "review")
TEMPLATE = Path(__file__).resolve().parent.parent / "data" / "post_deployment_review.md"

EPILOG = """\
kinds:
  daily   the playbook's daily report: requests with skills, error rate / response time /
          cost per request against the control baseline, success rate, issues detected,
          and a recommendation decided by the gate (proceed / hold / rollback)
  sla     SLA validation (AC#9): uptime >= 99.9 %, share of requests under 5 s and 10 s,
          p95, p99, error rate, each met / not met, and PASS / FAIL
  cost    cost validation (AC#5): savings against the 35 % target, cost with and without
          skills, total savings, token reduction, model distribution
  final   the final validation checklist (Day 13), each criterion decided from data
  review  the post-deployment review template, pre-filled; what only people know stays blank

windows (all end at --at):
  daily 24h, sla 24h, cost 48h: but not before the current step began, unless --window
  is given; final: the current step (the 48 h intensive watch at 100 %); review: from the
  first live step on. When a window has too few control requests (at 100 % it has none),
  the control cohort of the 7 days before the rollout began to --at is the baseline.

examples:
  rollout report daily skills_rollout
  rollout report sla skills_rollout --window 48h
  rollout report cost skills_rollout --metrics newrelic://1234567 --output json
  rollout report final skills_rollout --output-dir reports          writes reports/final-....md + .svg
  rollout drill --store sqlite:///drill.db
  rollout report review skills_rollout --store sqlite:///drill.db --at latest --chart review.svg

exit: 0 the report was written (whatever it says); 2 bad input (kind, flag, time, window);
4 the store or the metric source failed
"""


def register(sub) -> None:
    p = sub.add_parser("report", help="daily, SLA, cost, final and review reports from data",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=KINDS, metavar="KIND", help="one of: " + ", ".join(KINDS))
    p.add_argument("flag", help="flag name, e.g. skills_rollout")
    p.add_argument("--at", metavar="TIME",
                   help="report as of this ISO-8601 time (default now); 'latest': the newest "
                        "event in the metric source (after a drill, whose time ends in the past)")
    p.add_argument("--window", metavar="DURATION",
                   help="length of the report window for daily, sla and cost (e.g. 24h, 48h, 7d)")
    add_store(p, history=True)
    p.add_argument("--metrics", metavar="URL",
                   help="newrelic://ACCOUNT_ID or sqlite:///PATH (default: the events in the "
                        "sqlite store; or set ROLLOUT_METRICS)")
    add_flags_dir(p)
    p.add_argument("--output", "-o", choices=("markdown", "json"), default="markdown",
                   help="output format (default: markdown)")
    p.add_argument("--output-dir", metavar="DIR", type=Path,
                   help="write <kind>-<flag>-<date>.md|json and the chart .svg here instead of "
                        "printing the report")
    p.add_argument("--chart", metavar="PATH", type=Path,
                   help="write the timeline chart (SVG) here and link it from the report")
    p.add_argument("--no-chart", action="store_true", help="no chart, even with --output-dir")
    p.set_defaults(func=run)


def run(args) -> int:
    import os
    from datetime import timedelta

    from rollout.adapters.metrics import metrics_url, open_source
    from rollout.adapters.reportdata import open_report_source
    from rollout.adapters.store import open_store, store_url
    from rollout.cli.common import now, parse_time, parse_window
    from rollout.core import report_render, reports, timeline_svg
    from rollout.core.catalog import load_catalog
    from rollout.core.state import check_flag_name
    from rollout.errors import UserError
    from rollout.flagfiles import find_flag
    from rollout.gating import gate_result

    check_flag_name(args.flag)
    state = find_flag(args.flag, args.flags)
    length = None
    if args.window:
        length = parse_window(args.window)
    if args.no_chart and args.chart:
        raise UserError("--chart and --no-chart contradict each other")
    catalog = load_catalog()
    url = store_url(args.store)
    murl = metrics_url(args.metrics)
    source = open_report_source(murl, url)
    if args.at == "latest":
        at = source.latest() or now()
        at = at.replace(microsecond=0) + timedelta(seconds=1)   # windows end before `at`
    else:
        at = parse_time(args.at) if args.at else now()
    with open_store(url, args.history) as store:
        history = store.history(state.flag, until=at)
    plan = reports.plan(args.kind, state, history, at, length)
    summaries = source.summaries(catalog, plan.windows, reports.latency_limits(catalog))
    series = {name: source.series(catalog, w.start, w.end, bucket, reports.SERIES_METRICS)
              for name, (w, bucket) in plan.series.items()}
    gate = None
    if args.kind in ("daily", "final"):
        tl = reports.timeline(state, history, at)
        gate = gate_result(state, tl.pct, history, open_source(murl, url), at, plan.main.span, catalog)
    report = reports.build(plan, state=state, history=history, catalog=catalog,
                           summaries=summaries, series=series, gate=gate)

    stem = f"{args.kind}-{state.flag}-{at.strftime('%Y-%m-%d')}"
    out_file = (args.output_dir / f"{stem}.{'json' if args.output == 'json' else 'md'}"
                if args.output_dir else None)
    chart = args.chart or (args.output_dir / f"{stem}.svg"
                           if args.output_dir and not args.no_chart else None)
    link = None
    if chart:
        w, _ = plan.series["chart"]
        svg = timeline_svg.render(state.flag, reports.timeline(state, history, at),
                                  series["chart"], catalog, w.start, w.end,
                                  (plan.main.start, plan.main.end),
                                  f"{state.flag}: {report['title']}")
        _write(chart, svg)
        link = os.path.relpath(chart, out_file.parent) if out_file else str(chart)
        report["chart"] = str(chart)
    if args.output == "json":
        text = report_render.render_json(report) + "\n"
    else:
        template = TEMPLATE.read_text(encoding="utf-8") if args.kind == "review" else None
        text = report_render.render_markdown(report, link, template)
    if out_file:
        _write(out_file, text)
        print(out_file)
        if chart:
            print(chart)
    else:
        print(text, end="")
    return EXIT_OK


def _write(path: Path, text: str) -> None:
    from rollout.errors import UserError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror})") from None

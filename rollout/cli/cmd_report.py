"""rollout report: the playbook's reports, every number from the history and the metrics."""
from __future__ import annotations

import argparse
from pathlib import Path

from rollout.cli.common import add_flags_dir, add_store
from rollout.errors import EXIT_OK, UserError

KINDS = ("daily", "sla", "cost", "final", "review")     # rollout.core.reports.KINDS, kept light

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
    from rollout.adapters.metrics import metrics_url
    from rollout.adapters.store import store_url
    from rollout.cli.common import now, parse_time, parse_window
    from rollout.core.state import check_flag_name
    from rollout.flagfiles import find_flag
    from rollout.reporting import ReportRequest, write_report

    check_flag_name(args.flag)
    state = find_flag(args.flag, args.flags)
    length = parse_window(args.window) if args.window else None
    if args.no_chart and args.chart:
        raise UserError("--chart and --no-chart contradict each other")
    latest = args.at == "latest"
    at = parse_time(args.at) if args.at and not latest else now()
    print(write_report(ReportRequest(
        args.kind, state, at, latest, length, store_url(args.store), args.history,
        metrics_url(args.metrics), args.output, args.output_dir, args.chart, args.no_chart)), end="")
    return EXIT_OK

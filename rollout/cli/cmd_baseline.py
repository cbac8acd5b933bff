"""rollout baseline capture: record the control metrics of the days before the rollout
(playbook 003, "Baseline Metrics Captured") as `baseline` evidence in the history."""
from __future__ import annotations

import argparse

from rollout.cli.common import add_flags_dir, add_output, add_store
from rollout.errors import EXIT_HELD, EXIT_OK, UserError

EPILOG = """\
examples:
  rollout baseline capture skills_rollout --metrics newrelic://1234567 --store postgres://...
  rollout baseline capture skills_rollout --days 7 --at 2026-11-09T09:00Z --output json

Measures every catalog metric measured per request (error rate, response times, cost per
request, cache hit rate...) over the --days before --at (default: now), through the
metric source (--metrics or ROLLOUT_METRICS; New Relic: one NerdGraph request), and
appends a `baseline` row to the flag's history in --store (the production store, where
the readiness gate of the first step and the daily report read it).
Before the first step every request is a control request: when the window holds no
canary request, events without the cohort attribute count too; otherwise the baseline
is the control cohort alone. The capture fails (recorded, exit 1) below the catalog's
min_requests or when the source could not compute a metric.
exit: 0 recorded; 1 recorded as failed; 2 bad input; 4 the metric source or the store failed
"""


def register(sub) -> None:
    p = sub.add_parser("baseline", help="record the pre-rollout baseline of the control metrics",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = actions.add_parser("capture", help="measure and record the baseline", description=__doc__,
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("flag", metavar="FLAG", help="flag whose history records it, e.g. skills_rollout")
    c.add_argument("--days", type=int, default=7,
                   help="days before --at to measure (default 7, the playbook's)")
    c.add_argument("--metrics", metavar="URL",
                   help="metric source: newrelic://ACCOUNT_ID[?region=eu] or sqlite:///PATH "
                        "(default: ROLLOUT_METRICS, else the events in the sqlite store)")
    c.add_argument("--at", metavar="TIME", help="end of the window, e.g. 2026-11-09T09:00Z "
                                               "(default: now)")
    add_store(c, history=True)
    add_flags_dir(c)
    add_output(c)
    c.set_defaults(func=run)


def run(args) -> int:
    from rollout.adapters.store import store_url
    from rollout.baseline import capture_and_record
    from rollout.cli.common import actor, now, parse_time, print_json, print_table
    from rollout.core.catalog import load_catalog
    from rollout.core.units import format_value
    from rollout.flagfiles import current_commit, find_flag

    if not 1 <= args.days <= 90:
        raise UserError(f"--days {args.days}: expected a whole number of days from 1 to 90")
    state = find_flag(args.flag, args.flags)
    at = parse_time(args.at) if args.at else now()
    if at > now():
        raise UserError(f"--at {args.at}: in the future; a baseline measures days that passed")
    catalog = load_catalog()
    event, evidence = capture_and_record(state, store_url(args.store), args.history,
                                         args.metrics, catalog, days=args.days, at=at,
                                         clock=now, commit=current_commit(),
                                         actor=actor())
    if args.output == "json":
        print_json(event.to_json())
    else:
        units = evidence["units"]
        print_table(["metric", "baseline"],
                    [[catalog.metrics[name].title, format_value(v, units[name])]
                     for name, v in evidence["values"].items()])
        print(f"\n{event.reasons[0]}; {evidence['note']}")
        for problem in evidence["problems"]:
            print(f"problem: {problem}")
    return EXIT_OK if evidence["verdict"] == "pass" else EXIT_HELD

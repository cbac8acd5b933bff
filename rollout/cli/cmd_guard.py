"""rollout guard: evaluate the rollback triggers of every live flag; roll back on a breach."""
from __future__ import annotations

import argparse
import sys
import time

from rollout.cli.common import add_flags_dir, add_output, add_store
from rollout.errors import EXIT_EXTERNAL, EXIT_OK, EXIT_ROLLBACK, ExternalError, UserError

EPILOG = """\
examples:
  rollout guard --once                                   one evaluation (what CI runs every 5 min)
  rollout guard --interval 60 --metrics newrelic://      a long-running guard
  rollout guard --once --output json

For every flag above 0 %: judge the applied step with the gate on the step's own data
(docs/judge.md: evidence accumulates over the step, no window, no request floor). A held
step on evidence of a hold band or a regression against control (reason codes HOLD_BAND,
REGRESSION_VS_CONTROL) gets a SEV3 "hold and investigate" on Slack, once per step and
code. When a check says rollback (a CUSUM chart crossed a playbook rollback line, a cost
spike, a service-level trigger), the guard at once
  1. sets the flag to 0 % in the store and records an abort for the committed revision
     (reconcile will not re-apply it until a new commit or `rollout retry`);
  2. opens a pull request setting the state file to 0 % (GITHUB_TOKEN, GITHUB_REPOSITORY),
     posts to Slack (SLACK_WEBHOOK_URL) and pages for SEV1/SEV2 (PAGERDUTY_ROUTING_KEY).
A failing notifier never blocks or undoes the rollback: it is reported and retried on
the next run. Held steps (not enough evidence, the metric source down) are not rolled back.
exit: 0 nothing to do; 3 a rollback happened; 4 the store failed, or a notification failed
"""


def register(sub) -> None:
    p = sub.add_parser("guard", help="roll back live flags whose rollback triggers fire",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one evaluation, then exit (default)")
    mode.add_argument("--interval", type=float, metavar="SECONDS",
                      help="evaluate every SECONDS until interrupted")
    p.add_argument("--count", type=int, metavar="N", help="with --interval: stop after N runs")
    p.add_argument("--window", metavar="DURATION",
                   help="judge at most the last DURATION of each step (default: the whole step)")
    p.add_argument("--metrics", metavar="URL",
                   help="metric source (default: the events in the sqlite store)")
    add_store(p, history=True)
    add_flags_dir(p)
    add_output(p)
    p.set_defaults(func=run)


def print_outcomes(outcomes, output: str) -> None:
    from rollout.cli.common import print_json, print_table

    if output == "json":
        print_json([o.to_json() for o in outcomes])
        return
    print_table(["flag", "action", "at", "severity", "reasons"],
                [[o.flag, o.action, "-" if o.from_pct is None else f"{o.from_pct}%",
                  o.severity or "-", "; ".join(o.reasons)] for o in outcomes])
    for o in outcomes:
        for channel, what in o.deliveries.items():
            stream = sys.stderr if what.startswith("FAILED") else sys.stdout
            print(f"  {o.flag} {channel}: {what}", file=stream)


def exit_code(outcomes) -> int:
    if any(o.action == "rolled_back" for o in outcomes):
        return EXIT_ROLLBACK
    if any(w.startswith("FAILED") for o in outcomes for w in o.deliveries.values()):
        return EXIT_EXTERNAL
    return EXIT_OK


def run(args) -> int:
    from rollout.adapters.metrics import open_source
    from rollout.adapters.store import open_store, store_url
    from rollout.cli.common import actor, now, parse_window
    from rollout.flagfiles import current_commit, load_flags
    from rollout.guard import Notifiers, guard_flag

    window = parse_window(args.window) if args.window else None
    if args.interval is not None and args.interval <= 0:
        raise UserError("--interval: expected a positive number of seconds")
    url = store_url(args.store)
    codes, runs = set(), 0
    while True:
        try:
            states = load_flags(args.flags)
            notifiers = Notifiers.from_env()
            with open_store(url, args.history) as store:
                source = open_source(args.metrics, url)
                outcomes = [guard_flag(s, store, source, notifiers, now(), window=window,
                                       commit=current_commit(), actor=actor()) for s in states]
            print_outcomes(outcomes, args.output)
            codes.add(exit_code(outcomes))
        except ExternalError as exc:
            if args.interval is None:
                raise
            # a long-running guard outlives an outage of the store or of New Relic
            print(f"rollout guard: {exc}", file=sys.stderr)
            codes.add(EXIT_EXTERNAL)
        runs += 1
        if args.interval is None or (args.count and runs >= args.count):
            # a rollback is the news, even if a later run could not reach a system
            return next((c for c in (EXIT_ROLLBACK, EXIT_EXTERNAL) if c in codes), EXIT_OK)
        sys.stdout.flush()
        time.sleep(args.interval)

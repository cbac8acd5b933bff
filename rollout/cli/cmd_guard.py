"""rollout guard: evaluate the rollback triggers of every live flag; roll back on a breach."""
from __future__ import annotations

import argparse
import sys
import time

from rollout.cli.common import add_flags_dir, add_output, add_store, duration_arg, number_arg
from rollout.errors import EXIT_EXTERNAL, EXIT_OK, EXIT_ROLLBACK, EXIT_USAGE, ExternalError

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
the next run; all notifications of a run share 20 s (ROLLOUT_NOTIFY_DEADLINE). A flag
store that serves another value than the history's is put back first (drift, alerted).
Held steps (not enough evidence, the metric source down) are not rolled back, but a guard that
could not judge a live flag says so: exit 4. One invalid flag file does not stop the
others from being judged; it is reported after them (exit 2).
exit: 3 a rollback happened (wins over everything); 4 an outside system failed (the
metric source or the store for a live flag, a notification, drift); 2 a flag file is
invalid; 0 nothing to do
"""


def register(sub) -> None:
    p = sub.add_parser("guard", help="roll back live flags whose rollback triggers fire",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one evaluation, then exit (default)")
    mode.add_argument("--interval", type=number_arg(0, 86400, low_open=True), metavar="SECONDS",
                      help="evaluate every SECONDS (up to a day) until interrupted")
    p.add_argument("--count", type=number_arg(1, 1e9, integer=True), metavar="N",
                   help="with --interval: stop after N runs (N >= 1)")
    p.add_argument("--window", metavar="DURATION", type=duration_arg,
                   help="judge at most the last DURATION of each step (default: the whole step)")
    p.add_argument("--metrics", metavar="URL",
                   help="metric source (default: the events in the sqlite store)")
    add_store(p, history=True)
    add_flags_dir(p)
    add_output(p)
    p.set_defaults(func=run)


def exit_code(outcomes, invalid=()) -> int:
    """A rollback is the news (3), then anything outside that failed (4: a live flag not
    judged, a notification not sent, drift), then invalid flag files (2)."""
    from rollout.deliveries import failed

    if any(o.action == "rolled_back" for o in outcomes):
        return EXIT_ROLLBACK
    if any(o.blind or o.drift or failed(o.deliveries) for o in outcomes):
        return EXIT_EXTERNAL
    return EXIT_USAGE if invalid else EXIT_OK


def run(args) -> int:
    from rollout.adapters.store import store_url
    from rollout.cli.common import actor, notify_deadline, now, print_outcomes
    from rollout.flagfiles import current_commit, load_flags_lenient
    from rollout.guard_run import run_guard

    url = store_url(args.store)
    deadline = notify_deadline()
    codes, runs = set(), 0
    while True:
        try:
            states, invalid = load_flags_lenient(args.flags)
            outcomes = run_guard(states, url, args.history, args.metrics, window=args.window,
                                 clock=now, commit=current_commit(), actor=actor(),
                                 notify_deadline=deadline)
            print_outcomes(outcomes, args.output, invalid)
            codes.add(exit_code(outcomes, invalid))
        except ExternalError as exc:
            if args.interval is None:
                raise
            # a long-running guard outlives an outage of the store or of New Relic
            print(f"rollout guard: {exc}", file=sys.stderr)
            codes.add(EXIT_EXTERNAL)
        runs += 1
        if args.interval is None or (args.count and runs >= args.count):
            # a rollback is the news, even if a later run could not reach a system
            return next((c for c in (EXIT_ROLLBACK, EXIT_EXTERNAL, EXIT_USAGE) if c in codes),
                        EXIT_OK)
        sys.stdout.flush()
        time.sleep(args.interval)

"""rollout reconcile: apply the committed state of every flag to the flag store."""
from __future__ import annotations

import argparse
import sys

from rollout.cli.common import add_flags_dir, add_output, add_store
from rollout.errors import EXIT_EXTERNAL, EXIT_HELD, EXIT_OK, EXIT_ROLLBACK

EPILOG = """\
examples:
  rollout reconcile                                  into .rollout/flags.db
  rollout reconcile --dry-run                        decide and print, write nothing
  rollout reconcile --store postgres://rollout@db/prod --metrics newrelic://

For each flag: no change -> nothing; a step down -> applied at once; one step up ->
applied when the current step's soak is served and (from a live step) the gate says
proceed; otherwise held or refused, with reasons, recorded in the history. Running it
twice is safe: the second run changes nothing. An aborted revision is not re-applied
until a new commit changes the file or `rollout retry` clears the abort. A store that
serves another value than the history's last change is put back first (drift: recorded,
alerted on Slack), and notifications an abort still owes are sent again.
exit: 0 applied or nothing to do; 1 a move was held or refused; 2 invalid input;
3 the gate says roll back (the step up is refused; the guard rolls back);
4 the store or the metric source failed, drift was found, or a notification failed
"""


def register(sub) -> None:
    p = sub.add_parser("reconcile", help="apply the committed state to the flag store",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_store(p, history=True)
    p.add_argument("--metrics", metavar="URL",
                   help="metric source for the gate (default: the events in the sqlite store)")
    p.add_argument("--dry-run", action="store_true", help="decide and print; write nothing")
    add_flags_dir(p)
    add_output(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from rollout.adapters.store import store_url
    from rollout.cli.common import actor, notifiers, now, print_json, print_table
    from rollout.deliveries import FAILED
    from rollout.flagfiles import current_commit, load_flags
    from rollout.reconcile import reconcile_store

    states = load_flags(args.flags)
    outcomes, store_label = reconcile_store(
        states, store_url(args.store), args.history, args.metrics, now(),
        commit=current_commit(), actor=actor(), dry_run=args.dry_run,
        notifiers=None if args.dry_run else notifiers())
    if args.output == "json":
        print_json({"store": store_label, "dry_run": args.dry_run,
                    "outcomes": [o.to_json() for o in outcomes]})
    else:
        prefix = "(dry run) " if args.dry_run else ""
        print_table(["flag", "action", "from", "to", "reasons"],
                    [[o.decision.flag, prefix + o.decision.action, f"{o.decision.from_pct}%",
                      f"{o.decision.to_pct}%", "; ".join(o.decision.reasons)] for o in outcomes])
    for o in outcomes:
        if o.drift:
            print(f"  {o.decision.flag} {o.drift}", file=sys.stderr)
        for channel, what in o.deliveries:
            stream = sys.stderr if what.startswith(FAILED) else sys.stdout
            print(f"  {o.decision.flag} {channel}: {what}", file=stream)
    if any(o.gate == "rollback" for o in outcomes):
        print("the gate says roll back: the step up was refused; `rollout guard` (or "
              "`rollout abort`) takes the flag to 0%", file=sys.stderr)
        return EXIT_ROLLBACK
    if any(o.source_failed or o.drift or any(w.startswith(FAILED) for _, w in o.deliveries)
           for o in outcomes):
        return EXIT_EXTERNAL
    held = any(o.decision.action in ("hold", "refuse") for o in outcomes)
    return EXIT_HELD if held else EXIT_OK

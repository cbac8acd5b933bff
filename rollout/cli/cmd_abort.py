"""rollout abort: roll a flag back to 0 % by hand, the guard's path (emergency method 1)."""
from __future__ import annotations

import argparse
import sys

from rollout.cli.common import add_flags_dir, add_output, add_store, required_reason
from rollout.errors import EXIT_EXTERNAL, EXIT_OK, EXIT_ROLLBACK

EPILOG = """\
examples:
  rollout abort skills_rollout --reason "SEV1: skills API failing for all canary users"
  rollout abort skills_rollout --reason "cost spike" --severity SEV3

Sets the flag to 0 % in the store at once, records an abort against the committed
revision (reconcile will not re-apply it), then opens the revert pull request and
notifies Slack and, for SEV1/SEV2, PagerDuty, exactly as the guard does. Run it again
after a failure: a flag already at 0 % gets the notifications its abort still owes.
exit: 3 rolled back; 0 nothing to do (already at 0 %); 1 another controller rolled it
back first; 2 bad input; 4 the store failed, or a notification failed (retried next run)
"""


def register(sub) -> None:
    p = sub.add_parser("abort", help="roll a flag back to 0%% now, by hand",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("flag", help="flag name")
    p.add_argument("--reason", required=True, help="why (goes into history, PR and messages)")
    p.add_argument("--severity", choices=("SEV1", "SEV2", "SEV3"), default="SEV2",
                   help="SEV1/SEV2 page PagerDuty, SEV3 notifies Slack only (default SEV2)")
    add_store(p, history=True)
    add_flags_dir(p)
    add_output(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from rollout.adapters.store import store_url
    from rollout.cli.common import actor, notifiers, now, print_outcomes
    from rollout.deliveries import FAILED, failed
    from rollout.flagfiles import current_commit, find_flag
    from rollout.manual import manual_abort

    reason = required_reason(args.reason)
    state = find_flag(args.flag, args.flags)
    out, owed = manual_abort(state, store_url(args.store), args.history, reason=reason,
                             severity=args.severity, notifiers=notifiers(), clock=now,
                             commit=current_commit(), actor=actor())
    if out is None:
        print(f"{state.flag} is already at 0%: nothing to abort")
        for channel, what in owed.items():
            print(f"  {state.flag} {channel}: {what}",
                  file=sys.stderr if what.startswith(FAILED) else sys.stdout)
        return EXIT_EXTERNAL if failed(owed) else EXIT_OK
    print_outcomes([out], args.output)
    return EXIT_ROLLBACK

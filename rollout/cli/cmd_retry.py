"""rollout retry: clear the abort of a flag's committed revision so reconcile may resume."""
from __future__ import annotations

import argparse

from rollout.cli.common import add_flags_dir, add_store, required_reason
from rollout.errors import EXIT_EXTERNAL, EXIT_OK

EPILOG = """\
examples:
  rollout retry skills_rollout --reason "provider outage over, error rate back to 0.4 %"

After the guard (or `rollout abort`) rolled a flag back, reconcile refuses to re-apply
the same committed revision. Either merge a new commit of the state file (the revert pull
request the guard opened, then a new phase change), or clear the abort with this
command: the next `rollout reconcile` climbs the ladder again toward the committed
percentage, one step at a time, each step with its soak and gate. The abort's PagerDuty
incident is resolved at once (or by the next command that touches the flag).
exit: 0 cleared; 2 no abort stands or bad input; 4 the store failed, or the resolve failed
"""


def register(sub) -> None:
    p = sub.add_parser("retry", help="clear an abort so reconcile may resume the revision",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("flag", help="flag name")
    p.add_argument("--reason", required=True, help="why it is safe to resume (recorded)")
    add_store(p, history=True)
    add_flags_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from rollout.adapters.store import store_url
    from rollout.cli.common import actor, notifiers, now
    from rollout.deliveries import failed
    from rollout.flagfiles import current_commit, find_flag
    from rollout.manual import clear_abort

    reason = required_reason(args.reason)
    state = find_flag(args.flag, args.flags)
    cleared, owed = clear_abort(state, store_url(args.store), args.history, reason=reason,
                                notifiers=notifiers(), clock=now, commit=current_commit(),
                                actor=actor())
    print(f"{state.flag}: abort of {cleared.at.isoformat(timespec='seconds')} cleared; "
          f"`rollout reconcile` climbs the ladder again toward {state.percentage}%, one step "
          f"at a time, with each step's soak and gate")
    for channel, what in owed.items():
        print(f"  {state.flag} {channel}: {what}")
    return EXIT_EXTERNAL if failed(owed) else EXIT_OK

"""rollout preflight: is the flag ready for its first step up? The phase-0 evidence its
file's `preflight:` block asks for, judged from the store's history (docs/preflight.md)."""
from __future__ import annotations

import argparse

from rollout.cli.common import add_flags_dir, add_output, add_store
from rollout.errors import EXIT_HELD, EXIT_OK

EPILOG = """\
examples:
  rollout preflight skills_rollout --store postgres://rollout@db/prod
  rollout preflight skills_rollout --output markdown >> "$GITHUB_STEP_SUMMARY"

For each piece of evidence the flag file asks for (loadtest, baseline, drill): missing,
failed, stale or passing, and the command that records it. The same judgement holds the
first step up in `rollout validate --base` and `rollout reconcile`.
exit: 0 ready (or the file asks for nothing); 1 not ready; 2 bad input; 4 the store failed
"""


def register(sub) -> None:
    p = sub.add_parser("preflight", help="is the flag's phase-0 evidence recorded, passing, fresh?",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("flag", metavar="FLAG", help="flag name, e.g. skills_rollout")
    p.add_argument("--at", metavar="TIME", help="judge as of this time (default: now)")
    add_output(p, ("table", "json", "markdown"))
    add_store(p, history=True)
    add_flags_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from rollout.cli.common import now, parse_time, print_json, print_table
    from rollout.flagfiles import find_flag
    from rollout.preflight import readiness_from_store

    state = find_flag(args.flag, args.flags)
    at = parse_time(args.at) if args.at else now()
    ready = readiness_from_store(state.preflight, state.flag, args.store, args.history, at)
    if args.output == "json":
        print_json({"flag": state.flag, "at": at.isoformat(), **ready.to_json()})
    elif args.output == "markdown":
        print(ready.to_markdown(state.flag))
    else:
        print_table(["evidence", "status", "required", "detail"],
                    [[c.kind, c.status, c.requirement.describe(), c.reason] for c in ready.checks])
        if not state.preflight:
            print(f"{state.path}: no preflight block: the first step needs no evidence")
        print("ready for the first step" if ready.ready else "NOT ready for the first step")
    return EXIT_OK if ready.ready else EXIT_HELD

"""rollout history: every applied change and every held, refused or aborted move of a flag."""
from __future__ import annotations

import argparse

from rollout.cli.common import add_output, add_store
from rollout.errors import EXIT_OK

EPILOG = """\
examples:
  rollout history skills_rollout
  rollout history skills_rollout --output json | jq '.[] | select(.kind == "aborted")'
"""


def register(sub) -> None:
    p = sub.add_parser("history", help="the append-only history of one flag",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("flag", help="flag name, e.g. skills_rollout")
    add_store(p, history=True)
    add_output(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from rollout.adapters.store import open_store, store_url
    from rollout.cli.common import print_json, print_table
    from rollout.core.state import check_flag_name

    check_flag_name(args.flag)
    with open_store(store_url(args.store), args.history) as store:
        events = store.history(args.flag)
    if args.output == "json":
        print_json([e.to_json() for e in events])
        return EXIT_OK
    if not events:
        print(f"no history for {args.flag}")
        return EXIT_OK
    pct = lambda v: "-" if v is None else f"{v}%"
    print_table(["time (UTC)", "kind", "from", "to", "actor", "commit", "reasons"],
                [[e.at.strftime("%Y-%m-%d %H:%M:%S"), e.kind, pct(e.from_pct), pct(e.to_pct),
                  e.actor, e.commit[:10], "; ".join(e.reasons)] for e in events])
    return EXIT_OK

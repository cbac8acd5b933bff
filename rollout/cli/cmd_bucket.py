"""rollout bucket: which bucket (1-100) a user falls in, and whether the flag is on for them."""
from __future__ import annotations

import argparse

from rollout.cli.common import add_flags_dir, add_store, number_arg
from rollout.errors import EXIT_OK

EPILOG = """\
examples:
  rollout bucket skills_rollout user-42
  rollout bucket skills_rollout user-42 --percentage 25     what-if at 25 %

The bucket is sha256(user id) -> first 8 hex digits -> % 100 + 1, as the application's
RolloutManager computes it; the user is in when bucket <= percentage. Without
--percentage the applied value from the store is used (the committed one if the flag
was never applied). Test vectors: rollout/data/bucket_vectors.json.
"""


def register(sub) -> None:
    p = sub.add_parser("bucket", help="a user's bucket and whether the flag is on for them",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("flag", help="flag name")
    p.add_argument("user_id", metavar="USER_ID", help="the application's user id")
    p.add_argument("--percentage", type=number_arg(0, 100, integer=True), metavar="N",
                   help="evaluate at N %% instead (0..100)")
    add_store(p)
    add_flags_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from rollout.adapters.store import open_store, store_url
    from rollout.core.bucketing import bucket
    from rollout.flagfiles import find_flag

    state = find_flag(args.flag, args.flags)
    if args.percentage is not None:
        pct, source = args.percentage, "what-if"
    else:
        with open_store(store_url(args.store)) as store:
            applied = store.read(state.flag)
        pct, source = (applied.percentage, "applied") if applied else (state.percentage, "committed")
    b = bucket(args.user_id)
    verdict = "in" if b <= pct else "out"
    print(f"{args.flag}: user {args.user_id!r} is in bucket {b}; {verdict} at {pct}% ({source})")
    return EXIT_OK

"""rollout changed: the flags whose committed percentage differs from a git revision."""
from __future__ import annotations

import argparse

from rollout.cli.common import add_flags_dir
from rollout.errors import EXIT_OK

EPILOG = """\
examples:
  rollout changed --base origin/main
  for flag in $(rollout changed --base origin/main); do rollout gate "$flag"; done

Prints one flag name per line (nothing when no percentage changed).
"""


def register(sub) -> None:
    p = sub.add_parser("changed", help="list flags whose percentage differs from --base",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", metavar="REF", required=True, help="git revision to compare with")
    add_flags_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from rollout.flagfiles import flag_at_ref, flag_paths, load_flag

    for path in flag_paths(args.flags):
        new = load_flag(path)
        old = flag_at_ref(path, args.base)
        if old is None or old.percentage != new.percentage:
            print(new.flag)
    return EXIT_OK

"""rollout store init: create or migrate the flag store's tables (safe to run again)."""
from __future__ import annotations

import argparse

from rollout.cli.common import add_store
from rollout.errors import EXIT_OK

EPILOG = """\
examples:
  rollout store init                                     .rollout/flags.db (SQLite)
  rollout store init --store postgres://rollout@db.internal/prod
  ROLLOUT_STORE=postgres://... rollout store init        the same, from the environment
  rollout store init --store https://legal-platform-web.onrender.com \\
      --history postgres://rollout@db.internal/prod      the history of the flag API

Applies the numbered migrations the database lacks (feature_flags, the append-only
rollout_history, rollout_intents, rollout_deliveries, rollout_leases, rollout_hook_calls;
rollout/adapters/store/migrations.py, the same for both), in one transaction, recorded in
schema_migrations; a second run applies nothing. PostgreSQL: the other commands refuse
a database that has not been initialised. SQLite: every command migrates the file when
it opens it (a file of an earlier release is adopted). http(s): the flag API needs no
tables; its history store (--history or ROLLOUT_HISTORY, required) is initialised instead.
exit: 0 done or already up to date; 2 invalid URL; 4 the database failed
"""


def register(sub) -> None:
    p = sub.add_parser("store", help="set up the flag store (store init)",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="store_action", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="create or migrate the store's tables",
                              description=__doc__, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_store(init, history=True)
    init.set_defaults(func=run)


def run(args) -> int:
    import os

    from rollout.adapters.store import init_store, store_url
    from rollout.adapters.store.migrations import LATEST
    from rollout.errors import UserError

    url = store_url(args.store)
    if url.split(":", 1)[0].lower() in ("http", "https"):
        print(f"{url}: the flag API needs no tables")
        url = args.history or os.environ.get("ROLLOUT_HISTORY")
        if not url:
            raise UserError("an http(s) flag store needs --history URL (or ROLLOUT_HISTORY): "
                            "the durable store of its history")
    label, applied = init_store(url)
    if applied:
        print(f"{label}: applied " + "; ".join(f"{n:04d} {name}" for n, name in applied))
    else:
        print(f"{label}: up to date at migration {LATEST}")
    return EXIT_OK

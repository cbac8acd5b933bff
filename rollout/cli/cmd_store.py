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

PostgreSQL: applies the numbered migrations the database lacks (feature_flags, the
append-only rollout_history, rollout_intents, rollout_deliveries), in one transaction,
recorded in schema_migrations; a second run applies nothing. The other commands refuse
a PostgreSQL database that has not been initialised. SQLite: creates the tables (the
other commands do that too). http(s): the flag API needs no tables; its history store
(--history or ROLLOUT_HISTORY, required) is initialised instead.
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


def init_store(url: str) -> str:
    """Create or migrate the tables of one SQL store; returns what was done, in one line."""
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("postgres", "postgresql"):
        from rollout.adapters.store.postgres import LATEST, PostgresStore, migrate
        with PostgresStore(url, require_schema=False) as store:
            applied = store._db("migrating", migrate, store.conn)
        if not applied:
            return f"{store.url}: up to date at migration {LATEST}"
        return f"{store.url}: applied " + "; ".join(f"{n:04d} {name}" for n, name in applied)
    from rollout.adapters.store import open_store
    with open_store(url) as store:   # SQLite creates its tables on open
        return f"{store.url}: tables ready"


def run(args) -> int:
    import os

    from rollout.adapters.store import store_url
    from rollout.errors import UserError

    url = store_url(args.store)
    if url.split(":", 1)[0].lower() in ("http", "https"):
        print(f"{url}: the flag API needs no tables")
        url = args.history or os.environ.get("ROLLOUT_HISTORY")
        if not url:
            raise UserError("an http(s) flag store needs --history URL (or ROLLOUT_HISTORY): "
                            "the durable store of its history")
    print(init_store(url))
    return EXIT_OK

"""rollout events import: load SkillExecution events for the embedded (sqlite) metric source.

FILE is NDJSON: one JSON object per line with the New Relic SkillExecution attributes
  timestamp      ISO-8601 with a zone, e.g. 2026-11-20T09:00:00.123Z   (required)
  userId, skillId                                   strings             (required)
  cohort         canary (flag on) or control (flag off)                 (required)
  success        true / false                                           (required)
  executionTime  milliseconds, >= 0                                     (required)
  model          string;  cost  USD >= 0;  tokenSavings  percent
  cacheHit, timedOut, fallback   true / false
Other attributes are ignored. Every line is checked first: one bad line and nothing is
imported (the first 10 bad lines are listed with their numbers). Then all events go in
one transaction. Importing is idempotent: each event is keyed by a hash of its content,
so importing the same file again (or overlapping exports) adds nothing.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from rollout.cli.common import add_store

EPILOG = """\
examples:
  rollout events import events.ndjson
  rollout events import export.ndjson --metrics sqlite:///.rollout/events.db

The events go into the table skill_events of the flag store's SQLite file (--store, default
sqlite:///.rollout/flags.db) unless --metrics sqlite:///PATH names another file.
"""


def register(sub) -> None:
    p = sub.add_parser("events", help="load raw events for the embedded metric source",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    events_sub = p.add_subparsers(dest="events_command", metavar="ACTION", required=True)
    imp = events_sub.add_parser("import", help="import an NDJSON file of SkillExecution events",
                                description=__doc__, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("file", metavar="FILE", type=Path, help="NDJSON file, one event per line")
    imp.add_argument("--metrics", metavar="URL",
                     help="sqlite:///PATH of the events database (default: the store's file)")
    add_store(imp)
    imp.set_defaults(func=run)


def run(args) -> int:
    import os

    from rollout.adapters.metrics.base import sqlite_events_path
    from rollout.adapters.metrics.sqlite_events import import_ndjson
    from rollout.adapters.store import store_url
    from rollout.errors import EXIT_OK, UserError

    env = os.environ.get("ROLLOUT_METRICS", "")
    url = args.metrics or (env if env.lower().startswith("sqlite:") else "") or store_url(args.store)
    if not url.lower().startswith("sqlite:"):
        raise UserError(f"events go into a SQLite file, got {url.split('://')[0]}://…; "
                        f"pass --metrics sqlite:///PATH")
    db = sqlite_events_path(url)
    added = import_ndjson(args.file, db)
    print(f"imported {added} new event{'s' * (added != 1)} from {args.file} into {db}")
    return EXIT_OK

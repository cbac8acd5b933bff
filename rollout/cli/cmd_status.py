"""rollout status: desired against applied, per flag, with soak and the last decision."""
from __future__ import annotations

import argparse

from rollout.cli.common import add_flags_dir, add_output, add_store
from rollout.errors import EXIT_OK

EPILOG = """\
examples:
  rollout status
  rollout status --store postgres://rollout@db/prod --output json
"""


def register(sub) -> None:
    p = sub.add_parser("status", help="desired, applied, step, soak and last decision per flag",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_store(p, history=True)
    add_flags_dir(p)
    add_output(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from rollout.adapters.store import open_store, store_url
    from rollout.cli.common import now, print_json, print_table
    from rollout.flagfiles import load_flags
    from rollout.status import status_document

    states = load_flags(args.flags)
    with open_store(store_url(args.store), args.history) as store:
        doc = status_document(states, store, now())
    if args.output == "json":
        print_json(doc)
        return EXIT_OK
    rows = doc["flags"]
    pct = lambda v: "-" if v is None else f"{v}%"
    print_table(
        ["flag", "desired", "applied", "step", "in step", "soak left", "last decision"],
        [[r["flag"], pct(r["desired"]), pct(r["applied"]) + ("" if r["in_sync"] else " *"),
          r["step"], r["time_in_step"] or "-", r["soak_remaining"] or "-",
          ("ABORTED: " + "; ".join(r["aborted"]["reasons"])) if r["aborted"] else
          (f"{r['last_decision']['kind']}: {'; '.join(r['last_decision']['reasons'])}"
           if r["last_decision"] else "-")] for r in rows])
    if any(not r["in_sync"] for r in rows):
        print("* applied differs from desired: run `rollout reconcile`")
    for r in rows:
        if r["drift"]:
            print(f"{r['flag']}: DRIFT: {r['drift']} (at the next `rollout reconcile` or "
                  f"`rollout guard`)")
    return EXIT_OK

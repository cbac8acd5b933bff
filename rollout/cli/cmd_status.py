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


def flag_status(state, store, at) -> dict:
    from rollout.core.drift import find_drift
    from rollout.core.rules import active_abort, soak_status
    from rollout.core.state import format_duration

    applied = store.read(state.flag)
    history = store.history(state.flag)
    have = applied.percentage if applied else None
    soak = soak_status(state, have or 0, history, at)
    step = state.ladder.step(have) if have is not None else None
    last = history[-1] if history else None
    abort = active_abort(history, state.flag, state.revision)
    drift = find_drift(applied, history, state.flag)
    return {
        "flag": state.flag,
        "desired": state.percentage,
        "applied": have,
        "in_sync": have == state.percentage,
        "step": step.name if step else (f"{have}% (off ladder)" if have is not None else "not applied"),
        "time_in_step": format_duration(soak.served) if soak.served is not None else None,
        "soak_remaining": (format_duration(soak.remaining) if soak.remaining is not None else None),
        "revision": state.revision,
        "aborted": ({"at": abort.at.isoformat(), "reasons": list(abort.reasons)} if abort else None),
        "last_decision": ({"at": last.at.isoformat(), "kind": last.kind, "from": last.from_pct,
                           "to": last.to_pct, "reasons": list(last.reasons)} if last else None),
        # the store serves another value than the history's last change (see reconcile)
        "drift": drift.reason if drift else None,
    }


def run(args) -> int:
    from rollout.adapters.store import open_store, store_url
    from rollout.cli.common import now, print_json, print_table
    from rollout.flagfiles import load_flags

    states = load_flags(args.flags)
    at = now()
    with open_store(store_url(args.store), args.history) as store:
        rows = [flag_status(s, store, at) for s in states]
    if args.output == "json":
        print_json({"at": at.isoformat(), "flags": rows})
        return EXIT_OK
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

"""rollout drill: rehearse the whole playbook on this machine, in compressed time."""
from __future__ import annotations

import argparse
import os
import tempfile

from rollout.cli.common import add_flags_dir, number_arg
from rollout.errors import EXIT_HELD, EXIT_OK, UserError

EPILOG = """\
examples:
  rollout drill                                 healthy: walks 0 -> 5 -> 25 -> 100
  rollout drill --fault error-rate --output json    the canary fails: must roll back
  rollout drill --fault provider-outage          New Relic down: must hold
  rollout drill --store sqlite:///drill.db && rollout status --store sqlite:///drill.db

Simulates the playbook's real soak times (72 h canary, 168 h beta, 48 h full) with
generated SkillExecution traffic (2,400 requests/hour at the canary step, a quarter of
that at later steps, users bucketed by the
real bucketing function) and runs the real reconcile, gate and guard code every guard
interval (30 simulated minutes). Faults start 24 h into the canary step:
  error-rate       canary errors at 12 % (rollback threshold > 5 %)
  latency          canary median latency 9 s (p95 rollback threshold > 10 s)
  provider-outage  the metric provider answers 503 from then on (must hold)
The store is an SQLite file (a fresh temporary one by default) without this flag in it,
or the staging stack's store (--store postgres://...): there the drill walks a flag of
its own (<flag>__drill_<time>_<random>, left at 0 % after), keeps its events in a
temporary file, and never touches a real flag. Notifications are not sent.
--record-in URL (with a staging --store) appends the outcome as a `drill` row to the
real flag's history in that store: the production store, where the readiness gate of
the first step reads "rollback procedures tested in staging" (docs/preflight.md).
exit: 0 the drill behaved as the playbook requires; 1 it did not (recorded as a failed
drill with --record-in); 2 bad input; 4 a store failed
"""


def register(sub) -> None:
    p = sub.add_parser("drill", help="rehearse the playbook in compressed time",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fault", choices=("none", "error-rate", "latency", "provider-outage"),
                   default="none", help="what goes wrong (default: none)")
    p.add_argument("--speed", type=number_arg(0, 1e9), default=0, metavar="N",
                   help="simulated seconds per real second (default 0: as fast as possible)")
    p.add_argument("--rate", type=number_arg(100, 1_000_000, integer=True), default=2400,
                   metavar="REQ_PER_HOUR",
                   help="generated requests per simulated hour (default 2400)")
    p.add_argument("--seed", type=number_arg(0, 2**32 - 1, integer=True), default=7,
                   help="random seed, 0..2^32-1 (default 7)")
    p.add_argument("--flag", default="skills_rollout", help="flag whose ladder to walk")
    p.add_argument("--store", metavar="URL",
                   help="sqlite:///PATH to keep the rehearsal (default: ROLLOUT_STORE if it is "
                        "sqlite, else a fresh temporary file), or the staging store "
                        "postgres://...")
    p.add_argument("--record-in", metavar="URL",
                   help="with a staging --store: record the outcome as `drill` evidence of "
                        "the real flag in this store (the production store)")
    add_flags_dir(p)
    p.add_argument("--output", "-o", choices=("table", "json"), default="table")
    p.set_defaults(func=run)


def expected(summary: dict) -> bool:
    fault = summary["fault"]
    if fault == "none":
        return summary["final_percentage"] == 100 and not summary["rolled_back"]
    if fault == "provider-outage":
        return not summary["rolled_back"] and summary["final_percentage"] == 5
    return summary["rolled_back"] and summary["final_percentage"] == 0


def run(args) -> int:
    from rollout.adapters.store import open_store
    from rollout.cli.common import now, print_json, print_table
    from rollout.drill import DrillConfig, run_drill
    from rollout.drill_staging import check_drill_store, is_staging_store, same_place
    from rollout.flagfiles import find_flag

    url = args.store or os.environ.get("ROLLOUT_STORE")
    check_drill_store(url, explicit=bool(args.store), record_in=args.record_in)
    if not url:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='rollout-drill-')}/drill.db"
    base = find_flag(args.flag, args.flags)
    cfg = DrillConfig(fault=args.fault, speed=args.speed, requests_per_hour=args.rate,
                      seed=args.seed)
    if args.record_in:
        if same_place(_label(url), _label(args.record_in)):
            raise UserError(f"--store and --record-in name the same database "
                            f"({_label(url)}): the drill runs in staging, its evidence goes "
                            f"to production")
        with open_store(args.record_in):
            pass        # a store that cannot be reached fails now, not after the drill
    if is_staging_store(url):
        summary = _staging_drill(base, url, cfg, args)
    else:
        with open_store(url) as store:
            if store.history(base.flag):
                raise UserError(f"store {url} already holds history for {base.flag}; "
                                f"a drill needs a store of its own")
            summary = run_drill(base, store, url, cfg, ends_by=now())
    ok = expected(summary)
    summary["as_expected"] = ok
    if args.record_in:
        _record(base, summary, ok, args)
    if args.output == "json":
        print_json(summary)
    else:
        print_table(["simulated time", "by", "action", "from", "to", "reasons"],
                    [[d["at"][:16].replace("T", " "), d["by"], d["action"], f"{d['from']}%",
                      f"{d['to']}%", "; ".join(d["reasons"])[:140]] for d in summary["decisions"]])
        print(f"\nfault {summary['fault']}: final {summary['final_percentage']}%, rolled back: "
              f"{summary['rolled_back']}, detection to rollback: "
              f"{summary['detection_to_rollback_ms']} ms; store {summary['store']}")
        if summary.get("recorded"):
            print(summary["recorded"])
        print("as the playbook requires" if ok else "NOT as the playbook requires")
    return EXIT_OK if ok else EXIT_HELD


def _staging_drill(base, url: str, cfg, args) -> dict:
    """The drill against the staging store: its own flag, its events in a temporary file."""
    import shutil
    from pathlib import Path

    from rollout.adapters.store import open_store
    from rollout.cli.common import now
    from rollout.drill import run_drill
    from rollout.drill_staging import drill_flag, leave_at_zero
    from rollout.flagfiles import flag_paths

    events_dir = tempfile.mkdtemp(prefix="rollout-drill-events-")
    try:
        with open_store(url) as store:
            state = drill_flag(base, now(), [p.stem for p in flag_paths(args.flags)])
            summary = run_drill(state, store, store.url, cfg, ends_by=now(), actor="drill",
                                events_url=f"sqlite:///{Path(events_dir) / 'events.db'}")
            leave_at_zero(store, state.flag, now(), actor="drill")
        summary["drill_flag"] = state.flag
        return summary
    finally:
        shutil.rmtree(events_dir, ignore_errors=True)


def _label(url: str) -> str:
    """A store URL as the store shows itself (no password), without connecting."""
    from rollout.drill_staging import is_staging_store

    if is_staging_store(url):
        from rollout.adapters.store.postgres import describe
        return describe(url)
    return url


def _record(base, summary: dict, ok: bool, args) -> None:
    from rollout.adapters.store import open_store
    from rollout.cli.common import actor, now
    from rollout.drill_staging import drill_event
    from rollout.flagfiles import current_commit

    event = drill_event(base, summary, ok, store_label=summary["store"],
                        drill_flag_name=summary["drill_flag"], at=now(),
                        commit=current_commit(), actor=actor(), seed=args.seed, rate=args.rate)
    with open_store(args.record_in) as store:
        store.record(event)
        summary["recorded"] = f"recorded as `drill` evidence of {base.flag} in {store.url}"

"""rollout drill: rehearse the whole playbook on this machine, in compressed time."""
from __future__ import annotations

import argparse
import os
import tempfile

from rollout.cli.common import add_flags_dir, number_arg
from rollout.errors import EXIT_HELD, EXIT_OK

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


def run(args) -> int:
    from rollout.cli.common import actor, now, print_json, print_table
    from rollout.drill import DrillConfig
    from rollout.drill_run import rehearse
    from rollout.drill_staging import check_drill_store
    from rollout.flagfiles import find_flag

    url = args.store or os.environ.get("ROLLOUT_STORE")
    check_drill_store(url, explicit=bool(args.store), record_in=args.record_in)
    if not url:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='rollout-drill-')}/drill.db"
    base = find_flag(args.flag, args.flags)
    cfg = DrillConfig(fault=args.fault, speed=args.speed, requests_per_hour=args.rate,
                      seed=args.seed)
    summary = rehearse(base, url, cfg, flags_dir=args.flags, record_in=args.record_in,
                       clock=now, actor=actor() if args.record_in else "")
    ok = summary["as_expected"]
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

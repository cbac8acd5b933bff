"""rollout validate: schema and ladder checks of the committed flag files."""
from __future__ import annotations

import argparse
from pathlib import Path

from rollout.cli.common import add_flags_dir, add_store
from rollout.errors import EXIT_HELD, EXIT_OK, UserError

EPILOG = """\
examples:
  rollout validate                                   every file in rollout/flags/
  rollout validate rollout/flags/skills_rollout.yaml
  rollout validate --base origin/main                judge the move a pull request makes
  rollout validate --base origin/main --metrics newrelic://
                                                     ...and run the gate for a step up

A move is legal when the percentage is unchanged, rises exactly one ladder step, or
goes down any number of steps (a rollback is always allowed). Soak time is checked by
`rollout reconcile` and `rollout gate`, which can read the store's history.
exit: 0 valid; 1 a move is refused (or, with --metrics, the gate holds); 2 invalid file;
with --metrics also 3 the gate says roll back, 4 the metric source failed
"""


def register(sub) -> None:
    p = sub.add_parser("validate", help="check flag files and the move a pull request makes",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", type=Path, metavar="FILE",
                   help="flag files (default: every file in --flags)")
    p.add_argument("--base", metavar="REF", help="git revision to judge the move from")
    p.add_argument("--metrics", metavar="URL",
                   help="with --base: run the gate for each step up (newrelic://, sqlite:///...)")
    add_store(p, history=True)        # with --metrics: the soak history the gate reads
    add_flags_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from rollout.core.rules import REFUSE, judge_move
    from rollout.flagfiles import flag_at_ref, flag_paths, load_flag

    if args.metrics and not args.base:
        raise UserError("--metrics needs --base: the gate judges a move")
    paths = args.files or flag_paths(args.flags)
    states = [load_flag(p) for p in paths]        # raises on the first invalid file
    if not args.base:
        for s in states:
            print(f"{s.path}: ok ({s.flag} at {s.percentage}%, step {s.step.name})")
        return EXIT_OK
    code = EXIT_OK
    for path, state in zip(paths, states):
        decision = judge_move(flag_at_ref(path, args.base), state)
        verdict = "refused" if decision.action == REFUSE else "ok"
        print(f"{path}: {verdict}: {'; '.join(decision.reasons)}")
        if decision.action == REFUSE:
            code = EXIT_HELD
        elif args.metrics and decision.needs_gate:
            from rollout.cli.cmd_gate import gate_for_move
            code = max(code, gate_for_move(state, decision.from_pct, args))
    return code

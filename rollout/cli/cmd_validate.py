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
The first step up (0 -> the first live step) of a flag whose file has a `preflight:`
block is held until each piece of evidence it names (loadtest, baseline, drill) is in
the store's history (--store or ROLLOUT_STORE: the production store), passing and
fresh (docs/preflight.md).
exit: 0 valid; 1 a move is refused or held (also: preflight evidence missing, and with
--metrics, the gate holds); 2 invalid file; with --metrics also 3 the gate says roll
back; 4 the metric source or the store failed
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
    # with --base: the history the readiness gate of a first step (and, with --metrics,
    # the soak the gate) reads
    add_store(p, history=True)
    add_flags_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from rollout.core.rules import HOLD, REFUSE, judge_move
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
        old = flag_at_ref(path, args.base)
        decision = _with_readiness(judge_move(old, state), old, state, args)
        verdict = {REFUSE: "refused", HOLD: "held"}.get(decision.action, "ok")
        print(f"{path}: {verdict}: {'; '.join(decision.reasons)}")
        if decision.action in (REFUSE, HOLD):
            code = EXIT_HELD
        elif args.metrics and decision.needs_gate:
            code = max(code, gate_for_move(state, decision.from_pct, args))
    return code


def _with_readiness(decision, old, new, args):
    """The move with the readiness gate of a first step up; its evidence table goes to
    GITHUB_STEP_SUMMARY."""
    from rollout.cli.common import append_step_summary, now
    from rollout.preflight import with_readiness

    decision, ready = with_readiness(decision, old, new, args.store, args.history, now)
    if ready is not None:
        append_step_summary(ready.to_markdown(new.flag))
    return decision


def gate_for_move(state, from_pct: int, args) -> int:
    """`rollout validate --base --metrics`: the gate of a pull request's step up, printed
    as markdown (the check's reason) and appended to GITHUB_STEP_SUMMARY."""
    from rollout.adapters.store import store_url
    from rollout.cli.common import append_step_summary, now
    from rollout.core.gate_render import render_markdown
    from rollout.gate_run import judge

    result = judge(state, store_url(args.store), args.metrics, now(), history_url=args.history)
    text = render_markdown(result)
    print(text)
    append_step_summary(text)
    return result.exit_code

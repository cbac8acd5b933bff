"""rollout loadtest: the seed's load test (Locust, headless) against a staging URL, judged
against the catalog's performance budget and recorded as evidence in the history."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rollout.cli.common import add_flags_dir, add_output, add_store
from rollout.errors import EXIT_HELD, EXIT_OK, UserError

EPILOG = """\
examples:
  rollout loadtest --target https://staging.example.com --profile smoke
  rollout loadtest --target https://staging.example.com            # the seed's 19 minutes
  rollout loadtest --target http://127.0.0.1:8000 --profile my-profile.yaml --out /tmp/lt

Profiles: seed (002 Task 1: warm-up 60 s at 10/s, ramp 300 s to 100/s, sustained 600 s
at 100/s, spike 60 s at 200/s, cool-down 120 s at 10/s), smoke (30 s at up to 5/s), or a
YAML file of phases (docs/loadtest.md). Scenarios: contract analysis 40, drafting 30,
research 20, compliance 10 (POST /api/ai/analyze, /draft, /research, /compliance).
Budget (rollout/catalog.yaml performance_budget): p95 < 5 s, p99 < 10 s, errors < 2 %,
success > 98 %, overall and per scenario. Writes report.html (Locust's) and summary.json
into --out, records a `loadtest` history row for the flag and, with GITHUB_STEP_SUMMARY
set, appends the markdown table to it.
ROLLOUT_LOADTEST_AUTHORIZATION, when set, is sent as the Authorization header.
exit: 0 budget met; 1 budget missed; 2 bad input; 4 target unreachable, or the store failed
"""


def register(sub) -> None:
    p = sub.add_parser("loadtest", help="load-test a staging URL against the performance budget",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True, metavar="URL",
                   help="base URL of the service under test, e.g. https://staging.example.com")
    p.add_argument("--profile", default="seed", metavar="NAME|FILE",
                   help="seed (default), smoke, or a YAML file of phases")
    p.add_argument("--flag", help="flag whose history records the result (default: the only "
                                  "flag in --flags)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="where report.html and summary.json go "
                        "(default .rollout/loadtest/<time>-<profile>)")
    p.add_argument("--progress", type=float, default=5.0, metavar="S",
                   help="seconds between progress lines (default 5)")
    add_store(p, history=True)
    add_flags_dir(p)
    add_output(p, ("table", "json", "markdown"))
    p.set_defaults(func=run)


def _profile(text: str):
    from rollout.loadtest.profiles import PROFILES, profile_from_data
    from rollout.yamlfile import load_yaml

    if text in PROFILES:
        return PROFILES[text]
    path = Path(text)
    if path.suffix not in (".yaml", ".yml", ".json"):
        raise UserError(f"--profile {text!r}: expected {', '.join(PROFILES)} or a YAML file "
                        f"of phases (.yaml)")
    profile = profile_from_data(load_yaml(path), str(path))
    if profile.name in PROFILES:
        raise UserError(f"{path}: field name: {profile.name!r} is a built-in profile; a file "
                        f"of your own needs a name of its own")
    return profile


def _flag(args):
    from rollout.flagfiles import find_flag, flag_paths

    if args.flag:
        return find_flag(args.flag, args.flags)
    paths = flag_paths(args.flags)
    if len(paths) != 1:
        raise UserError(f"--flag: required, {args.flags} holds {len(paths)} flags "
                        f"({', '.join(p.stem for p in paths) or 'none'})")
    return find_flag(paths[0].stem, args.flags)


def _out_dir(args, profile, at) -> Path:
    out = args.out or Path(".rollout/loadtest") / f"{at:%Y%m%dT%H%M%SZ}-{profile.name}"
    if (out / "summary.json").exists():
        raise UserError(f"--out {out}: already holds a load test (summary.json); "
                        f"choose another directory")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, expected a directory")
    return out


def _progress_line(msg: dict) -> None:
    n, failed = msg["requests"], msg["failures"]
    p95 = "-" if msg.get("p95_ms") is None else f"{msg['p95_ms']:,} ms"
    errors = f"{failed / n * 100:.2f} %" if n else "-"
    print(f"[{msg['t']:>6.0f}s] {msg['phase']:<10} users {msg['users']:>5}  in flight "
          f"{msg['in_flight']:>4}  rps {msg['rps']:>6.1f}  p95 {p95:>9}  errors {errors} "
          f"({failed:,} of {n:,})", file=sys.stderr, flush=True)


def run(args) -> int:
    from rollout.adapters.store import store_url
    from rollout.cli.common import actor, now
    from rollout.core.catalog import load_catalog
    from rollout.flagfiles import current_commit
    from rollout.loadtest.session import record_load_test, run_load_test
    from rollout.loadtest.target import check_target

    target = check_target(args.target)
    if not 0.5 <= args.progress <= 600:
        raise UserError("--progress: expected seconds between 0.5 and 600")
    profile = _profile(args.profile)
    state = _flag(args)
    budget = load_catalog().performance_budget
    if not budget:
        raise UserError("rollout/catalog.yaml: no performance_budget to judge the load test by")
    out = _out_dir(args, profile, now())
    url = store_url(args.store)
    summary, verdict = run_load_test(target, profile, out, budget, url, args.history,
                                     _progress_line, args.progress)
    _print(summary, verdict, args.output, out)
    record_load_test(state, summary, verdict, budget, out, url, args.history, at=now(),
                     commit=current_commit(), actor=actor())
    return EXIT_OK if verdict.passed else EXIT_HELD


def _print(summary: dict, verdict, output: str, out: Path) -> None:
    from rollout.cli.common import append_step_summary, print_json, print_table
    from rollout.loadtest import render

    append_step_summary(render.markdown(summary, verdict))   # in GitHub Actions: the job summary
    if output == "json":
        print_json(summary)
    elif output == "markdown":
        print(render.markdown(summary, verdict), end="")
    else:
        print_table(render.HEADERS, render.rows(summary, verdict))
        for line in render.notes(summary, verdict):
            print(line)
        print(f"{render.headline(summary, verdict)}; report {out / 'report.html'}")

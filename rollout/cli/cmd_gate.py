"""rollout gate: may this flag take its next step now?

Judges the flag's current (applied) step against every catalog metric that gates at it,
on the step's own data up to --at (default: now), plus the soak of the step
(docs/judge.md). Checks: pass, hold, rollback, inconclusive (not enough evidence yet) or
error (the metric source failed), each with a reason code; inconclusive and error only
ever hold.
"""
from __future__ import annotations

import argparse

from rollout.cli.common import add_flags_dir, add_store, duration_arg, time_arg

EPILOG = """\
exit codes: 0 proceed; 1 hold; 3 rollback; 4 the metric source failed; 2 bad input

metric sources (--metrics or ROLLOUT_METRICS):
  newrelic://ACCOUNT_ID[?region=eu]   NerdGraph, one request per evaluation; the key in
                                      NEW_RELIC_API_KEY, the account id may come from
                                      NEW_RELIC_ACCOUNT_ID; NEW_RELIC_API_URL overrides the endpoint
  sqlite:///PATH                      events loaded with `rollout events import`
  (default)                           the events in the flag store's SQLite file

examples:
  rollout gate skills_rollout
  rollout gate skills_rollout --metrics newrelic://1234567 --window 2h   only the last 2 h
  rollout gate skills_rollout --at 2026-11-20T09:00Z --output json
  rollout gate skills_rollout --output markdown > comment.md

With GITHUB_STEP_SUMMARY set, the markdown report is appended to that file too.
"""


def register(sub) -> None:
    p = sub.add_parser("gate", help="may this flag take its next step now? (metrics and soak)",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("flag", metavar="FLAG", help="flag name, e.g. skills_rollout")
    p.add_argument("--metrics", metavar="URL", help="metric source URL (see below)")
    p.add_argument("--window", metavar="DURATION", type=duration_arg,
                   help="judge at most the last DURATION of the step, ending at --at: 30m, 2h, "
                        "1d (default: the whole step, as reconcile and the guard do)")
    p.add_argument("--at", metavar="TIME", type=time_arg,
                   help="evaluate as of this time, e.g. 2026-11-20T09:00Z (UTC if no zone); "
                        "default: now")
    p.add_argument("--output", "-o", choices=("table", "json", "markdown"), default="table",
                   help="output format (default: table)")
    add_store(p, history=True)
    add_flags_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from rollout.adapters.store import store_url
    from rollout.cli.common import append_step_summary, now, parse_time, parse_window
    from rollout.core.catalog import load_catalog
    from rollout.core.gate_render import render, render_markdown
    from rollout.flagfiles import find_flag
    from rollout.gate_run import judge

    window = parse_window(args.window) if args.window is not None else None
    at = parse_time(args.at) if args.at is not None else now()
    result = judge(find_flag(args.flag, args.flags), store_url(args.store), args.metrics, at,
                   window, history_url=args.history)
    catalog = load_catalog()
    print(render(result, args.output, catalog))
    append_step_summary(render_markdown(result, catalog))
    return result.exit_code

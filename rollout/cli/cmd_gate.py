"""rollout gate: may this flag take its next step now?

Judges the flag's current (applied) step against every catalog metric that gates at it,
on the step's own data up to --at (default: now), plus the soak of the step
(docs/judge.md). Checks: pass, hold, rollback, inconclusive (not enough evidence yet) or
error (the metric source failed), each with a reason code; inconclusive and error only
ever hold.
"""
from __future__ import annotations

import argparse
import os

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


def judge(state, store_url: str, metrics: str | None, at, window=None,
          history_url: str | None = None):
    """The gate of `state`'s applied step as of `at`, from the store's history."""
    from rollout.adapters.metrics import metrics_url, open_source
    from rollout.adapters.store import open_store
    from rollout.gating import applied_as_of, gate_result

    with open_store(store_url, history_url) as store:
        history = store.history(state.flag, until=at)
        pct = applied_as_of(history, store.read(state.flag), at)
    source = open_source(metrics_url(metrics), store_url) if pct > 0 else None   # no canary yet
    return gate_result(state, pct, history, source, at, window)


def gate_for_move(state, from_pct: int, args) -> int:
    """`rollout validate --base --metrics`: the gate of a pull request's step up, printed
    as markdown (the check's reason) and appended to GITHUB_STEP_SUMMARY."""
    from rollout.adapters.store import store_url
    from rollout.cli.common import now
    from rollout.core.gate_render import render_markdown
    result = judge(state, store_url(args.store), args.metrics, now(), history_url=args.history)
    text = render_markdown(result)
    print(text)
    _append_summary(text)
    return result.exit_code


def _append_summary(text: str) -> None:
    from rollout.errors import ExternalError

    from rollout.redact import redact

    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            # O_NONBLOCK: a FIFO without a reader fails at once instead of hanging
            fd = os.open(summary, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
            with open(fd, "a", encoding="utf-8") as f:
                f.write(redact(text) + "\n")
        except OSError as exc:
            raise ExternalError(f"GITHUB_STEP_SUMMARY {summary}: {exc.strerror}") from None


def run(args) -> int:
    from rollout.adapters.store import store_url
    from rollout.cli.common import now, parse_time, parse_window
    from rollout.core.catalog import load_catalog
    from rollout.core.gate_render import render, render_markdown
    from rollout.flagfiles import find_flag

    window = parse_window(args.window) if args.window is not None else None
    at = parse_time(args.at) if args.at is not None else now()
    result = judge(find_flag(args.flag, args.flags), store_url(args.store), args.metrics, at,
                   window, history_url=args.history)
    catalog = load_catalog()
    print(render(result, args.output, catalog))
    _append_summary(render_markdown(result, catalog))
    return result.exit_code

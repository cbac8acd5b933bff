"""rollout serve: the always-on guard, with liveness, status and a New Relic webhook."""
from __future__ import annotations

import argparse
import math

from rollout.cli.common import add_flags_dir, add_store
from rollout.errors import ExternalError, UserError

EPILOG = """\
examples:
  ROLLOUT_HOOK_TOKEN=$(openssl rand -hex 32) rollout serve    # then open http://127.0.0.1:8080/
  rollout serve --host 0.0.0.0 --port "$PORT" --store "$ROLLOUT_STORE" --metrics newrelic://

One process runs the guard loop and an HTTP service:
  GET  /                 the status page: one card per flag (ladder, soak, gate, guard,
                         abort and notifications, timeline chart, history); read-only
  GET  /flags/FLAG       one flag's card; /flags/FLAG.json the same data as JSON
  GET  /healthz          liveness: store reachable, last evaluation (age, outcome, blind),
                         leader or standby; HTTP 503 when unhealthy
  GET  /status           the `rollout status --output json` document
The page and /status need ROLLOUT_PAGE_TOKEN (HTTP Basic, any user name, the token as
password; or Bearer) when it is set; without it they are open only on a loopback address
or with --page-public, and answer 503 otherwise.
  POST /hooks/newrelic   New Relic's workflow webhook (Authorization: Bearer
                         $ROLLOUT_HOOK_TOKEN; JSON up to 64 KB; {"flags": [...]} optional):
                         asks for an immediate evaluation, never forces a rollback
Several instances may run against one store: a lease in the store makes one the leader of
the timed loop; a standby takes over within --interval + --lease-ttl when it dies. Webhook
calls are evaluated by whichever instance receives them. SIGTERM finishes the evaluation
in flight, releases the lease and exits 0. Logs are JSON lines on stderr.
exit: 0 stopped by SIGTERM/SIGINT; 2 invalid input; 4 an outside system failed at start
See docs/serve.md.
"""


def register(sub) -> None:
    p = sub.add_parser("serve", help="the always-on guard: loop, liveness, status, webhook",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free port)")
    p.add_argument("--interval", type=float, default=60.0, metavar="SECONDS",
                   help="seconds between timed evaluations and lease looks (default 60)")
    p.add_argument("--lease-ttl", type=float, metavar="SECONDS",
                   help="seconds the leader's lease lasts unrenewed (default 2 x --interval)")
    p.add_argument("--window", metavar="DURATION",
                   help="judge at most the last DURATION of each step in the timed "
                        "evaluations, as `rollout guard --window` (default: the whole step; "
                        "the judge's CUSUM charts see a fresh fault without a window)")
    p.add_argument("--hook-window", metavar="DURATION",
                   help="the same for the evaluations the webhook asks for (default: the "
                        "whole step)")
    p.add_argument("--metrics", metavar="URL",
                   help="metric source (default: the events in the sqlite store)")
    p.add_argument("--page-public", action="store_true",
                   help="serve the status page and /status without credentials although "
                        "ROLLOUT_PAGE_TOKEN is not set and the address is not a loopback one "
                        "(only behind a proxy that authenticates by itself)")
    add_store(p, history=True)
    add_flags_dir(p)
    p.set_defaults(func=run)


def _seconds(value: float, what: str, low: float, high: float) -> float:
    if not math.isfinite(value) or not low <= value <= high:
        raise UserError(f"{what}: expected a number of seconds from {low:g} to {high:g}, "
                        f"got {value:g}")
    return value


def config(args):
    import os

    from rollout.cli.common import actor, notify_deadline, now, parse_window
    from rollout.serve.config import TOKEN_ENV, ServeConfig
    from rollout.serve.page_auth import PAGE_TOKEN_ENV

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port: expected 0 to 65535, got {args.port}")
    interval = _seconds(args.interval, "--interval", 0.1, 86400)
    ttl = 2 * interval if args.lease_ttl is None else \
        _seconds(args.lease_ttl, "--lease-ttl", 0.1, 7 * 86400)
    if ttl <= interval:
        raise UserError(f"--lease-ttl {ttl:g}: expected more than --interval {interval:g}, "
                        f"or the leader would lose its lease between two renewals")
    from rollout.adapters.store import store_url

    return ServeConfig(host=args.host, port=args.port, interval=interval, lease_ttl=ttl,
                       store_url=store_url(args.store), history_url=args.history,
                       metrics_url=args.metrics, flags_dir=args.flags,
                       window=parse_window(args.window) if args.window else None,
                       hook_window=(parse_window(args.hook_window, "--hook-window")
                                    if args.hook_window else None),
                       clock=now, actor=actor(), notify_deadline=notify_deadline(),
                       hook_token=os.environ.get(TOKEN_ENV) or None,
                       page_token=os.environ.get(PAGE_TOKEN_ENV) or None,
                       page_public=args.page_public)


def run(args) -> int:
    from rollout.adapters.metrics import open_source
    from rollout.adapters.store import open_store
    from rollout.serve.app import Service
    from rollout.serve.checks import check_revisions
    from rollout.serve.logs import configure, log
    from rollout.serve.server import serve

    configure()
    cfg = config(args)
    # What would fail every evaluation fails now, as one line: bad flag files, a checkout
    # whose revisions differ from the other controllers', a store without its tables, a
    # metric source that is not configured.
    # A store that is merely down is not refused: the service starts, reports it on
    # /healthz and tries again at every look.
    check_revisions(cfg.flags_dir)
    open_source(cfg.metrics_url, cfg.store_url)
    try:
        open_store(cfg.store_url, cfg.history_url).close()
    except ExternalError as exc:
        log("store_unreachable_at_start", level=30, error=str(exc))
    return serve(Service.create(cfg))

"""rollout verify: the automatable part of the post-deployment checklist (seed 001, phase 1
"Immediate Verification (0-2 hours)"), printed with ticks.

  All services healthy            GET {url}/health answers 200 and every service "healthy"
  No critical alerts firing       no CRITICAL issue open in New Relic (SEV1/SEV2 alerts)
  Error rates within normal range skill_error_rate meets its catalog target, per cohort
  Response times acceptable       p95_response_time meets its catalog target, per cohort
  Throughput normal               requests in the window, per hour, at or above the floor
  Event attributes                every required SkillExecution attribute of the event
                                  contract seen in the last hour (New Relic keyset())
  Resource utilization stable     memory and CPU from /health, shown, not judged
"""
from __future__ import annotations

import argparse
import os

from rollout.cli.common import add_store

EPILOG = """\
exit codes: 0 every item ok (unknown items included: not configured, too little data);
1 an item failed (an unreachable health endpoint is a failed item);
4 New Relic or the metric source did not answer (and nothing failed); 2 bad input

the app URL: --url or ROLLOUT_APP_URL (the playbook's is https://legal-platform-web.onrender.com)
metric source: --metrics or ROLLOUT_METRICS, as for `rollout gate`; open alerts are read from
New Relic only with --metrics newrelic://ACCOUNT_ID, otherwise that item is unknown; so is the
event contract (keyset() of SkillExecution over the last hour, rollout/schema/skill_execution.schema.json).
throughput floor: --min-throughput, default 208/h = half the ~10,000 requests/day of seed 003

examples:
  rollout verify --url https://legal-platform-web.onrender.com
  ROLLOUT_APP_URL=https://legal-platform-web.onrender.com rollout verify --metrics newrelic://1234567
  rollout verify --url http://localhost:3000 --window 30m --min-throughput 50 --output json
"""

HEALTH_PATH = "/health"


def register(sub) -> None:
    p = sub.add_parser("verify", help="post-deployment checklist: health, alerts, error rate, "
                                      "latency, throughput",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", metavar="BASE",
                   help="the application's base URL; /health is appended (or set ROLLOUT_APP_URL)")
    p.add_argument("--metrics", metavar="URL", help="metric source URL (see `rollout gate --help`)")
    p.add_argument("--window", metavar="DURATION", default="2h",
                   help="metrics window ending at --at (default: 2h, the checklist's 0-2 hours)")
    p.add_argument("--at", metavar="TIME", help="as of this ISO-8601 time (default: now)")
    p.add_argument("--min-throughput", metavar="N", type=float,
                   help="requests per hour below which throughput fails (default: 208, "
                        "half the seed's ~10,000/day)")
    p.add_argument("--timeout", metavar="SECONDS", type=float, default=10.0,
                   help="wait for the health endpoint per attempt (default: 10)")
    p.add_argument("--output", "-o", choices=("markdown", "json"), default="markdown",
                   help="output format (default: markdown)")
    add_store(p)
    p.set_defaults(func=run)


def health_url(base: str | None) -> str:
    from rollout.errors import UserError

    base = (base or os.environ.get("ROLLOUT_APP_URL") or "").strip()
    if not base:
        raise UserError("no application URL: pass --url https://… or set ROLLOUT_APP_URL "
                        "(the playbook's is https://legal-platform-web.onrender.com)")
    if not base.lower().startswith(("http://", "https://")):
        raise UserError(f"--url {base!r}: expected an http:// or https:// URL")
    base = base.rstrip("/")
    return base if base.endswith(HEALTH_PATH) else base + HEALTH_PATH


def run(args) -> int:
    from rollout.adapters.metrics import metrics_url, open_source
    from rollout.adapters.store import store_url
    from rollout.cli.common import now, parse_time, parse_window, print_json
    from rollout.core import verify
    from rollout.core.catalog import load_catalog
    from rollout.core.state import format_utc
    from rollout.errors import UserError
    from rollout.verifying import verify_deployment

    window = parse_window(args.window)
    if args.min_throughput is not None and not args.min_throughput >= 0:
        raise UserError(f"--min-throughput {args.min_throughput:g}: expected requests per hour >= 0")
    if not args.timeout > 0:
        raise UserError(f"--timeout {args.timeout:g}: expected seconds > 0")
    url = health_url(args.url)
    at = parse_time(args.at) if args.at else now()
    catalog = load_catalog()
    source = open_source(metrics_url(args.metrics), store_url(args.store))   # bad URL: exit 2
    checklist = verify_deployment(url, source, catalog, at, window, timeout=args.timeout,
                                  min_throughput=args.min_throughput)
    start = at - window
    if args.output == "json":
        print_json(verify.to_json(checklist, url, start, at))
    else:
        print(verify.checklist_markdown(checklist, url, f"{format_utc(start)} to {format_utc(at)}"))
    return checklist.exit_code

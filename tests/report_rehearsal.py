"""The rehearsal the report tests read (tests/test_reports*.py, tests/test_baseline.py): the
playbook's timeline (T0 = Monday 09:00), three requests a minute, users in the canary with
the applied percentage. Canary ~$0.018 a request against control's ~$0.030 (savings ~39 %),
errors 0.6 % (canary) and 0.8 % (control), one hour of canary errors at 12 % that the
"guard" aborts, a retry, one minute without traffic during the full step. Reference
numbers are recomputed here from the generated events with plain Python, never with the
code under test. Built once per test process (the `rehearsal` fixture, tests/conftest.py);
tests only read it.
"""
from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rollout.adapters.metrics.sqlite_events import import_ndjson
from rollout.adapters.reportdata.sqlite import SQLiteReportSource
from rollout.adapters.store import open_store
from rollout.core.catalog import load_catalog
from rollout.core.state import ABORTED, APPLIED, HELD, RETRY, Event
from rollout.flagfiles import load_flag
from rollout.reporting import make_report
from tests.cli import ROOT

FLAG = "skills_rollout"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
H, D, M = timedelta(hours=1), timedelta(days=1), timedelta(minutes=1)
BETA = T0 + 3 * D + H                   # canary served 73 h
ABORT = T0 + 5 * D                      # the guard's rollback, 47 h into beta
RETRY_AT = ABORT + 6 * H
RESUME = RETRY_AT + 5 * M
FULL = T0 + 12 * D + 7 * H              # beta served 169 h 55 min after the resume
END = T0 + 14 * D + 8 * H               # 49 h into full
SPIKE = (ABORT - H, ABORT)              # canary errors at 12 %
OUTAGE = (T0 + 13 * D + 9 * H, T0 + 13 * D + 9 * H + M)   # no request at all
ABORT_REASON = "Skill error rate 12.00 % meets the rollback criterion > 5 (45 canary requests)"
HOLD_REASON = "soak of step canary: 48h of 72h served, 24h remaining"
RETRY_REASON = "fixed the skill timeout in ai-service 2.14.3"
MODELS = (("claude-3-5-haiku", 0.55, 0.014), ("claude-sonnet-4-5", 0.40, 0.022),
          ("claude-opus-4", 0.05, 0.035))

SCHEDULE = [  # (at, kind, from, to, reasons, evidence)
    (T0 - D, APPLIED, None, 0, ("create the flag at 0%",), {}),
    (T0, APPLIED, 0, 5, ("one step up 0% → 5% (canary)",), {}),
    (T0 + 2 * D, HELD, 5, 25, (HOLD_REASON,), {}),
    (BETA, APPLIED, 5, 25, ("step up 5% → 25% (beta)",), {}),
    (ABORT, ABORTED, 25, 0, (ABORT_REASON,), {"severity": "SEV1"}),
    (RETRY_AT, RETRY, 0, 25, (RETRY_REASON,), {}),
    (RESUME, APPLIED, 0, 25, ("resume at 25% after `rollout retry`",), {}),
    (FULL, APPLIED, 25, 100, ("step up 25% → 100% (full)",), {}),
]


def percentage_at(t: datetime) -> int:
    pct = 0
    for at, kind, _, to, _, _ in SCHEDULE:
        if at <= t and kind in (APPLIED, ABORTED):
            pct = to
    return pct


def generate(rng: random.Random) -> list[dict]:
    rows, t = [], T0 - D
    while t < END:
        pct = percentage_at(t)
        for k in range(3):
            at = t + timedelta(seconds=20 * (k + rng.random()))
            canary = rng.random() * 100 < pct
            spike = canary and SPIKE[0] <= at < SPIKE[1]
            error = 0.12 if spike else 0.006 if canary else 0.008
            if canary:
                model, _, unit = rng.choices(MODELS, [w for _, w, _ in MODELS])[0]
                cost = unit * rng.uniform(0.9, 1.1)
                latency = rng.lognormvariate(0, 0.5) * 1500
            else:
                model, cost = "claude-sonnet-4-5", 0.03 * rng.uniform(0.8, 1.2)
                latency = rng.lognormvariate(0, 0.45) * 1800
            row = {"timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                   "userId": f"user-{rng.randrange(9000)}", "skillId": "contract-review",
                   "model": model, "cohort": "canary" if canary else "control",
                   "executionTime": round(latency, 1), "success": rng.random() >= error,
                   "cost": round(cost, 6),
                   "tokenSavings": round(rng.gauss(75, 5), 2) if canary else 0.0,
                   "cacheHit": rng.random() < (0.5 if canary else 0.3),
                   "timedOut": rng.random() < 0.002, "fallback": canary and rng.random() < 0.02}
            if not OUTAGE[0] <= at < OUTAGE[1]:
                rows.append(row)
        t += M
    return rows


def build_rehearsal(directory: Path) -> dict:
    """The store (history + skill_events in one sqlite file) and the generated events."""
    path = directory / "flags.db"
    url = f"sqlite:///{path}"
    state = load_flag(ROOT / "rollout/flags/skills_rollout.yaml", "rev-1")
    with open_store(url) as store:
        version = None
        for at, kind, frm, to, why, evidence in SCHEDULE:
            e = Event(FLAG, at, kind, frm, to, why, revision="rev-1", commit="c0ffee",
                      actor="rehearsal", evidence=evidence)
            if kind in (APPLIED, ABORTED):
                version = store.apply(FLAG, to, version, e).version
            else:
                store.record(e)
    rows = generate(random.Random(20261102))
    ndjson = path.parent / "events.ndjson"
    ndjson.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert import_ndjson(ndjson, path) == len(rows)
    for r in rows:
        r["at"] = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00"))
    return {"url": url, "path": path, "state": state, "rows": rows}


# -- reference numbers, recomputed here ---------------------------------------------------------

def pick(rows, start, end, cohort=None):
    return [r for r in rows if start <= r["at"] < end and (cohort is None or r["cohort"] == cohort)]


def percentile(values, p):
    """Linear interpolation between closest ranks (numpy's default), written out."""
    v = sorted(values)
    k = (len(v) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def ref(rows):
    n = len(rows)
    times = [r["executionTime"] for r in rows]
    return {"n": n, "error_rate": 100 * sum(not r["success"] for r in rows) / n,
            "p95": percentile(times, 95), "p99": percentile(times, 99),
            "avg": sum(times) / n, "cost": sum(r["cost"] for r in rows) / n,
            "cost_total": sum(r["cost"] for r in rows),
            "under_5s": 100 * sum(t < 5000 for t in times) / n,
            "under_10s": 100 * sum(t < 10000 for t in times) / n}


def uptime(rows, start, end):
    minutes = int((end - start) / M)
    up = {int((r["at"] - start) / M) for r in pick(rows, start, end) if r["success"]}
    return 100 * len(up) / minutes, minutes - len(up)


def make(rehearsal, kind, at, length=None, *, render=True):
    """The report as the CLI builds it (rollout.reporting), in process."""
    from rollout.adapters.metrics.sqlite_events import SQLiteEventSource

    with open_store(rehearsal["url"]) as store:
        history = store.history(FLAG, until=at)
    gate_source = SQLiteEventSource(rehearsal["path"]) if kind in ("daily", "final") else None
    _, _, report = make_report(kind, rehearsal["state"], history,
                               SQLiteReportSource(rehearsal["path"]), load_catalog(), at, length,
                               gate_source)
    template = (ROOT / "rollout/data/post_deployment_review.md").read_text()
    text = None
    if render:
        text = (report.to_markdown("chart.svg", template) if kind == "review"
                else report.to_markdown("chart.svg"))
    return report, text


def by_key(lines):
    return {l.key: l for l in lines}

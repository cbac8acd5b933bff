"""A finished load test as a history row of kind `loadtest`: the evidence a readiness
gate reads (rollout/core/evidence.py finds the newest one).

    evidence = {
      "profile": "seed", "target": "https://staging.example.com", "verdict": "pass",
      "budget": {"p95_ms": "< 5000", ...},
      "figures": {"overall": {...}, "scenarios": {"contract_analysis": {...}, ...}},
      "missed": ["compliance_check p95_ms 6,000 ms, budget < 5000: MISSED"],
      "started_at": ..., "ended_at": ..., "seconds": 1141.2,
      "reports": {"html": ".rollout/loadtest/.../report.html", "json": ".../summary.json"},
      "run_url": "https://github.com/OWNER/REPO/actions/runs/123"   # in GitHub Actions only
    }

Figures per scope: requests, failures, no_answer, error_rate, success_rate (percent),
p50_ms, p95_ms, p99_ms, rps. The target is shown without credentials or query.
"""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from rollout.core.perfbudget import BudgetVerdict
from rollout.core.state import LOADTEST, Event, FlagState

KEPT = ("requests", "failures", "no_answer", "error_rate", "success_rate",
        "p50_ms", "p95_ms", "p99_ms", "rps")


def _kept(figures: dict) -> dict:
    return {k: figures.get(k) for k in KEPT}


def run_url() -> str | None:
    """This workflow run's page, where the HTML report is an artifact."""
    env = os.environ
    if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_RUN_ID"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env.get('GITHUB_REPOSITORY', '')}/actions/runs/{env['GITHUB_RUN_ID']}"
    return None


def evidence(summary: dict, verdict: BudgetVerdict, budget: dict, out: Path) -> dict:
    found = {
        "profile": summary["profile"], "target": summary["target"], "verdict": verdict.verdict,
        "budget": {k: str(v) for k, v in budget.items()},
        "figures": {"overall": _kept(summary["overall"]),
                    "scenarios": {k: _kept(v) for k, v in summary["scenarios"].items()}},
        "missed": [c.line() for c in verdict.missed],
        "started_at": summary["started_at"], "ended_at": summary["ended_at"],
        "seconds": summary["seconds"],
        "reports": {"html": str(out / "report.html"), "json": str(out / "summary.json")},
    }
    url = run_url()
    return {**found, "run_url": url} if url else found


def loadtest_event(state: FlagState, summary: dict, verdict: BudgetVerdict, budget: dict,
                   out: Path, at: datetime, *, commit: str, actor: str) -> Event:
    ev = evidence(summary, verdict, budget, out)
    head = (f"load test {ev['profile']} against {ev['target']}: budget "
            f"{'met' if verdict.passed else 'missed'}")
    return Event(flag=state.flag, at=at, kind=LOADTEST, from_pct=None, to_pct=None,
                 reasons=(head, *ev["missed"][:5]), revision=state.revision, commit=commit,
                 actor=actor, evidence=ev)

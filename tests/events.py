"""Synthetic SkillExecution events, as `rollout events import` reads them (tests and bench/)."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Profile:
    """How one cohort behaves; the defaults pass every gate criterion."""

    error_rate: float = 0.01          # share of success=false
    latency_ms: float = 1500.0        # median executionTime (lognormal)
    latency_sigma: float = 0.5
    cost: float = 0.012               # mean cost per request, USD
    cache_hit: float = 0.5
    timeout_rate: float = 0.002
    fallback_rate: float = 0.02
    token_savings: float = 75.0


CONTROL = Profile(cost=0.02, cache_hit=0.0, token_savings=0.0)


def events(n: int, cohort: str, profile: Profile = Profile(), *, start: datetime = T0,
           span: timedelta = timedelta(hours=1), seed: int = 1) -> list[dict]:
    rng = random.Random(f"{seed}-{cohort}")
    out = []
    for i in range(n):
        at = start + span * (i + rng.random()) / max(n, 1)
        out.append({
            "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "userId": f"user-{rng.randrange(5000)}",
            "skillId": rng.choice(["contract-review", "case-summary", "citation-check"]),
            "model": "claude-sonnet",
            "executionTime": round(rng.lognormvariate(0, profile.latency_sigma) * profile.latency_ms, 1),
            "success": rng.random() >= profile.error_rate,
            "cost": round(rng.uniform(0.5, 1.5) * profile.cost, 6),
            "tokenSavings": round(rng.uniform(0.8, 1.2) * profile.token_savings, 2),
            "cohort": cohort,
            "cacheHit": rng.random() < profile.cache_hit,
            "timedOut": rng.random() < profile.timeout_rate,
            "fallback": rng.random() < profile.fallback_rate,
        })
    return out


def write_ndjson(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def scaled_catalog(k: int):
    """The real catalog with every metric repeated k times (copies named <metric>_<i>)."""
    from rollout.core.catalog import DEFAULT_PATH, build_catalog
    from rollout.yamlfile import load_yaml

    data = load_yaml(DEFAULT_PATH)
    metrics = dict(data["metrics"])
    for i in range(2, k + 1):
        for name, m in data["metrics"].items():
            metrics[f"{name}_{i}"] = m
    return build_catalog({**data, "metrics": metrics}, f"catalog x{k}")

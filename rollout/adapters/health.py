"""The application's health endpoint (GET /health), as `rollout verify` reads it."""
from __future__ import annotations

from rollout.adapters import http
from rollout.core.verify import HealthAnswer
from rollout.errors import ExternalError


def fetch_health(url: str, timeout: float) -> HealthAnswer:
    """One health answer; a refused connection or a timeout is an answer too (the item fails)."""
    # 503 is the endpoint's "unhealthy" answer with the services named: take it, don't retry it.
    policy = http.RetryPolicy(attempts=3, timeout=timeout, backoff=1.0)
    try:
        resp = http.request("GET", url, what="health endpoint", policy=policy,
                            retry_on=http.RETRY_STATUSES - {503},
                            headers={"Accept": "application/json"})
    except ExternalError as exc:
        return HealthAnswer(url, error=str(exc))
    try:
        body = resp.json()
    except ValueError:
        body = None
    return HealthAnswer(url, resp.status_code, body, resp.text)

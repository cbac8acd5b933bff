"""The application's web service on 127.0.0.1 as `rollout verify` meets it: GET /health
answering as seed 002's health.ts writes it."""
from __future__ import annotations

import time

from tests.fakes.server import FakeServer

HEALTHY_SERVICES = {"database": "healthy", "redis": "healthy", "claude_api": "healthy",
                    "skills_api": "healthy"}


def health_body(services=None) -> dict:
    """The answer of seed 002's health.ts (whose `status` stays "healthy" whatever happens)."""
    return {"status": "healthy", "timestamp": "2026-11-20T10:00:00.000Z",
            "services": dict(services or HEALTHY_SERVICES),
            "skills_metrics": {"active_skills_count": 3, "cache_hit_rate": 0.52,
                               "avg_response_time_ms": 1480, "error_rate_percent": 0.9},
            "uptime_seconds": 86400.5, "memory_usage_mb": 412, "cpu_usage_percent": 37}


class FakeApp(FakeServer):
    """The web service's GET /health as seed 002 writes it: 200 when every service is
    "healthy", 503 otherwise, same JSON either way. `raw` replaces the body (a proxy's HTML
    page), `delay` makes it slow."""

    def __init__(self, services=None, raw=None, delay=0.0):
        super().__init__()
        self.services = dict(services or HEALTHY_SERVICES)
        self.raw = raw
        self.delay = delay

    def handle(self, req):
        if req.method != "GET" or req.path != "/health":
            return 404, {}, "Cannot GET " + req.path
        if self.delay:
            self.lock.release()         # let other requests in while this one is slow
            try:
                time.sleep(self.delay)
            finally:
                self.lock.acquire()
        if self.raw is not None:
            return 200, {"Content-Type": "text/html"}, self.raw
        healthy = all(s == "healthy" for s in self.services.values())
        return (200 if healthy else 503), {}, health_body(self.services)

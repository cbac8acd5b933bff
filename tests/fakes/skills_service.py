"""The legal platform's AI service on 127.0.0.1, as the load test sees it (seed 002):
POST /api/ai/analyze, /draft, /research, /compliance with a JSON payload, and GET /health.

The test sets how it behaves: `latency` (seconds, or a function of the request's number)
and `error_rate` (percent, spread evenly: 3 % fails requests 34, 67, 100, ... so a run of
any length sees as close to 3 % as its count allows). A payload missing what its skill
needs is a 400, as a real API would answer a client bug. `auth`, when set, is the
Authorization header every request must carry (401 otherwise). `drop` closes every skill
request's connection without an answer while /health still answers.

    with FakeSkillsService(latency=0.05, error_rate=3) as svc:
        rollout(["loadtest", "--target", svc.base_url, ...])
"""
from __future__ import annotations

import math
import socket
import threading
import time
from typing import Callable

from tests.fakes.server import FakeServer, Recorded

# What each skill's payload must hold (the shapes rollout/loadtest/scenarios.py sends).
REQUIRED = {
    "/api/ai/analyze": ("documentType", "text"),
    "/api/ai/draft": ("templateId", "variables"),
    "/api/ai/research": ("query", "jurisdiction"),
    "/api/ai/compliance": ("framework", "text"),
}


class FakeSkillsService(FakeServer):
    def __init__(self, latency: float | Callable[[int], float] = 0.0, error_rate: float = 0.0,
                 auth: str | None = None, keep_requests: bool = True,
                 drop: bool = False) -> None:
        super().__init__()
        self.latency = latency
        self.error_rate = error_rate
        self.auth = auth
        self.keep_requests = keep_requests   # off in the benchmark: it sends many thousands
        self.drop = drop                     # close skill requests' connections unanswered
        self.count = 0                       # skill requests answered so far
        self.by_path: dict[str, int] = {}
        self._arrivals = 0
        self._arrival_lock = threading.Lock()

    def _serve(self, h) -> None:
        # The delay happens before the base class takes its lock, so slow answers overlap
        # as a real service's would instead of queueing behind each other.
        with self._arrival_lock:
            self._arrivals += 1
            n = self._arrivals
        if self.drop and h.command == "POST":
            # a service that died behind a healthy load balancer: no answer at all
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        wait = self.latency(n) if callable(self.latency) else self.latency
        if wait and h.command == "POST":
            time.sleep(wait)
        try:
            super()._serve(h)
        except (BrokenPipeError, ConnectionResetError):
            return   # the load generator stopped a user mid-request: nobody is listening
        if not self.keep_requests:
            with self.lock:
                self.requests.clear()

    def _fails(self, n: int) -> bool:
        rate = self.error_rate / 100.0
        return math.floor(n * rate) > math.floor((n - 1) * rate)

    def handle(self, req: Recorded):
        if req.method == "GET" and req.path == "/health":
            return 200, {}, {"status": "healthy", "services": {"skills_api": "healthy"}}
        if self.auth and req.header("Authorization") != self.auth:
            return 401, {}, {"error": "unauthorized"}
        if req.method != "POST" or req.path not in REQUIRED:
            return 404, {}, {"error": f"no route {req.method} {req.path}"}
        try:
            body = req.json
        except ValueError:
            body = None
        missing = [k for k in REQUIRED[req.path] if not isinstance(body, dict) or k not in body]
        if missing:
            return 400, {}, {"error": f"missing {', '.join(missing)}"}
        self.count += 1
        self.by_path[req.path] = self.by_path.get(req.path, 0) + 1
        if self._fails(self.count):
            return 500, {}, {"error": "skill execution failed"}
        return 200, {}, {"result": "ok", "skillUsed": True, "path": req.path}

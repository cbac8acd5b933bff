"""A fake of the application's flag API, as the rollout playbook uses it.

    GET /api/feature-flags/<flag>   -> 200 {"enabled": true, "percentage": 5}, 404 if unknown
    PUT /api/feature-flags/<flag>   {"enabled": bool, "percentage": 0..100} -> 200, the stored value

Every request must carry `Authorization: Bearer <token>` (401 otherwise). Like any API
with optimistic concurrency (RFC 9110 conditional requests), a GET answers an `ETag` (a
strong validator: the flag's write counter) and a PUT with `If-Match` is refused with 412
Precondition Failed unless it names the current one; `etags=False` models an API without
them. Faults: the
FakeServer controls (`fail_next` for 5xx, 401, malformed or contradicting answers),
`slow_next` to answer after a delay (client timeouts), `hold_next` to keep the next
request of a method in flight until released (a write that lands late, after its client
gave up or died), `answer_after_put` to garble the read-back that follows the next PUT,
and `on_put`, called after a PUT is stored and before it is answered (to kill the
client at that moment).
"""
from __future__ import annotations

import io
import json
import threading
import time

from tests.fakes.server import FakeServer, Recorded

PREFIX = "/api/feature-flags/"


class FakeFlagAPI(FakeServer):
    def __init__(self, token: str = "flag-api-token-7c1", flags: dict | None = None,
                 etags: bool = True) -> None:
        super().__init__()
        self.token = token
        self.flags: dict[str, dict] = {k: dict(v) for k, v in (flags or {}).items()}
        self.etags = etags
        self.writes: dict[str, int] = {k: 1 for k in self.flags}   # flag -> write counter
        self.on_put = None
        self._after_put = None
        self._slow: list[float] = []
        self._slow_lock = threading.Lock()
        self._hold: tuple[str, threading.Event, threading.Event] | None = None

    def slow_next(self, seconds: float, times: int = 1) -> None:
        with self._slow_lock:
            self._slow.extend([seconds] * times)

    def hold_next(self, method: str = "PUT") -> tuple[threading.Event, threading.Event]:
        """Keep the next `method` request waiting, unprocessed, until `release` is set;
        `arrived` is set when it is held. Returns (arrived, release)."""
        arrived, release = threading.Event(), threading.Event()
        with self._slow_lock:
            self._hold = (method, arrived, release)
        return arrived, release

    def answer_after_put(self, status: int, body) -> None:
        """Store the next PUT normally, then answer the GET after it with this."""
        self._after_put = (status, body)

    def _serve(self, h) -> None:
        # Wait outside the fake's lock, so the client's retry is served meanwhile.
        with self._slow_lock:
            delay = self._slow.pop(0) if self._slow else 0
            held, self._hold = (self._hold, None) if self._hold and \
                self._hold[0] == h.command else (None, self._hold)
        if delay:
            time.sleep(delay)
        if held:
            # the whole request has arrived (the client may die now); it is processed late
            h.rfile = io.BytesIO(h.rfile.read(int(h.headers.get("Content-Length") or 0)))
            held[1].set()
            held[2].wait(60)
        try:
            super()._serve(h)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (timeouts) or was killed

    def handle(self, req: Recorded):
        if req.header("Authorization") != f"Bearer {self.token}":
            return 401, {}, {"message": "invalid or missing bearer token"}
        if not req.path.startswith(PREFIX) or "/" in req.path[len(PREFIX):]:
            return 404, {}, {"message": f"no route {req.path}"}
        name = req.path[len(PREFIX):]
        if req.method == "GET":
            if name not in self.flags:
                return 404, {}, {"message": f"feature flag {name} not found"}
            return 200, self._etag(name), self.flags[name]
        if req.method != "PUT":
            return 405, {}, {"message": f"{req.method} not allowed"}
        try:
            body = json.loads(req.body)
        except ValueError:
            return 400, {}, {"message": "body is not JSON"}
        if not (isinstance(body, dict) and set(body) == {"enabled", "percentage"}
                and isinstance(body["enabled"], bool) and type(body["percentage"]) is int
                and 0 <= body["percentage"] <= 100):
            return 400, {}, {"message": "expected {\"enabled\": bool, \"percentage\": 0..100}"}
        wanted = req.header("If-Match")
        if self.etags and wanted is not None and wanted != self._etag(name).get("ETag", "*"):
            return 412, self._etag(name), {"message": "precondition failed: the flag changed"}
        self.flags[name] = {"enabled": body["enabled"], "percentage": body["percentage"]}
        self.writes[name] = self.writes.get(name, 0) + 1
        if self._after_put:
            status, body = self._after_put
            self._after_put = None
            self.fail_next(status, body=body, match="GET ")
        if self.on_put:
            self.on_put(name, self.flags[name])
        return 200, self._etag(name), self.flags[name]

    def _etag(self, name: str) -> dict[str, str]:
        if not self.etags or name not in self.flags:
            return {}
        return {"ETag": f'"{self.writes.get(name, 1)}"'}

    def set_flag(self, name: str, percentage: int) -> None:
        """A write by someone else (the application's admin, a late request): new ETag."""
        with self.lock:
            self.flags[name] = {"enabled": percentage > 0, "percentage": percentage}
            self.writes[name] = self.writes.get(name, 0) + 1

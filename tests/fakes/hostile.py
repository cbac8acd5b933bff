"""Receivers on a bad day, for the fault suite (tests/faults/).

    EchoingFailure   refuses every request and quotes it back: the URL, the headers (the
                     bearer token, the API key) and the body (a routing key) in its error
                     message, as careless or hostile servers do. Nothing it says may
                     reach an output, a log or a history row unredacted.
    Hanging          accepts the connection and never answers (until stop()), or answers
                     `after` seconds late having already done the work (`then`), like a
                     receiver that accepted the message but answered after our timeout.
"""
from __future__ import annotations

import json
import threading
import time

from tests.fakes.server import FakeServer, Recorded


class EchoingFailure(FakeServer):
    def __init__(self, status: int = 400) -> None:
        super().__init__()
        self.status = status

    def handle(self, req: Recorded):
        quoted = {"url": req.path + ("?" + "&".join(f"{k}={v}" for k, v in req.query.items())
                                     if req.query else ""),
                  "headers": req.headers, "body": req.body.decode("utf-8", "replace")[:400]}
        return self.status, {}, {"message": f"rejected request {json.dumps(quoted)}",
                                 "errors": [f"Authorization was {req.header('Authorization')}",
                                            f"API-Key was {req.header('API-Key')}"]}


class Hanging(FakeServer):
    """Holds every request (released by stop()) unless `after` is set: then `then(req)`
    answers, `after` seconds late. `arrived` is set when the first request is held."""

    def __init__(self, after: float | None = None, then=None) -> None:
        super().__init__()
        self.after = after
        self.then = then
        self.arrived = threading.Event()
        self.first_at: float | None = None       # time.monotonic() of the first request
        self._release = threading.Event()

    def _serve(self, h) -> None:
        with self.lock:
            self.first_at = self.first_at or time.monotonic()
        self.arrived.set()
        self._release.wait(self.after)      # None: until stop()
        try:
            super()._serve(h)
        except (BrokenPipeError, ConnectionResetError):
            pass                            # the client gave up, as it should

    def handle(self, req: Recorded):
        if self.then is not None:
            return self.then(req)
        return 504, {}, {"message": "gave up"}

    def stop(self) -> None:
        self._release.set()
        super().stop()

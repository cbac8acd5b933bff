"""A real HTTP server on 127.0.0.1 (port 0) in a thread, for fakes of outside APIs.

A fake subclasses FakeServer and implements `handle(req) -> (status, headers, body)`.
Every request is logged in `.requests`; `fail_next()` queues forced answers (429 with
Retry-After, 500, a vendor error body...) that are served before the fake's own logic.

    with FakeSlack() as slack:
        slack.fail_next(500, times=3)
        SlackNotifier(slack.url).notify(incident)
        assert len(slack.requests) == 4
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

Body = bytes | str | dict | list | None


@dataclass
class Recorded:
    method: str
    path: str                      # without the query string
    query: dict[str, str]
    headers: dict[str, str]        # as sent; look up with .header() for any case
    body: bytes
    forced: bool = False           # answered by fail_next(), not by the fake's logic
    status: int = 0                # what the fake answered

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class _Forced:
    status: int
    times: int
    headers: dict[str, str]
    body: Body
    match: str | None


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        self._forced: list[_Forced] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what a fake implements -------------------------------------------------------------------

    def handle(self, req: Recorded) -> tuple[int, dict[str, str], Body]:
        raise NotImplementedError

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _dispatch(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll keeps stop() (called once per test) from costing half a second.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- test controls ----------------------------------------------------------------------------

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None,
                  body: Body = None, match: str | None = None) -> None:
        """Answer the next `times` requests with `status` instead of the fake's logic.

        `match` ("POST /repos/acme/ops/pulls") limits it to requests whose "METHOD path"
        starts with it; other requests are served normally meanwhile.
        """
        with self.lock:
            self._forced.append(_Forced(status, times, dict(headers or {}), body, match))

    def requests_to(self, method: str, path_prefix: str = "") -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests
                    if r.method == method and r.path.startswith(path_prefix)]

    # -- plumbing ---------------------------------------------------------------------------------

    def _take_forced(self, req: Recorded) -> _Forced | None:
        for forced in self._forced:
            if forced.match is None or f"{req.method} {req.path}".startswith(forced.match):
                forced.times -= 1
                if forced.times <= 0:
                    self._forced.remove(forced)
                return forced
        return None

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        split = urlsplit(h.path)
        req = Recorded(method=h.command, path=split.path, query=dict(parse_qsl(split.query)),
                       headers=dict(h.headers.items()), body=h.rfile.read(length) if length else b"")
        with self.lock:
            self.requests.append(req)
            forced = self._take_forced(req)
            if forced:
                req.forced = True
                status, headers, body = forced.status, forced.headers, forced.body
            else:
                status, headers, body = self.handle(req)
            req.status = status
        if isinstance(body, (dict, list)):
            payload, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
        elif isinstance(body, str):
            payload, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            payload, ctype = body or b"", "application/octet-stream"
        h.send_response(status)
        if not any(k.lower() == "content-type" for k in headers):
            h.send_header("Content-Type", ctype)
        for key, value in headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(payload)))
        try:
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass        # the client gave up waiting (a timeout under test) or was killed

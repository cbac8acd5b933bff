"""The HTTP side of `rollout serve`: a small Starlette application.

    GET  /healthz          liveness (no credentials: the platform's health check calls it)
    GET  /status           the `rollout status --output json` document (the page's credentials)
    POST /hooks/newrelic   New Relic's workflow webhook: asks for an immediate evaluation
    GET  /, /flags/...     the status page (rollout/serve/page.py, added by server.py)

Each route checks its own credentials, so more routes can be added beside these:
`build_app(service, routes=[Route(...), ...])`; a route reads the shared Service from
`request.app.state.service`. Every answer carries the page's security headers.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from rollout.adapters.store import open_store
from rollout.errors import RolloutError
from rollout.guard_run import run_guard
from rollout.serve.config import ServeConfig
from rollout.serve.hook import (ALL, MAX_BODY, HookLog, RateLimits, Refused, authenticate,
                                check_content, describe, requested_flags)
from rollout.serve.loop import GuardLoop


STATUS_TTL = 2.0      # seconds a /status document is served again


@dataclass
class Service:
    """What the routes share. Each use of the store opens its own connection: handlers run
    in worker threads, and a connection is not shared between threads."""

    cfg: ServeConfig
    loop: GuardLoop
    hook_log: HookLog
    limits: RateLimits = field(default_factory=RateLimits)

    def __post_init__(self):
        from rollout.serve.page_auth import PageGuard
        from rollout.serve.page_data import PageData
        from rollout.serve.service_secrets import Redactor

        self._status_lock = threading.Lock()
        self._status: tuple[float, dict] | None = None
        self.page_guard = PageGuard(self.cfg.page_access, self.cfg.page_token)
        self.page_data = PageData(self.cfg, self.loop)
        self.redact = Redactor.for_service(self.cfg)

    @classmethod
    def create(cls, cfg: ServeConfig, run: Callable = run_guard) -> "Service":
        def record(calls):
            from rollout.adapters.store.service_tables import ServiceTables

            with open_store(cfg.store_url, cfg.history_url) as store:
                ServiceTables(store).record_calls(calls)

        return cls(cfg, GuardLoop(cfg, run), HookLog(record, cfg.instance))

    def known_flags(self) -> set[str]:
        from rollout.flagfiles import flag_paths

        return {p.stem for p in flag_paths(self.cfg.flags_dir)}

    def status(self) -> dict:
        """One computation at a time, reused for STATUS_TTL: a flood of GET /status costs
        the store one connection, not one per request."""
        from rollout.flagfiles import load_flags
        from rollout.status import status_document

        with self._status_lock:
            if self._status and time.monotonic() - self._status[0] < STATUS_TTL:
                return self._status[1]
            states = load_flags(self.cfg.flags_dir)
            with open_store(self.cfg.store_url, self.cfg.history_url) as store:
                doc = status_document(states, store, self.cfg.clock())
            self._status = (time.monotonic(), doc)
            return doc

    def close(self) -> None:
        self.hook_log.close()


async def healthz(request: Request) -> JSONResponse:
    svc = request.app.state.service
    code, doc = svc.loop.health()
    doc["page"] = svc.cfg.page_access.describe()
    return JSONResponse(doc, code, headers={"Cache-Control": "no-store"})


async def status(request: Request) -> JSONResponse:
    from rollout.serve.page import admit

    svc = request.app.state.service
    try:
        admit(request)                   # the status page's credentials
        doc = await run_in_threadpool(svc.status)
    except Refused as exc:
        return JSONResponse({"error": str(exc)}, exc.status, headers=exc.headers)
    except RolloutError as exc:
        return JSONResponse({"error": svc.redact(str(exc))}, 503)
    return Response(svc.redact(json.dumps(doc, ensure_ascii=False)),
                    media_type="application/json", headers={"Cache-Control": "no-store"})


async def _body(request: Request) -> bytes:
    """The body, refused as soon as it grows past MAX_BODY (also without Content-Length)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Refused(413, f"body larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def newrelic_hook(request: Request) -> JSONResponse:
    svc: Service = request.app.state.service
    cfg = svc.cfg
    source = request.client.host if request.client else "unknown"
    named, detail, headers = (), "", {}
    try:
        authed = authenticate(request.headers.get("authorization"), cfg.hook_token,
                              cfg.hook_problem)
        svc.limits.check(source, authed)
        if cfg.hook_problem:
            raise Refused(503, f"the webhook is disabled: {cfg.hook_problem}")
        if not authed:
            raise Refused(401, "missing or wrong bearer token",
                          {"WWW-Authenticate": 'Bearer realm="rollout"'})
        check_content(request.headers.get("content-type"), request.headers.get("content-length"))
        body = await _body(request)
        try:
            known = await run_in_threadpool(svc.known_flags)
        except RolloutError as exc:
            raise Refused(503, f"cannot read the committed flags: {exc}") from None
        flags, payload = requested_flags(body, known)
        detail = describe(payload)
        svc.loop.request(flags)
        named = () if flags is ALL else tuple(sorted(flags))
        code, answer = 202, {"accepted": True,
                             "evaluating": list(named) if named else "every live flag"}
    except Refused as exc:
        code, answer, headers = exc.status, {"error": str(exc)}, exc.headers
    except ClientDisconnect:
        code, answer = 400, {"error": "the client went away before its body arrived"}
    svc.hook_log.record(source, code, named, detail)
    return JSONResponse(answer, code, headers=headers)


def build_app(service: Service, routes: Sequence[BaseRoute] = ()) -> Starlette:
    from rollout.serve.page import SecurityHeaders

    app = Starlette(routes=[
        Route("/healthz", healthz, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
        Route("/hooks/newrelic", newrelic_hook, methods=["POST"]),
        *routes,
    ], middleware=[Middleware(SecurityHeaders)])
    app.state.service = service
    return app

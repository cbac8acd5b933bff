"""The status page's routes, added beside the guard's (`build_app(service, routes=...)`).

    GET /                      one card per flag of the flags directory
    GET /flags/<flag>          one flag's card
    GET /flags/<flag>.json     the same view model as JSON
    GET /static/page.css       the one stylesheet (no credentials: it holds nothing)

GET only (Starlette answers 405 to anything else): the page cannot change anything.
Every request passes page_auth.PageGuard first; every answer carries the security
headers below, and every body is passed through the service's redactor, so a secret
that reached the store by mistake (a token in a reason) is not shown either.
"""
from __future__ import annotations

import json
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from rollout.core.state import FLAG_NAME
from rollout.errors import RolloutError
from rollout.serve.hook import Refused
from rollout.serve.logs import log

CSS = Path(__file__).resolve().parent / "static" / "page.css"

SECURITY_HEADERS = {
    # no script at all; styles from this origin only; the chart is inline SVG (markup,
    # not an image); the favicon is an empty data: URL
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def _service_line(svc) -> str:
    h = svc.loop
    role = "leader" if h.leader else "standby"
    return f"this instance: {role} · page: {svc.cfg.page_access.describe()}"


def admit(request: Request) -> None:
    """The page's guard (disabled, rate limit, credentials); raises Refused."""
    svc = request.app.state.service
    source = request.client.host if request.client else "unknown"
    try:
        svc.page_guard.check(source, request.headers.get("authorization"))
    except Refused as exc:
        log("page_refused", source=source, status=exc.status, path=request.url.path)
        raise


def _refusal(exc: Refused, as_json: bool) -> Response:
    if as_json:
        return JSONResponse({"error": str(exc)}, exc.status, headers=exc.headers)
    from rollout.serve.page_html import error_page

    return HTMLResponse(error_page(exc.status, str(exc)), exc.status, headers=exc.headers)


async def _answer(request: Request, flag: str | None, as_json: bool) -> Response:
    from rollout.serve.page_html import error_page, page

    svc = request.app.state.service
    try:
        admit(request)
        if flag is not None and (not FLAG_NAME.fullmatch(flag)):
            raise Refused(404, f"no flag {flag!r}")
        pg = await run_in_threadpool(svc.page_data.page)
    except Refused as exc:
        return _refusal(exc, as_json)
    except RolloutError as exc:          # store or flag files unreadable: say so, stay up
        msg = svc.redact(f"cannot read the rollout state: {exc}")
        return (JSONResponse({"error": msg}, 503) if as_json else
                HTMLResponse(error_page(503, msg), 503))
    views = pg.views
    if flag is not None:
        views = tuple(v for v in views if v.flag == flag)
        if not views:
            return _refusal(Refused(404, f"no flag {flag!r}: no committed flag file of that name"),
                            as_json)
    if as_json:
        body = json.dumps(views[0].to_json(), ensure_ascii=False, indent=1)
        return Response(svc.redact(body), media_type="application/json")
    title = f"{flag} · rollout status" if flag else "rollout status"
    link = f"/flags/{flag}.json" if flag else "/status"
    html = page(title, views, at=pg.at, store=pg.store, service=_service_line(svc), json_link=link)
    return HTMLResponse(svc.redact(html))


async def index(request: Request) -> Response:
    return await _answer(request, None, False)


async def flag_page(request: Request) -> Response:
    name = request.path_params["flag"]
    if name.endswith(".json"):
        return await _answer(request, name[:-5], True)
    return await _answer(request, name, False)


async def stylesheet(request: Request) -> Response:
    return Response(CSS.read_bytes(), media_type="text/css",
                    headers={"Cache-Control": "public, max-age=300"})


def page_routes() -> list[Route]:
    return [Route("/", index, methods=["GET"]),
            Route("/flags/{flag}", flag_page, methods=["GET"]),
            Route("/static/page.css", stylesheet, methods=["GET"])]


class SecurityHeaders:
    """Adds SECURITY_HEADERS (and no-store, unless the answer set its own caching) to
    every HTTP answer of the app, refusals and 405s included."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for k, v in SECURITY_HEADERS.items():
                    if k.lower().encode() not in present:
                        headers.append((k.lower().encode(), v.encode()))
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

"""The target URL: checked once, and shown everywhere without what could be a secret.

A staging URL may carry credentials (https://user:token@host) or a key in its query
string; the load test uses them, but the progress lines, the summary, the HTML report and
the history row show only scheme, host, port and path.
"""
from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit, urlunsplit

from rollout.errors import UserError

# Sent as the Authorization header of every request when set (e.g. "Bearer ..."), for a
# staging API behind a login; never printed or recorded.
AUTH_ENV = "ROLLOUT_LOADTEST_AUTHORIZATION"


def check_target(url: str) -> str:
    """The base URL the scenarios' paths are appended to, or a one-line UserError."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UserError(f"--target: {str(exc).lower()}, expected an http(s) URL like "
                        f"https://staging.example.com") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"--target {public_url(url)!r}: expected an http(s) URL like "
                        f"https://staging.example.com")
    if parts.username is not None and os.environ.get(AUTH_ENV):
        raise UserError(f"--target carries credentials and {AUTH_ENV} is set: expected one "
                        f"of them (the URL's would win)")
    if parts.query or parts.fragment:
        # the scenarios' paths are appended to the base: a query would end up mid-URL
        raise UserError(f"--target {public_url(url)!r}: expected no query string or fragment; "
                        f"send a token with {AUTH_ENV} instead")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def public_url(url: str) -> str:
    """scheme://host[:port]/path: no user, password, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "(unparseable URL)"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def secrets_of(url: str) -> list[str]:
    """Every piece of `url` and of the environment that must never be shown."""
    try:
        parts = urlsplit(url)
        # not the user name: "api" would mangle every /api/ai/... path in the output
        found = [parts.password, parts.query]
        found += [unquote(v) for v in (parts.password, parts.query) if v]
    except ValueError:
        found = [url]
    found.append(os.environ.get(AUTH_ENV))
    return sorted({s for s in found if s and len(s) >= 3}, key=len, reverse=True)


def redactor(url: str):
    """A function that replaces each secret of `url` (and the auth header) with ***, on
    top of the project's one redaction (rollout/redact.py)."""
    from rollout.redact import literal_forms, redact

    forms = literal_forms(secrets_of(url), minimum=3)
    return lambda text: redact(text, extra=forms)

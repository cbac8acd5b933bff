"""Who may read the status page (and GET /status): its own credential, separate from the
webhook's, and what happens without one.

    ROLLOUT_PAGE_TOKEN set (>= 32 characters, not the webhook token): every request needs
        it, as HTTP Basic (any user name, the token as password: what a browser asks for)
        or as `Authorization: Bearer <token>` (scripts);
    not set, service bound to a loopback address: open (only this machine reaches it);
    not set, `--page-public`: open (behind a proxy that authenticates by itself);
    otherwise disabled: 503, every request. A short or reused token disables it too.

A mistake here never stops the service: the guard loop and the webhook matter more than
the page, so a bad page credential disables the page (and /healthz says why) instead of
refusing to start. Credentials are compared in constant time; failed attempts are rate
limited per source and for all sources together.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from dataclasses import dataclass

from rollout.serve.hook import Refused, RateLimits, authenticate

PAGE_TOKEN_ENV = "ROLLOUT_PAGE_TOKEN"
MIN_PAGE_TOKEN = 32             # `openssl rand -hex 16` gives 32
REALM = "rollout status"
# A person reloading, or several people every 30 s, stay inside these; a guesser does not.
PAGE_LIMITS = dict(authed=(5.0, 60), anon=(0.5, 10), anon_all=(5.0, 40))

CREDENTIALS, LOCAL, PUBLIC, DISABLED = "credentials", "local", "public", "disabled"


@dataclass(frozen=True)
class Access:
    mode: str                       # credentials | local | public | disabled
    problem: str | None = None      # why it is disabled

    def describe(self) -> str:
        return {CREDENTIALS: f"enabled, {PAGE_TOKEN_ENV} required",
                LOCAL: "open: no credentials, bound to a loopback address",
                PUBLIC: "open: no credentials (--page-public)"}.get(
                    self.mode, f"disabled: {self.problem}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def page_access(host: str, token: str | None, hook_token: str | None,
                public: bool = False) -> Access:
    if token:
        if len(token) < MIN_PAGE_TOKEN:
            return Access(DISABLED, f"{PAGE_TOKEN_ENV} is shorter than {MIN_PAGE_TOKEN} characters")
        if hook_token and hmac.compare_digest(token.encode(), hook_token.encode()):
            return Access(DISABLED, f"{PAGE_TOKEN_ENV} must differ from ROLLOUT_HOOK_TOKEN "
                                    f"(New Relic holds that one)")
        return Access(CREDENTIALS)
    if public:
        return Access(PUBLIC)
    if is_loopback(host):
        return Access(LOCAL)
    return Access(DISABLED, f"{PAGE_TOKEN_ENV} is not set and the service listens on {host}; "
                            f"set it, or pass --page-public behind a proxy that authenticates")


def credentials_match(header: str | None, token: str) -> bool:
    """HTTP Basic with the token as password (any user name), or Bearer <token>."""
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return authenticate(header, token, None)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    _, sep, password = decoded.partition(":")
    return bool(sep) and hmac.compare_digest(password.encode("utf-8"), token.encode("utf-8"))


class PageGuard:
    """The check every page request passes first: disabled, rate limit, credentials."""

    def __init__(self, access: Access, token: str | None, limits: RateLimits | None = None):
        self.access, self._token = access, token
        self.limits = limits or RateLimits(**PAGE_LIMITS)

    def check(self, source: str, authorization: str | None) -> None:
        """Returns when the request may be answered; raises Refused otherwise."""
        if self.access.mode == DISABLED:
            raise Refused(503, f"the status page is disabled: {self.access.problem}")
        if self.access.mode != CREDENTIALS:
            self.limits.check(source, True)
            return
        ok = credentials_match(authorization, self._token)
        self.limits.check(source, ok)
        if not ok:
            raise Refused(401, "credentials required: the status page token as the password "
                               "(HTTP Basic, any user name) or as a bearer token",
                          {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'})

"""One HTTP call with the retry policy every adapter shares.

Retries connection errors, timeouts, 429 (honouring Retry-After) and 5xx with
exponential backoff; anything else is returned for the caller to judge. After the
last attempt an ExternalError says what failed in one line, with any secret in the URL
masked. Inside `with deadline(seconds):` every attempt and every wait is cut to what is
left of that time, so a caller can bound several calls together (the guard's
notifications: a hanging receiver cannot hold a run for minutes).
"""
from __future__ import annotations

import contextvars
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import requests

from rollout.errors import ExternalError
from rollout.redact import redact

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    timeout: float = 10.0        # seconds, per attempt (connect and read)
    backoff: float = 0.5         # first wait; doubles each retry
    max_wait: float = 30.0       # cap on any wait, Retry-After included


DEFAULT_POLICY = RetryPolicy()
_session = requests.Session()
sleep = time.sleep  # replaced in tests that count waits
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)
MIN_ATTEMPT = 0.05  # seconds: less than this left is no time for another attempt


@contextmanager
def deadline(seconds: float):
    """Bound every request inside the block to `seconds` in all (nested: the sooner wins)."""
    end = time.monotonic() + max(0.0, seconds)
    outer = _deadline.get()
    token = _deadline.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left() -> float | None:
    """Seconds left before the enclosing deadline; None without one."""
    end = _deadline.get()
    return None if end is None else end - time.monotonic()


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def request(method: str, url: str, *, what: str, policy: RetryPolicy = DEFAULT_POLICY,
            retry_on: frozenset[int] = RETRY_STATUSES, **kwargs) -> requests.Response:
    """Send with retries. `what` names the system in error messages ("New Relic").

    `retry_on` narrows the retried statuses for an endpoint whose error status is itself
    the answer (a health check's 503 names the unhealthy services): a status left out of it
    is returned to the caller like any other.
    """
    last = ""
    shown = redact(url)
    attempts = _attempts(policy)
    for attempt in range(1, attempts + 1):
        wait = policy.backoff * 2 ** (attempt - 1)
        timeout = policy.timeout
        left = time_left()
        if left is not None:
            if left < MIN_ATTEMPT:
                raise ExternalError(f"{what}: {method} {shown}: no time left to "
                                    f"{'send' if attempt == 1 else 'retry'} ({last or 'deadline spent'})")
            timeout = min(timeout, left)
        try:
            resp = _session.request(method, url, timeout=timeout, **kwargs)
        except requests.Timeout:
            last = f"no answer within {timeout:g}s"
        except requests.ConnectionError as exc:
            last = f"cannot connect ({exc.__class__.__name__})"
        except requests.RequestException as exc:
            # a malformed URL or request: retrying will not help, and the URL may be a
            # secret (a Slack webhook), so only the kind of problem is named
            raise ExternalError(f"{what}: the request could not be sent "
                                f"({exc.__class__.__name__}: check the configured URL)") from None
        else:
            if resp.status_code not in retry_on:
                return resp
            last = f"HTTP {resp.status_code}"
            hinted = _retry_after(resp)
            if hinted is not None:
                wait = hinted
        if attempt < attempts:
            pause, left = min(wait, policy.max_wait), time_left()
            sleep(pause if left is None else max(0.0, min(pause, left)))
    raise ExternalError(f"{what}: {method} {shown} failed after {attempts} attempts: {last}")


def _attempts(policy: RetryPolicy) -> int:
    """ROLLOUT_HTTP_ATTEMPTS caps the attempts (a guard on a short schedule, tests)."""
    cap = os.environ.get("ROLLOUT_HTTP_ATTEMPTS", "").strip()
    if cap.isdigit() and int(cap) >= 1:
        return min(policy.attempts, int(cap))
    return policy.attempts


def raise_for_status(resp: requests.Response, what: str) -> requests.Response:
    """Return a 2xx response; otherwise raise ExternalError in the vendor's own words.

    Vendors explain a refusal in the body, which says more than the status: Slack sends a
    plain string (`invalid_payload`), GitHub and PagerDuty JSON with `message` and `errors`
    (strings for PagerDuty, objects with `message` or `field`/`code` for GitHub).
    """
    if 200 <= resp.status_code < 300:
        return resp
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and (body.get("message") or body.get("errors")):
        parts = [str(body["message"])] if body.get("message") else []
        for err in body.get("errors") or []:
            if isinstance(err, dict):
                err = err.get("message") or " ".join(
                    str(err[k]) for k in ("resource", "field", "code") if err.get(k))
            parts.append(str(err))
        detail = "; ".join(parts)
    else:
        detail = resp.text.strip() or resp.reason or "no explanation in the response"
    detail = " ".join(detail.split())  # errors reach users as one line
    if len(detail) > 500:
        detail = detail[:499] + "…"
    raise ExternalError(f"{what}: HTTP {resp.status_code} {detail}")

"""One HTTP call under the retry policy every adapter shares (rollout/adapters/retry.py).

Retries connection errors, timeouts, 429 (honouring Retry-After) and 5xx with
exponential backoff; anything else is returned for the caller to judge. After the
last attempt an ExternalError says what failed in one line, with any secret in the URL
masked. Inside `retry.deadline(seconds)` every attempt and every wait is cut to what is
left of that time.
"""
from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import requests

from rollout.adapters.retry import DEFAULT_POLICY, Retry, RetryPolicy, http_attempt_cap
from rollout.errors import ExternalError
from rollout.redact import redact

__all__ = ["DEFAULT_POLICY", "RETRY_STATUSES", "RetryPolicy", "raise_for_status", "request"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_session = requests.Session()


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
    def attempt(timeout: float) -> requests.Response:
        try:
            resp = _session.request(method, url, timeout=timeout, **kwargs)
        except requests.Timeout:
            raise Retry(f"no answer within {timeout:g}s") from None
        except requests.ConnectionError as exc:
            raise Retry(f"cannot connect ({exc.__class__.__name__})") from None
        except requests.RequestException as exc:
            # a malformed URL or request: retrying will not help, and the URL may be a
            # secret (a Slack webhook), so only the kind of problem is named
            raise ExternalError(f"{what}: the request could not be sent "
                                f"({exc.__class__.__name__}: check the configured URL)") from None
        if resp.status_code in retry_on:
            raise Retry(f"HTTP {resp.status_code}", wait=_retry_after(resp))
        return resp

    return policy.capped(http_attempt_cap()).run(attempt, what=f"{what}: {method} {redact(url)}")


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

"""One retry policy for every adapter that talks to an outside system.

A `RetryPolicy` says how many attempts, how long each may take, how long to wait between
them (exponential from `backoff`, or what the answer asked for, such as Retry-After;
any wait capped at `max_wait`) and how to wait (`sleep`: a test passes a recording one
instead of patching a module). `policy.run(attempt, what=...)` drives the attempts: an
attempt that another try may fix raises `Retry`; anything else ends the run at once.
HTTP (rollout/adapters/http.py), NerdGraph's transient GraphQL errors
(rollout/adapters/metrics/newrelic.py) and PostgreSQL's connect
(rollout/adapters/store/postgres.py) all retry through it.

Inside `with deadline(seconds):` every attempt's timeout and every wait is cut to what
is left of that time, so a caller can bound several calls together (the guard's
notifications: a hanging receiver cannot hold a run for minutes).

This module imports nothing heavy: the command line sets the run-wide cap on HTTP
attempts (ROLLOUT_HTTP_ATTEMPTS, read in rollout/cli/main.py) without loading requests.
"""
from __future__ import annotations

import contextvars
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Callable, TypeVar

from rollout.errors import ExternalError

T = TypeVar("T")
MIN_ATTEMPT = 0.05  # seconds: less than this left is no time for another attempt

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)
_http_attempt_cap: int | None = None


class Retry(Exception):
    """An attempt failed in a way another attempt may fix; `wait` is the answer's own
    hint (Retry-After) in seconds, None for the policy's backoff."""

    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    timeout: float = 10.0        # seconds, per attempt
    backoff: float = 0.5         # first wait; doubles each retry
    max_wait: float = 30.0       # cap on any wait, Retry-After included
    sleep: Callable[[float], object] = field(default=time.sleep, compare=False, repr=False)

    def capped(self, attempts: int | None) -> "RetryPolicy":
        """This policy with at most `attempts` attempts (None: unchanged)."""
        if attempts is None or attempts >= self.attempts:
            return self
        return replace(self, attempts=max(1, attempts))

    def run(self, attempt: Callable[[float], T], *, what: str,
            gave_up: Callable[[int, str], str] | None = None) -> T:
        """Call `attempt(timeout)` until it returns, raises something other than Retry, or
        the attempts (or the enclosing deadline) are spent; then one ExternalError: by
        default "<what> failed after N attempts: <last reason>", or `gave_up(N, reason)`."""
        last = ""
        for n in range(1, self.attempts + 1):
            timeout = self.timeout
            left = time_left()
            if left is not None:
                if left < MIN_ATTEMPT:
                    raise ExternalError(f"{what}: no time left to "
                                        f"{'send' if n == 1 else 'retry'} ({last or 'deadline spent'})")
                timeout = min(timeout, left)
            hint = None
            try:
                return attempt(timeout)
            except Retry as exc:
                last, hint = exc.reason, exc.wait
            if n < self.attempts:
                self._pause(n, hint)
        raise ExternalError(gave_up(self.attempts, last) if gave_up
                            else f"{what} failed after {self.attempts} attempts: {last}")

    def _pause(self, attempt: int, hint: float | None) -> None:
        wait = self.backoff * 2 ** (attempt - 1) if hint is None else hint
        pause, left = min(wait, self.max_wait), time_left()
        self.sleep(pause if left is None else max(0.0, min(pause, left)))


DEFAULT_POLICY = RetryPolicy()


@contextmanager
def deadline(seconds: float):
    """Bound every attempt and wait inside the block to `seconds` in all (nested: the
    sooner wins)."""
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


def cap_http_attempts(attempts: int | None) -> int | None:
    """Cap the attempts of every HTTP request of this process (the command line's
    ROLLOUT_HTTP_ATTEMPTS: a guard on a short schedule gives up sooner); None lifts the
    cap. Returns the previous cap, for the caller to restore."""
    global _http_attempt_cap
    previous, _http_attempt_cap = _http_attempt_cap, attempts
    return previous


def http_attempt_cap() -> int | None:
    return _http_attempt_cap

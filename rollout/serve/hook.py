"""The New Relic webhook's rules, apart from the HTTP framework: who may call, how often,
what a body may be, which flags it may name, and how every call is recorded.

The hook can only ask for an evaluation; the guard's judgement decides. So a forged or
replayed call costs at most one evaluation, and the rules below keep even that bounded:

- authentication first, from the header alone (a constant-time compare): an unknown caller
  never makes the service read a body;
- token buckets per (source address, authenticated or not), plus one bucket shared by all
  unauthenticated callers: a flood without the token cannot starve New Relic's calls,
  and spoofed source addresses cannot multiply the unauthenticated budget;
- every call is recorded in the store (source, status, flags, a short detail; never the
  token or any header). During a flood the refusals beyond a per-minute budget are
  counted and written as one summary row per status, so a flood cannot fill the store.
"""
from __future__ import annotations

import hmac
import json
import math
import re
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from rollout.adapters.store.service_tables import HookCall
from rollout.core.state import FLAG_NAME
from rollout.serve.logs import log

MAX_BODY = 64 * 1024
MAX_FLAGS = 100
# New Relic sends one call per issue event; a person with curl a few. Bursts above these
# are refused with 429 and Retry-After.
AUTHED_RATE, AUTHED_BURST = 1.0, 10          # per source: tokens per second, bucket size
ANON_RATE, ANON_BURST = 0.5, 5                # per source, without a valid token
ANON_GLOBAL_RATE, ANON_GLOBAL_BURST = 5.0, 20  # all unauthenticated callers together
LOG_BUDGET = 60                               # refusal rows per minute before summarising
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

# What a request's flags are: ALL (none named: every live flag) or a frozenset of names.
ALL = "all"


class Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class TokenBuckets:
    """Token buckets by key; the least recently used keys are forgotten past max_keys."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.max_keys, self.clock = rate, burst, max_keys, clock
        self._buckets: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key) -> float:
        """0 when a token was taken; otherwise the seconds until one is available."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[key] = (tokens - 1 if not wait else tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait


class RateLimits:
    """Per source with credentials, per source without, and all sources without together
    (each a (tokens per second, burst)); the webhook's by default, the status page has its
    own (rollout/serve/page_auth.py)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *,
                 authed=(AUTHED_RATE, AUTHED_BURST), anon=(ANON_RATE, ANON_BURST),
                 anon_all=(ANON_GLOBAL_RATE, ANON_GLOBAL_BURST)):
        self.authed = TokenBuckets(*authed, clock=clock)
        self.anon = TokenBuckets(*anon, clock=clock)
        self.anon_all = TokenBuckets(*anon_all, clock=clock)

    def check(self, source: str, authenticated: bool) -> None:
        if authenticated:
            wait = self.authed.take(source)
        else:
            wait = self.anon.take(source) or self.anon_all.take("*")
        if wait:
            raise Refused(429, "too many calls from this source; retry later",
                          {"Retry-After": str(max(1, math.ceil(wait)))})


def authenticate(header: str | None, token: str | None, problem: str | None) -> bool:
    """True for `Bearer <token>`. Without a usable token configured nobody is let in."""
    if problem or not token or not header:
        return False
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode("utf-8"))


def check_content(content_type: str | None, content_length: str | None) -> None:
    """Refuse by the headers alone, before reading anything."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise Refused(415, "expected Content-Type: application/json")
    if content_length is not None:
        if not content_length.strip().isdigit():
            raise Refused(400, "Content-Length is not a number")
        if int(content_length) > MAX_BODY:
            raise Refused(413, f"body larger than {MAX_BODY} bytes")


def requested_flags(body: bytes, known: set[str]):
    """The flags a body asks to evaluate: ALL when it names none."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):   # RecursionError: [[[[...
        raise Refused(400, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise Refused(400, "expected a JSON object")
    flags = payload.get("flags")
    if flags is None or flags == []:
        return ALL, payload
    if not isinstance(flags, list) or len(flags) > MAX_FLAGS or not all(
            isinstance(f, str) and FLAG_NAME.match(f) for f in flags):
        raise Refused(422, f"field flags: expected a list of at most {MAX_FLAGS} flag names")
    unknown = sorted(set(flags) - known)
    if unknown:
        raise Refused(422, f"field flags: unknown flag {unknown[0]!r}; "
                           f"known: {', '.join(sorted(known)) or 'none'}")
    return frozenset(flags), payload


def describe(payload: dict | None) -> str:
    """A short, printable summary of a New Relic issue for the call log."""
    if not isinstance(payload, dict):
        return ""
    parts = []
    for key in ("issueId", "state", "priority", "title"):
        value = payload.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            parts.append(f"{key}={value}")
    return _CONTROL.sub(" ", " ".join(parts))[:300]


@dataclass
class HookLog:
    """Records each call: a log line at once, and a row in the store written by a thread
    of its own in batches, so a caller never waits for a disk sync. Refusals past a
    per-minute budget are counted and written as one summary row per status. A store
    that cannot be written is logged, never raised to the caller."""

    write: Callable[[list], None]          # writes a batch of HookCall rows
    instance: str
    budget: int = LOG_BUDGET
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self):
        self._cond = threading.Condition()
        self._queue: list[HookCall] = []
        self._minute = None
        self._used = 0
        self._held: Counter = Counter()            # status -> refusals not written
        self._sources: dict[int, set] = {}
        self._closing = False
        self._thread = threading.Thread(target=self._writer, name="hook-log", daemon=True)
        self._thread.start()

    def record(self, source: str, status: int, flags=(), detail: str = "") -> None:
        now = datetime.now(timezone.utc)
        call = HookCall(now, self.instance, source, status, tuple(sorted(flags)), detail)
        log("hook_call", source=source, status=status, flags=list(call.flags), detail=detail)
        with self._cond:
            minute = int(self.clock() // 60)
            if minute != self._minute:
                self._summarise(now)
                self._minute, self._used = minute, 0
            if status >= 300 and self._used >= self.budget:
                self._held[status] += 1
                self._sources.setdefault(status, set()).add(source)
                return
            self._used += status >= 300
            self._queue.append(call)
            self._cond.notify()

    def close(self, timeout: float = 10) -> None:
        """Write what is pending (the summaries too) and stop the writer."""
        with self._cond:
            self._summarise(datetime.now(timezone.utc))
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)

    def _summarise(self, now: datetime) -> None:
        for status, n in sorted(self._held.items()):
            sources = self._sources.get(status, set())
            source = next(iter(sources)) if len(sources) == 1 else f"{len(sources)} sources"
            self._queue.append(HookCall(now, self.instance, source, status, (),
                                        f"{n} refusals past the log budget of {self.budget} "
                                        f"a minute", calls=n))
        self._held.clear()
        self._sources.clear()
        self._cond.notify()

    def _writer(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                batch, self._queue = self._queue, []
                if not batch and self._closing:
                    return
            try:
                self.write(batch)
            except Exception as exc:       # the store is down: the log lines remain
                log("hook_calls_not_recorded", level=40, calls=len(batch),
                    error=" ".join(str(exc).split()))

"""The pieces of `rollout serve` one by one: the lease on every store backend (SQLite,
PostgreSQL, the http store's history), the webhook's rules as tables of cases, the
rate limits on a fake clock, and the call log's flood budget."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from rollout.adapters.store.service_tables import HookCall, ServiceTables
from rollout.serve.hook import (ALL, MAX_BODY, HookLog, RateLimits, Refused, TokenBuckets,
                                authenticate, check_content, describe, requested_flags)

T = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
TTL = timedelta(seconds=10)
LEASE = "guard-loop"


# -- the lease ---------------------------------------------------------------------------------
def test_the_lease_changes_hands_only_when_expired_or_released(store):
    t = ServiceTables(store)
    assert t.lease(LEASE) is None
    a = t.acquire(LEASE, "a", TTL, T)
    assert (a.holder, a.term, a.expires_at) == ("a", 1, T + TTL)
    assert t.acquire(LEASE, "b", TTL, T + timedelta(seconds=5)).holder == "a"   # still valid
    renewed = t.acquire(LEASE, "a", TTL, T + timedelta(seconds=8))
    assert (renewed.holder, renewed.term, renewed.expires_at) == ("a", 1, T + timedelta(seconds=18))
    assert t.acquire(LEASE, "b", TTL, T + timedelta(seconds=17)).holder == "a"
    b = t.acquire(LEASE, "b", TTL, T + timedelta(seconds=18))               # a stopped renewing
    assert (b.holder, b.term, b.acquired_at) == ("b", 2, T + timedelta(seconds=18))
    assert t.acquire(LEASE, "a", TTL, T + timedelta(seconds=19)).holder == "b"   # a lost it
    assert t.release(LEASE, "a", T + timedelta(seconds=20)) is False          # not a's to give
    assert t.release(LEASE, "b", T + timedelta(seconds=20)) is True
    a2 = t.acquire(LEASE, "a", TTL, T + timedelta(seconds=20))                # at once
    assert (a2.holder, a2.term) == ("a", 3)


def test_racing_instances_never_share_the_lease(store_factory):
    """Eight instances take an expired lease at the same moment, 20 rounds: one wins each
    round, and every instance sees that one winner."""
    n, rounds = 8, 20
    barrier = threading.Barrier(n)
    seen = [[None] * n for _ in range(rounds)]
    errors = []

    def instance(i):
        try:
            with store_factory() as store:
                t = ServiceTables(store)
                for rnd in range(rounds):
                    barrier.wait(30)
                    now = T + rnd * 2 * TTL           # the last round's lease has expired
                    seen[rnd][i] = t.acquire(LEASE, f"i{i}", TTL, now).holder
        except Exception as exc:                      # reported below, not lost in a thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=instance, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    assert all(len(set(holders)) == 1 and None not in holders for holders in seen), seen
    # the term counts changes of hands (a holder re-taking its own expired lease renews it)
    changes = sum(seen[r][0] != seen[r - 1][0] for r in range(1, rounds))
    with store_factory() as store:
        assert ServiceTables(store).lease(LEASE).term == 1 + changes


def test_calls_are_recorded_in_one_batch_and_read_back(store):
    t = ServiceTables(store)
    calls = [HookCall(T, "i1", "203.0.113.9", 401), HookCall(T, "i1", "10.0.0.1", 202,
                                                               ("skills_rollout",), "x" * 900)]
    t.record_calls(calls)
    back = t.hook_calls()
    assert [(c.source, c.status, c.flags, len(c.detail), c.calls) for c in back] == [
        ("203.0.113.9", 401, (), 0, 1), ("10.0.0.1", 202, ("skills_rollout",), 500, 1)]
    assert back[0].at == T and back[0].id < back[1].id


# -- the webhook's rules -----------------------------------------------------------------------
TOKEN = "t" * 40


@pytest.mark.parametrize("header, problem, ok", [
    (f"Bearer {TOKEN}", None, True),
    (f"bearer {TOKEN}", None, True),             # the scheme is case-insensitive (RFC 6750)
    (f"Bearer  {TOKEN} ", None, True),
    (None, None, False),
    ("", None, False),
    (f"Basic {TOKEN}", None, False),
    (f"Bearer {TOKEN}x", None, False),
    (f"Bearer {TOKEN[:-1]}", None, False),
    ("Bearer ", None, False),
    ("Bearer \udcff", None, False),               # undecodable: refused, not a crash
    (f"Bearer {TOKEN}", "ROLLOUT_HOOK_TOKEN is not set", False),
])
def test_authenticate(header, problem, ok):
    assert authenticate(header, TOKEN, problem) is ok


@pytest.mark.parametrize("ctype, length, status", [
    ("application/json", "10", None),
    ("application/json; charset=utf-8", None, None),
    ("Application/JSON", str(MAX_BODY), None),
    ("application/json", str(MAX_BODY + 1), 413),
    ("application/json", "1000000", 413),
    ("application/json", "-1", 400),
    ("application/json", "12abc", 400),
    ("text/plain", "10", 415),
    ("application/x-www-form-urlencoded", "10", 415),
    (None, "10", 415),
    ("application/jsonp", "10", 415),
])
def test_check_content(ctype, length, status):
    if status is None:
        check_content(ctype, length)
    else:
        with pytest.raises(Refused) as exc:
            check_content(ctype, length)
        assert exc.value.status == status


KNOWN = {"skills_rollout", "other_flag"}


@pytest.mark.parametrize("body, want", [
    (b"{}", ALL),
    (b'{"flags": []}', ALL),
    (b'{"flags": null, "title": "x"}', ALL),
    (b'{"flags": ["skills_rollout"]}', {"skills_rollout"}),
    (b'{"flags": ["skills_rollout", "other_flag", "skills_rollout"]}', KNOWN),
    (b'{"flags": ["nope"]}', 422),
    (b'{"flags": "skills_rollout"}', 422),
    (b'{"flags": [1]}', 422),
    (b'{"flags": ["../../etc/passwd"]}', 422),
    (b'{"flags": ["Skills_Rollout"]}', 422),
    (json.dumps({"flags": ["skills_rollout"] * 101}).encode(), 422),
    (b"[]", 400),
    (b'"flags"', 400),
    (b"", 400),
    (b"{", 400),
    (b"\xff\xfe{}", 400),
    (b"[" * 60000 + b"]" * 60000, 400),           # nested past the parser's recursion limit
    (b'{"flags": ["skills_rollout"], "x": ' + b"[" * 30000 + b"]" * 30000 + b"}", 400),
])
def test_requested_flags(body, want):
    if isinstance(want, int):
        with pytest.raises(Refused) as exc:
            requested_flags(body, KNOWN)
        assert exc.value.status == want
    else:
        got, _ = requested_flags(body, KNOWN)
        assert got == (ALL if want is ALL else frozenset(want))


def test_describe_keeps_a_short_printable_summary():
    text = describe({"issueId": "abc", "state": "ACTIVATED", "priority": "CRITICAL",
                     "title": "High Skill Error Rate\r\n\x1b[2J" + "y" * 1000, "flags": ["x"],
                     "token": "secret"})
    assert text.startswith("issueId=abc state=ACTIVATED priority=CRITICAL title=High Skill")
    assert len(text) <= 300 and "\x1b" not in text and "\n" not in text and "secret" not in text
    assert describe([1, 2]) == "" and describe({"title": {"nested": 1}}) == ""


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_token_buckets_refill_at_their_rate():
    clock = Clock()
    b = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [b.take("s") for _ in range(3)] == [0, 0, 0]
    assert b.take("s") == pytest.approx(0.5)
    assert b.take("other") == 0                      # per key
    clock.t += 0.5
    assert b.take("s") == 0 and b.take("s") == pytest.approx(0.5)
    clock.t += 100
    assert [b.take("s") for _ in range(4)][-1] > 0   # refilled to the burst, not beyond


def test_token_buckets_forget_the_oldest_keys():
    b = TokenBuckets(rate=1, burst=1, max_keys=3, clock=Clock())
    for key in "abcd":
        b.take(key)
    assert b.take("a") == 0 and b.take("d") > 0      # "a" was forgotten, "d" remembered


def test_unauthenticated_floods_cannot_starve_the_token_holder():
    clock = Clock()
    limits = RateLimits(clock=clock)
    refused = 0
    for i in range(200):                             # many spoofed sources, no token
        try:
            limits.check(f"198.51.100.{i}", authenticated=False)
        except Refused as exc:
            refused += 1
            assert exc.status == 429 and int(exc.headers["Retry-After"]) >= 1
    assert refused >= 175                            # the shared bucket holds 20
    for _ in range(10):
        limits.check("198.51.100.1", authenticated=True)   # New Relic's calls still pass
    with pytest.raises(Refused):
        limits.check("198.51.100.1", authenticated=True)


def test_the_call_log_summarises_a_flood_past_its_budget():
    batches, clock = [], Clock()
    written = threading.Event()

    def write(batch):
        batches.append(batch)
        written.set()

    hl = HookLog(write, "i1", budget=5, clock=clock)
    hl.record("203.0.113.1", 202, ("skills_rollout",), "issueId=1")
    for i in range(40):
        hl.record(f"203.0.113.{i % 3}", 401 if i % 2 else 429)
    hl.record("203.0.113.1", 202)                    # accepted calls are always written
    clock.t += 60                                    # the next minute: summaries, new budget
    hl.record("203.0.113.7", 401)
    hl.close()
    rows = [c for b in batches for c in b]
    assert sum(c.calls for c in rows) == 43          # every call accounted for
    summaries = [c for c in rows if c.calls > 1]
    assert sorted((c.status, c.calls, c.source) for c in summaries) == [
        (401, 18, "3 sources"), (429, 17, "3 sources")]
    assert len(rows) == 2 + 5 + 2 + 1

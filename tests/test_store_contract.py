"""The flag store contract, run against every store backend (see tests/stores.py)."""
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from rollout.core.state import APPLIED, HELD, Event
from rollout.errors import ConflictError
from tests.stores import at_once

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def ev(kind=APPLIED, frm=0, to=5, at=T0, revision="r1"):
    return Event("skills_rollout", at, kind, frm, to, ("because",), revision, "c0ffee", "tester")


def test_apply_creates_then_compare_and_set(store):
    assert store.read("skills_rollout") is None
    a = store.apply("skills_rollout", 0, None, ev(frm=None, to=0))
    assert (a.percentage, a.enabled, a.version) == (0, False, 1)
    b = store.apply("skills_rollout", 5, 1, ev(at=T0 + timedelta(hours=1)))
    assert (b.percentage, b.enabled, b.version) == (5, True, 2)
    got = store.read("skills_rollout")
    assert (got.percentage, got.enabled, got.version) == (5, True, 2)
    assert got.updated_at == T0 + timedelta(hours=1)
    with pytest.raises(ConflictError):
        store.apply("skills_rollout", 25, 1, ev(frm=5, to=25))   # stale version
    with pytest.raises(ConflictError):
        store.apply("skills_rollout", 0, None, ev(frm=None, to=0))  # already exists


def test_a_lost_compare_and_set_writes_no_history(store):
    store.apply("skills_rollout", 0, None, ev(frm=None, to=0))
    with pytest.raises(ConflictError):
        store.apply("skills_rollout", 5, 7, ev())
    assert [e.to_pct for e in store.history("skills_rollout")] == [0]
    assert store.read("skills_rollout").percentage == 0


def test_history_round_trips_every_field_oldest_first(store):
    store.apply("skills_rollout", 0, None, ev(frm=None, to=0))
    store.apply("skills_rollout", 5, 1, ev(at=T0 + timedelta(minutes=5)))
    h = store.history("skills_rollout")
    assert [(e.kind, e.from_pct, e.to_pct) for e in h] == [(APPLIED, None, 0), (APPLIED, 0, 5)]
    e = h[1]
    assert (e.at, e.reasons, e.revision, e.commit, e.actor) == (
        T0 + timedelta(minutes=5), ("because",), "r1", "c0ffee", "tester")
    assert store.history("skills_rollout", until=T0) == h[:1]
    assert store.history("other") == []


def test_identical_held_decisions_are_recorded_once(store):
    assert store.record(ev(kind=HELD, frm=5, to=25))
    assert not store.record(ev(kind=HELD, frm=5, to=25, at=T0 + timedelta(minutes=5)))
    assert store.record(ev(kind=HELD, frm=5, to=25, revision="r2"))
    assert len(store.history("skills_rollout")) == 2


def test_two_writers_racing_only_one_applies(store_factory):
    first = store_factory()
    first.apply("skills_rollout", 5, None, ev(frm=None, to=5))
    results = []

    def worker():
        s = store_factory()
        try:
            s.apply("skills_rollout", 25, 1, ev(frm=5, to=25))
            results.append("applied")
        except ConflictError:
            results.append("conflict")
        finally:
            s.close()

    at_once(worker, 4)
    assert sorted(results) == ["applied", "conflict", "conflict", "conflict"]
    assert [e.to_pct for e in first.history("skills_rollout")] == [5, 25]
    first.close()


def test_sqlite_history_is_append_only(tmp_path):
    from rollout.adapters.store.sqlite import SQLiteStore
    s = SQLiteStore(f"sqlite:///{tmp_path}/f.db")
    s.apply("skills_rollout", 0, None, ev(frm=None, to=0))
    for sql in ("UPDATE rollout_history SET to_pct = 100", "DELETE FROM rollout_history"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            s.conn.execute(sql)
    s.close()


def test_deliveries_are_claimed_once_and_retried_after_failure(store):
    from rollout.adapters.store.base import DELIVERY_LEASE

    assert store.claim_delivery(1, "slack", T0) == 1         # the first attempt
    assert not store.claim_delivery(1, "slack", T0)          # someone is sending
    store.finish_delivery(1, "slack", False, "HTTP 500", T0)
    assert store.claim_delivery(1, "slack", T0) == 2         # failed: retry, a repeat
    store.finish_delivery(1, "slack", True, "ok", T0)
    assert not store.claim_delivery(1, "slack", T0)          # sent: never again
    assert store.deliveries(1) == {"slack": ("sent", 2, "ok")}
    assert store.claim_delivery(1, "github", T0)
    assert not store.claim_delivery(1, "github", T0 + DELIVERY_LEASE / 2)
    assert store.claim_delivery(1, "github", T0 + DELIVERY_LEASE * 1.1) == 2   # lease expired

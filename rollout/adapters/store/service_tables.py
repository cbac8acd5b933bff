"""The rows `rollout serve` keeps in the flag store beside the flags: the leader lease of
its timed loop and the log of webhook calls. SQLite and PostgreSQL alike (migration 4 of
migrations.py), through the SQL store's public transactions; an http(s) flag store keeps them
in its history store, as it keeps deliveries.

The lease is a row (name, holder, term, expires_at) changed only by compare-and-set on
(holder, term) inside the store's writers' transaction: one holder at a time, a holder
that stops renewing loses it after its TTL, and `term` grows at every change of hands.
It decides who runs the timed loop, not who may act: acting stays safe through the
flag's own compare-and-set and the delivery claims, so two leaders at once (a paused
process waking after its TTL) cost an evaluation, never a second rollback.
Times are the callers' wall clocks (UTC): hosts keep them within milliseconds by NTP,
far inside any TTL worth using.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rollout.adapters.store.base import FlagStore
from rollout.adapters.store.sql import SQLStore, Tx

DETAIL_LIMIT = 500        # characters of a call's detail kept (titles come from outside)


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    term: int
    acquired_at: datetime
    expires_at: datetime

    def to_json(self) -> dict:
        return {"holder": self.holder, "term": self.term,
                "acquired_at": self.acquired_at.isoformat(),
                "expires_at": self.expires_at.isoformat()}


@dataclass(frozen=True)
class HookCall:
    at: datetime
    instance: str
    source: str                # the caller's address
    status: int                # the HTTP status answered
    flags: tuple = ()
    detail: str = ""
    calls: int = 1             # > 1: a summary of refusals during a flood
    id: int | None = None

    def to_json(self) -> dict:
        return {"id": self.id, "at": self.at.isoformat(), "instance": self.instance,
                "source": self.source, "status": self.status, "flags": list(self.flags),
                "detail": self.detail, "calls": self.calls}


@dataclass
class ServiceTables:
    store: FlagStore
    sql: SQLStore = field(init=False)

    def __post_init__(self):
        # the http(s) store keeps its bookkeeping in its SQL history store
        self.sql = self.store.bookkeeping()

    # -- the lease ------------------------------------------------------------------------
    @staticmethod
    def _lease_row(tx: Tx, name: str) -> Lease | None:
        r = tx.execute("SELECT name, holder, term, acquired_at, expires_at"
                       " FROM rollout_leases WHERE name = ?", (name,)).one()
        return None if r is None else Lease(r[0], r[1], int(r[2]), tx.time_out(r[3], "acquired_at"),
                                            tx.time_out(r[4], "expires_at"))

    def lease(self, name: str) -> Lease | None:
        with self.sql.transaction(f"reading lease {name}", write=False) as tx:
            return self._lease_row(tx, name)

    def acquire(self, name: str, holder: str, ttl: timedelta, now: datetime) -> Lease:
        """Take or renew the lease; returns it as it stands afterwards (held by `holder`
        when this call got or kept it)."""
        with self.sql.transaction(f"taking lease {name}") as tx:
            cur_lease = self._lease_row(tx, name)
            until = tx.time_in(now + ttl)
            if cur_lease is None:
                tx.execute("INSERT INTO rollout_leases (name, holder, term, acquired_at, expires_at)"
                           " VALUES (?, ?, 1, ?, ?) ON CONFLICT (name) DO NOTHING",
                           (name, holder, tx.time_in(now), until))
            elif cur_lease.holder == holder:
                tx.execute("UPDATE rollout_leases SET expires_at = ? WHERE name = ? AND holder = ?"
                           " AND term = ?", (until, name, holder, cur_lease.term))
            elif cur_lease.expires_at <= now:
                tx.execute("UPDATE rollout_leases SET holder = ?, term = term + 1, acquired_at = ?,"
                           " expires_at = ? WHERE name = ? AND holder = ? AND term = ?",
                           (holder, tx.time_in(now), until, name, cur_lease.holder, cur_lease.term))
            return self._lease_row(tx, name)

    def release(self, name: str, holder: str, now: datetime) -> bool:
        """Let the lease go at once (a standby takes it at its next look). False when
        `holder` did not hold it."""
        with self.sql.transaction(f"releasing lease {name}") as tx:
            return tx.execute("UPDATE rollout_leases SET expires_at = ? WHERE name = ?"
                              " AND holder = ?", (tx.time_in(now), name, holder)).rowcount == 1

    # -- webhook calls --------------------------------------------------------------------
    def record_calls(self, calls: list[HookCall]) -> None:
        """Append calls in one transaction (one disk sync for a batch)."""
        with self.sql.transaction("recording webhook calls") as tx:
            for call in calls:
                tx.execute("INSERT INTO rollout_hook_calls (at, instance, source, status, flags,"
                           " detail, calls) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (tx.time_in(call.at), call.instance, call.source[:200], call.status,
                            json.dumps(list(call.flags)), call.detail[:DETAIL_LIMIT], call.calls))

    def hook_calls(self, limit: int = 100) -> list[HookCall]:
        """The latest calls, oldest first."""
        with self.sql.transaction("reading webhook calls", write=False) as tx:
            found = tx.execute("SELECT id, at, instance, source, status, flags, detail, calls"
                               " FROM rollout_hook_calls ORDER BY id DESC LIMIT ?", (limit,)).all()
            return [HookCall(tx.time_out(r[1], "at"), r[2], r[3], r[4], tuple(json.loads(r[5])),
                             r[6], r[7], r[0]) for r in reversed(found)]

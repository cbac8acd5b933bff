"""The flag store over SQL, shared by SQLite and PostgreSQL (their tables: migrations.py).

Subclasses bring a DB-API connection and their dialect (parameter marker, how a writer
serialises, how times are stored). Everything else goes through `transaction()`, which
is also the public way in for the tables the flag store keeps beside its own: the http(s)
store's intents (rollout/adapters/store/http.py) and `rollout serve`'s lease and webhook
log (service_tables.py). A driver error anywhere becomes one ExternalError naming the
store without its password (exit 4), and the transaction is rolled back.
"""
from __future__ import annotations

import json
from abc import abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

from rollout.adapters.store import rows
from rollout.adapters.store.base import DELIVERY_LEASE, FlagStore, same_decision
from rollout.core.state import Applied, Event, as_utc
from rollout.errors import ConflictError, ExternalError
from rollout.redact import redact, redact_json

EVENT_COLUMNS = "id, flag, at, kind, from_pct, to_pct, reasons, revision, git_commit, actor, evidence"
FLAG_COLUMNS = "name, percentage, enabled, updated_at, version"


@dataclass(frozen=True)
class Intent:
    """An apply of the http(s) store in flight: the value it PUTs, the mirror version it
    expects, and the history row that records it once the API shows the value."""
    percentage: int
    mirror_version: int | None
    event: Event


class Tx:
    """One transaction of a SQL store: statements with `?` markers in any dialect, and
    times converted to and from what the store keeps."""

    def __init__(self, store: "SQLStore", cur):
        self._store, self._cur = store, cur

    def execute(self, sql: str, args=()) -> "Tx":
        self._cur.execute(self._store.dialect_sql(sql), args)
        return self

    def one(self):
        return self._cur.fetchone()

    def all(self) -> list:
        return self._cur.fetchall()

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    def time_in(self, dt: datetime):
        return self._store.time_in(dt)

    def time_out(self, value, field: str = "updated_at") -> datetime:
        return self._store.time_out(value, field)


class SQLStore(FlagStore):
    """Shared SQL; subclasses provide a DB-API connection and their dialect."""

    placeholder = "?"
    db_errors: tuple = ()           # the driver's exception classes

    def __init__(self, url: str, conn):
        self.url = url
        self.conn = conn

    # -- dialect hooks ------------------------------------------------------------
    @abstractmethod
    def _begin_write(self, cur) -> None:
        """Start a transaction that serialises writers."""

    @abstractmethod
    def writer_lock(self, wait: bool = True):
        """A context manager holding the writers' lock across transactions (the http
        store's apply spans a network call); yields False if wait=False and another
        holds it. A crashed holder's lock dies with it."""

    @abstractmethod
    def migrate(self) -> list[tuple[int, str]]:
        """Apply the migrations of migrations.py the database lacks; returns those applied."""

    def _error_text(self, exc: BaseException) -> str:
        return " ".join(str(exc).split()) or exc.__class__.__name__

    def time_in(self, dt: datetime):
        """A time as this store keeps it."""
        return as_utc(dt)

    def time_out(self, value, field: str = "updated_at") -> datetime:
        """A stored time as an aware UTC datetime, or one ExternalError naming the field."""
        try:
            return rows.timestamp(value, field)
        except rows.BadRow as exc:
            raise ExternalError(f"store {self.url}: {exc}") from None

    def dialect_sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def bookkeeping(self) -> "SQLStore":
        return self

    # -- transactions -------------------------------------------------------------
    @contextmanager
    def transaction(self, what: str, *, write: bool = True, note: str = "") -> Iterator[Tx]:
        """One transaction, committed when the block ends; `write` serialises it with the
        other writers. A driver error becomes "store URL: <what> failed: ...<note>"
        (exit 4); any failure rolls it back."""
        with self.reported_as(what, note):
            cur = self.conn.cursor()
            if write:
                self._begin_write(cur)
            yield Tx(self, cur)
            self.conn.commit()

    @contextmanager
    def reported_as(self, what: str, note: str = "") -> Iterator[None]:
        """Inside: a driver error becomes "store URL: <what> failed: ..." (exit 4), and any
        failure rolls back what the connection has not committed."""
        try:
            yield
        except self.db_errors as exc:
            self._rollback()
            raise ExternalError(f"store {self.url}: {what} failed: "
                                f"{self._error_text(exc)}{note}") from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        try:
            self.conn.rollback()
        except self.db_errors:
            pass            # the connection is gone; the first failure says more

    # -- the flag store -----------------------------------------------------------
    def read(self, flag: str) -> Applied | None:
        with self.transaction(f"reading {flag}", write=False) as tx:
            r = tx.execute(f"SELECT {FLAG_COLUMNS} FROM feature_flags WHERE name = ?", (flag,)).one()
        return rows.applied(r, f"store {self.url}") if r else None

    def read_all(self) -> dict[str, Applied]:
        with self.transaction("reading flags", write=False) as tx:
            found = tx.execute(f"SELECT {FLAG_COLUMNS} FROM feature_flags ORDER BY name").all()
        return {r[0]: rows.applied(r, f"store {self.url}") for r in found}

    def apply(self, flag, percentage, expected_version, event):
        with self.transaction(f"applying {flag} {percentage}%", note=" (the value and its "
                              "history row commit together or not at all)") as tx:
            now = tx.time_in(event.at)
            if expected_version is None:
                tx.execute("INSERT INTO feature_flags (name, percentage, enabled, updated_at,"
                           " version) VALUES (?, ?, ?, ?, 1) ON CONFLICT (name) DO NOTHING",
                           (flag, percentage, percentage > 0, now))
            else:
                tx.execute("UPDATE feature_flags SET percentage = ?, enabled = ?, updated_at = ?,"
                           " version = version + 1 WHERE name = ? AND version = ?",
                           (percentage, percentage > 0, now, flag, expected_version))
            if tx.rowcount != 1:
                raise ConflictError(f"flag {flag} changed under us (expected version "
                                    f"{expected_version}); another controller applied first")
            self._insert_event(tx, event)
        version = 1 if expected_version is None else expected_version + 1
        return Applied(flag, percentage, percentage > 0, version, as_utc(event.at))

    def record(self, event):
        with self.transaction("recording a decision") as tx:
            last = tx.execute(f"SELECT {EVENT_COLUMNS} FROM rollout_history WHERE flag = ?"
                              " ORDER BY id DESC LIMIT 1", (event.flag,)).one()
            if same_decision(rows.event(last, f"store {self.url}") if last else None, event):
                return False
            self._insert_event(tx, event)
            return True

    def history(self, flag=None, until=None):
        sql = f"SELECT {EVENT_COLUMNS} FROM rollout_history"
        where, args = [], []
        if flag is not None:
            where.append("flag = ?")
            args.append(flag)
        if until is not None:
            where.append("at <= ?")
            args.append(self.time_in(until))
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self.transaction("reading history", write=False) as tx:
            found = tx.execute(sql + " ORDER BY id", args).all()
        return [rows.event(r, f"store {self.url}") for r in found]

    def _insert_event(self, tx: Tx, e: Event) -> None:
        tx.execute("INSERT INTO rollout_history (flag, at, kind, from_pct, to_pct, reasons,"
                   " revision, git_commit, actor, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (e.flag, tx.time_in(e.at), e.kind, e.from_pct, e.to_pct,
                    json.dumps(redact_json(list(e.reasons))), e.revision, e.commit, e.actor,
                    json.dumps(redact_json(e.evidence), default=str)))

    # -- deliveries of an abort's notifications -----------------------------------
    def claim_delivery(self, event_id, channel, at):
        with self.transaction(f"claiming the {channel} delivery") as tx:
            row = tx.execute("SELECT status, updated_at, attempts FROM rollout_deliveries"
                             " WHERE event_id = ? AND channel = ?", (event_id, channel)).one()
            if row is None:
                tx.execute("INSERT INTO rollout_deliveries (event_id, channel, status, attempts,"
                           " detail, updated_at) VALUES (?, ?, 'sending', 1, '', ?)",
                           (event_id, channel, tx.time_in(at)))
                return 1
            # a sender that died mid-delivery leaves 'sending'; after the lease it is retried
            stale = row[0] == "sending" and at - tx.time_out(row[1]) > DELIVERY_LEASE
            if row[0] != "failed" and not stale:
                return 0
            tx.execute("UPDATE rollout_deliveries SET status = 'sending', attempts = attempts + 1,"
                       " updated_at = ? WHERE event_id = ? AND channel = ?",
                       (tx.time_in(at), event_id, channel))
            return (row[2] if isinstance(row[2], int) else 0) + 1

    def finish_delivery(self, event_id, channel, ok, detail, at):
        with self.transaction(f"recording the {channel} delivery") as tx:
            tx.execute("UPDATE rollout_deliveries SET status = ?, detail = ?, updated_at = ?"
                       " WHERE event_id = ? AND channel = ?",
                       ("sent" if ok else "failed", redact(detail)[:2000], tx.time_in(at),
                        event_id, channel))

    def deliveries(self, event_id):
        with self.transaction("reading deliveries", write=False) as tx:
            found = tx.execute("SELECT channel, status, attempts, detail FROM rollout_deliveries"
                               " WHERE event_id = ? ORDER BY channel", (event_id,)).all()
        checked = [rows.delivery(r, f"store {self.url}") for r in found]
        return {channel: (status, attempts, detail) for channel, status, attempts, detail in checked}

    # -- intents of the http(s) store, each committed at once: an intent must be durable
    # -- before the PUT it announces ----------------------------------------------
    def put_intent(self, flag: str, intent: Intent) -> None:
        with self.transaction("using the intents table", write=False) as tx:
            tx.execute("INSERT INTO rollout_intents (flag, percentage, mirror_version, event)"
                       " VALUES (?, ?, ?, ?)", (flag, intent.percentage, intent.mirror_version,
                                                json.dumps(redact_json(intent.event.to_json()),
                                                           default=str)))

    def intent(self, flag: str) -> Intent | None:
        with self.transaction("using the intents table", write=False) as tx:
            r = tx.execute("SELECT percentage, mirror_version, event FROM rollout_intents"
                           " WHERE flag = ?", (flag,)).one()
        if r is None:
            return None
        where = f"store {self.url}: intent of {flag}"
        try:
            pct = rows.percentage(r[0], "percentage")
            mirror = None if r[1] is None else rows.whole(r[1], "mirror_version")
        except rows.BadRow as exc:
            raise ExternalError(f"{where}: {exc}") from None
        return Intent(pct, mirror, rows.event_from_json(r[2], where))

    def drop_intent(self, flag: str) -> None:
        with self.transaction("using the intents table", write=False) as tx:
            tx.execute("DELETE FROM rollout_intents WHERE flag = ?", (flag,))

    def intent_flags(self) -> list[str]:
        with self.transaction("using the intents table", write=False) as tx:
            return [r[0] for r in tx.execute("SELECT flag FROM rollout_intents").all()]

    def close(self):
        self.conn.close()

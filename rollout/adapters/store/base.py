"""The flag store interface, and the SQL implementation SQLite and PostgreSQL share.

A store holds what the application reads (`feature_flags`) and the append-only
`rollout_history`. Applying a value and writing its history row happen in one
transaction, guarded by compare-and-set on `version`, so two controllers racing
cannot both apply and nothing is applied without its record.
"""
from __future__ import annotations

import functools
import json
from abc import ABC, abstractmethod
from datetime import datetime, timedelta, timezone

from rollout.adapters.store import rows
from rollout.core.state import HELD, REFUSED, Applied, Event
from rollout.errors import ConflictError, ExternalError
from rollout.redact import redact, redact_json

# A `sending` claim older than this belongs to a sender that died mid-delivery, and is
# retried. Every send is bounded by the run's notification deadline (rollout.deliveries:
# 20 s), so a live sender never holds a claim this long.
DELIVERY_LEASE = timedelta(minutes=2)


class FlagStore(ABC):
    url: str

    @abstractmethod
    def read(self, flag: str) -> Applied | None: ...

    @abstractmethod
    def read_all(self) -> dict[str, Applied]: ...

    @abstractmethod
    def apply(self, flag: str, percentage: int, expected_version: int | None,
              event: Event) -> Applied:
        """Set the value if the version is still `expected_version` (None: the flag must not
        exist yet) and append `event`, atomically. Raises ConflictError if another writer won."""

    @abstractmethod
    def record(self, event: Event) -> bool:
        """Append a decision that changed nothing. A held or refused move identical to the
        flag's last history row is not written again (returns False)."""

    @abstractmethod
    def history(self, flag: str | None = None, until: datetime | None = None) -> list[Event]:
        """History rows, oldest first."""

    # Notification deliveries for an abort: the guard that wrote the abort (only one can:
    # compare-and-set) claims each channel; a failed delivery is retried on the next run.
    @abstractmethod
    def claim_delivery(self, event_id: int, channel: str, at: datetime) -> int:
        """The attempt number (1 for the first) when this caller may send on `channel` now:
        never claimed, failed, or claimed by a sender whose lease expired; 0 otherwise."""

    @abstractmethod
    def finish_delivery(self, event_id: int, channel: str, ok: bool, detail: str,
                        at: datetime) -> None: ...

    @abstractmethod
    def deliveries(self, event_id: int) -> dict[str, tuple[str, int, str]]:
        """channel -> (status, attempts, detail)."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def same_decision(last: Event | None, event: Event) -> bool:
    return (last is not None and event.kind in (HELD, REFUSED) and last.kind == event.kind
            and (last.from_pct, last.to_pct, last.revision) ==
            (event.from_pct, event.to_pct, event.revision))


def _db(what: str, note: str = ""):
    """A database failure inside the method becomes one line naming the store (exit 4)."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except self.db_errors as exc:
                raise ExternalError(f"store {self.url}: {what.format(*args)} failed: "
                                    f"{self._error_text(exc)}{note}") from None
        return inner
    return wrap


class SQLStore(FlagStore):
    """Shared SQL; subclasses provide a DB-API connection and their dialect."""

    placeholder = "?"
    db_errors: tuple = ()           # the driver's exception classes

    def _error_text(self, exc: BaseException) -> str:
        return " ".join(str(exc).split()) or exc.__class__.__name__

    def __init__(self, url: str, conn):
        self.url = url
        self.conn = conn

    # -- dialect hooks ------------------------------------------------------------
    @abstractmethod
    def _begin_write(self, cur) -> None:
        """Start a transaction that serialises writers."""

    def _ts_in(self, dt: datetime):
        return utc(dt)

    def _ts_out(self, value) -> datetime:
        try:
            return rows.timestamp(value, "updated_at")
        except rows.BadRow as exc:
            raise ExternalError(f"store {self.url}: {exc}") from None

    # -- helpers ------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _event_row(self, r) -> Event:
        return rows.event(r, f"store {self.url}")

    def _applied_row(self, r) -> Applied:
        return rows.applied(r, f"store {self.url}")

    _EVENT_COLS = "id, flag, at, kind, from_pct, to_pct, reasons, revision, git_commit, actor, evidence"

    def _insert_event(self, cur, e: Event) -> None:
        cur.execute(self._sql(
            "INSERT INTO rollout_history (flag, at, kind, from_pct, to_pct, reasons, revision,"
            " git_commit, actor, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            (e.flag, self._ts_in(e.at), e.kind, e.from_pct, e.to_pct,
             json.dumps(redact_json(list(e.reasons))), e.revision, e.commit, e.actor,
             json.dumps(redact_json(e.evidence), default=str)))

    def _last_event(self, cur, flag: str) -> Event | None:
        cur.execute(self._sql(f"SELECT {self._EVENT_COLS} FROM rollout_history WHERE flag = ?"
                              " ORDER BY id DESC LIMIT 1"), (flag,))
        r = cur.fetchone()
        return self._event_row(r) if r else None

    # -- interface ----------------------------------------------------------------
    @_db("reading {0}")
    def read(self, flag: str) -> Applied | None:
        cur = self.conn.cursor()
        cur.execute(self._sql("SELECT name, percentage, enabled, updated_at, version"
                              " FROM feature_flags WHERE name = ?"), (flag,))
        r = cur.fetchone()
        self.conn.commit()
        return self._applied_row(r) if r else None

    @_db("reading flags")
    def read_all(self) -> dict[str, Applied]:
        cur = self.conn.cursor()
        cur.execute("SELECT name, percentage, enabled, updated_at, version FROM feature_flags"
                    " ORDER BY name")
        found = cur.fetchall()
        self.conn.commit()
        return {r[0]: self._applied_row(r) for r in found}

    @_db("applying {0} {1}%", " (the value and its history row commit together or not at all)")
    def apply(self, flag, percentage, expected_version, event):
        cur = self.conn.cursor()
        try:
            self._begin_write(cur)
            now = self._ts_in(event.at)
            if expected_version is None:
                cur.execute(self._sql(
                    "INSERT INTO feature_flags (name, percentage, enabled, updated_at, version)"
                    " VALUES (?, ?, ?, ?, 1) ON CONFLICT (name) DO NOTHING"),
                    (flag, percentage, percentage > 0, now))
            else:
                cur.execute(self._sql(
                    "UPDATE feature_flags SET percentage = ?, enabled = ?, updated_at = ?,"
                    " version = version + 1 WHERE name = ? AND version = ?"),
                    (percentage, percentage > 0, now, flag, expected_version))
            if cur.rowcount != 1:
                raise ConflictError(f"flag {flag} changed under us (expected version "
                                    f"{expected_version}); another controller applied first")
            self._insert_event(cur, event)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        version = 1 if expected_version is None else expected_version + 1
        return Applied(flag, percentage, percentage > 0, version, utc(event.at))

    @_db("recording a decision")
    def record(self, event):
        cur = self.conn.cursor()
        try:
            self._begin_write(cur)
            if same_decision(self._last_event(cur, event.flag), event):
                self.conn.commit()
                return False
            self._insert_event(cur, event)
            self.conn.commit()
            return True
        except BaseException:
            self.conn.rollback()
            raise

    @_db("reading history")
    def history(self, flag=None, until=None):
        sql = f"SELECT {self._EVENT_COLS} FROM rollout_history"
        where, args = [], []
        if flag is not None:
            where.append("flag = ?")
            args.append(flag)
        if until is not None:
            where.append("at <= ?")
            args.append(self._ts_in(until))
        if where:
            sql += " WHERE " + " AND ".join(where)
        cur = self.conn.cursor()
        cur.execute(self._sql(sql + " ORDER BY id"), args)
        found = cur.fetchall()
        self.conn.commit()
        return [self._event_row(r) for r in found]

    @_db("claiming the {1} delivery")
    def claim_delivery(self, event_id, channel, at):
        cur = self.conn.cursor()
        try:
            self._begin_write(cur)
            cur.execute(self._sql("SELECT status, updated_at, attempts FROM rollout_deliveries"
                                  " WHERE event_id = ? AND channel = ?"), (event_id, channel))
            row = cur.fetchone()
            # a sender that died mid-delivery leaves 'sending'; after the lease it is retried
            stale = row is not None and row[0] == "sending" and \
                at - self._ts_out(row[1]) > DELIVERY_LEASE
            if row is None:
                cur.execute(self._sql(
                    "INSERT INTO rollout_deliveries (event_id, channel, status, attempts, detail,"
                    " updated_at) VALUES (?, ?, 'sending', 1, '', ?)"),
                    (event_id, channel, self._ts_in(at)))
                attempt = 1
            elif row[0] == "failed" or stale:
                cur.execute(self._sql(
                    "UPDATE rollout_deliveries SET status = 'sending', attempts = attempts + 1,"
                    " updated_at = ? WHERE event_id = ? AND channel = ?"),
                    (self._ts_in(at), event_id, channel))
                attempt = (row[2] if isinstance(row[2], int) else 0) + 1
            else:
                self.conn.commit()
                return 0
            self.conn.commit()
            return attempt
        except BaseException:
            self.conn.rollback()
            raise

    @_db("recording the {1} delivery")
    def finish_delivery(self, event_id, channel, ok, detail, at):
        cur = self.conn.cursor()
        try:
            self._begin_write(cur)
            cur.execute(self._sql(
                "UPDATE rollout_deliveries SET status = ?, detail = ?, updated_at = ?"
                " WHERE event_id = ? AND channel = ?"),
                ("sent" if ok else "failed", redact(detail)[:2000], self._ts_in(at), event_id,
                 channel))
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise

    @_db("reading deliveries")
    def deliveries(self, event_id):
        cur = self.conn.cursor()
        cur.execute(self._sql("SELECT channel, status, attempts, detail FROM rollout_deliveries"
                              " WHERE event_id = ? ORDER BY channel"), (event_id,))
        found = [rows.delivery(r, f"store {self.url}") for r in cur.fetchall()]
        self.conn.commit()
        return {channel: (status, attempts, detail) for channel, status, attempts, detail in found}

    def close(self):
        self.conn.close()

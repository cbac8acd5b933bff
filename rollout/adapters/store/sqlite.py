"""The embedded default flag store: one SQLite file, by default .rollout/flags.db."""
from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from rollout.adapters.store.base import SQLStore, utc
from rollout.errors import ExternalError, UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS feature_flags (
    name        TEXT PRIMARY KEY,
    percentage  INTEGER NOT NULL CHECK (percentage BETWEEN 0 AND 100),
    enabled     BOOLEAN NOT NULL,
    updated_at  TEXT NOT NULL,
    version     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rollout_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    flag        TEXT NOT NULL,
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    from_pct    INTEGER,
    to_pct      INTEGER,
    reasons     TEXT NOT NULL DEFAULT '[]',
    revision    TEXT,
    git_commit  TEXT,
    actor       TEXT,
    evidence    TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS rollout_deliveries (
    event_id    INTEGER NOT NULL,
    channel     TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    detail      TEXT NOT NULL DEFAULT '',
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (event_id, channel)
);
CREATE INDEX IF NOT EXISTS rollout_history_flag ON rollout_history (flag, id);
CREATE TRIGGER IF NOT EXISTS rollout_history_no_update BEFORE UPDATE ON rollout_history
BEGIN SELECT RAISE(ABORT, 'rollout_history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS rollout_history_no_delete BEFORE DELETE ON rollout_history
BEGIN SELECT RAISE(ABORT, 'rollout_history is append-only'); END;
-- Applies of the http store in flight (rollout/adapters/store/http.py).
CREATE TABLE IF NOT EXISTS rollout_intents (
    flag            TEXT PRIMARY KEY,
    percentage      INTEGER NOT NULL,
    mirror_version  INTEGER,
    event           TEXT NOT NULL,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- rollout serve (rollout/adapters/store/service_tables.py): the leader lease of the timed loop, and
-- every call of the New Relic webhook, accepted or refused.
CREATE TABLE IF NOT EXISTS rollout_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    term        INTEGER NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rollout_hook_calls (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    instance    TEXT NOT NULL,
    source      TEXT NOT NULL,
    status      INTEGER NOT NULL,
    flags       TEXT NOT NULL DEFAULT '[]',
    detail      TEXT NOT NULL DEFAULT '',
    calls       INTEGER NOT NULL DEFAULT 1
);
"""


def sqlite_path(url: str) -> Path:
    """sqlite:///relative/path.db or sqlite:////absolute/path.db (SQLAlchemy's convention)."""
    if not url.startswith("sqlite:///") or len(url) <= len("sqlite:///"):
        raise UserError(f"store URL {url!r}: expected sqlite:///relative/path.db "
                        f"or sqlite:////absolute/path.db")
    return Path(url[len("sqlite:///"):])


DAMAGED = "the file is damaged (it holds bytes that are not UTF-8 where text belongs)"
BUSY_TIMEOUT = 10.0   # seconds a writer waits for another one (sqlite3's busy handler)


def connect(path: Path, *, synchronous: str, schema: str, what: str) -> sqlite3.Connection:
    """Open (creating if need be) an SQLite file in WAL mode with `schema` applied.

    Several processes may open a new file at once. Writers wait for each other (the busy
    timeout, and BEGIN IMMEDIATE so a transaction takes the write lock before reading
    instead of failing on the upgrade), but switching a new file to WAL is not covered by
    the busy handler: that pragma is retried here until the same timeout.
    """
    if path.exists() and not path.is_file():
        raise UserError(f"{what}: {path} is not a regular file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT)
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        conn.execute(f"PRAGMA synchronous={synchronous}")
        if schema:
            conn.executescript("BEGIN IMMEDIATE;" + schema + "COMMIT;")
        return conn
    except sqlite3.DatabaseError as exc:
        raise ExternalError(f"{what}: {exc}") from None
    except UnicodeDecodeError:
        raise ExternalError(f"{what}: {DAMAGED}") from None
    except OSError as exc:
        raise ExternalError(f"{what}: cannot create {path.parent} ({exc.strerror})") from None


class SQLiteStore(SQLStore):
    # a damaged file can hold bytes that are not UTF-8 where text belongs
    db_errors = (sqlite3.Error, UnicodeDecodeError)

    def __init__(self, url: str):
        path = sqlite_path(url)
        conn = connect(path, synchronous="FULL", schema=SCHEMA, what=f"store {url}")
        super().__init__(url, conn)
        self.path = path

    def _error_text(self, exc):
        if isinstance(exc, UnicodeDecodeError):
            return DAMAGED
        return super()._error_text(exc)

    def _begin_write(self, cur):
        cur.execute("BEGIN IMMEDIATE")

    def _ts_in(self, dt: datetime) -> str:
        return utc(dt).isoformat(timespec="microseconds")

    @contextmanager
    def writer_lock(self, wait: bool = True):
        """Hold the writers' lock across transactions (the http store's apply spans a
        network call): an flock on PATH.lock, which dies with its process. Yields False
        if wait=False and someone else holds it."""
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                held = True
            except BlockingIOError:
                held = False
            yield held
        finally:
            os.close(fd)

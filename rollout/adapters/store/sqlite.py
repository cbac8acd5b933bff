"""The embedded default flag store: one SQLite file, by default .rollout/flags.db.

Its tables are the migrations of rollout/adapters/store/migrations.py, applied when the
file is opened (a new file is created; a file of an earlier release is brought up to date).
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable

from rollout.adapters.store import migrations
from rollout.adapters.store.sql import SQLStore
from rollout.core.state import as_utc
from rollout.errors import ExternalError, UserError


def sqlite_path(url: str) -> Path:
    """sqlite:///relative/path.db or sqlite:////absolute/path.db (SQLAlchemy's convention)."""
    if not url.startswith("sqlite:///") or len(url) <= len("sqlite:///"):
        raise UserError(f"store URL {url!r}: expected sqlite:///relative/path.db "
                        f"or sqlite:////absolute/path.db")
    return Path(url[len("sqlite:///"):])


DAMAGED = "the file is damaged (it holds bytes that are not UTF-8 where text belongs)"
BUSY_TIMEOUT = 10.0   # seconds a writer waits for another one (sqlite3's busy handler)


def connect(path: Path, *, synchronous: str, what: str,
            setup: Callable[[sqlite3.Connection], object] | None = None) -> sqlite3.Connection:
    """Open (creating if need be) an SQLite file in WAL mode, then run `setup` on it
    (create or migrate its tables).

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
        if setup:
            setup(conn)
        return conn
    except sqlite3.DatabaseError as exc:
        raise ExternalError(f"{what}: {exc}") from None
    except UnicodeDecodeError:
        raise ExternalError(f"{what}: {DAMAGED}") from None
    except OSError as exc:
        raise ExternalError(f"{what}: cannot create {path.parent} ({exc.strerror})") from None


def migrate_file(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """Apply the store's missing migrations; returns those applied. A file at the latest
    version is recognised without taking the write lock (every open does this)."""
    have = migrations.applied_versions(conn.cursor(), migrations.SQLITE)
    if {m.number for m in migrations.MIGRATIONS} <= have:
        return []
    conn.execute("BEGIN IMMEDIATE")      # concurrent first opens of a file take turns
    try:
        applied = migrations.migrate(conn.cursor(), migrations.SQLITE)
        conn.execute("COMMIT")
        return applied
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class SQLiteStore(SQLStore):
    # a damaged file can hold bytes that are not UTF-8 where text belongs
    db_errors = (sqlite3.Error, UnicodeDecodeError)

    def __init__(self, url: str):
        path = sqlite_path(url)
        applied: list[tuple[int, str]] = []
        conn = connect(path, synchronous="FULL", what=f"store {url}",
                       setup=lambda c: applied.extend(migrate_file(c)))
        super().__init__(url, conn)
        self.path = path
        self.applied_on_open = applied    # the migrations this open applied

    def migrate(self) -> list[tuple[int, str]]:
        """The migrations applied when this store opened the file, and any applied now."""
        with self.reported_as("migrating"):
            return self.applied_on_open + migrate_file(self.conn)

    def _error_text(self, exc):
        if isinstance(exc, UnicodeDecodeError):
            return DAMAGED
        return super()._error_text(exc)

    def _begin_write(self, cur):
        cur.execute("BEGIN IMMEDIATE")

    def time_in(self, dt: datetime) -> str:
        return as_utc(dt).isoformat(timespec="microseconds")

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

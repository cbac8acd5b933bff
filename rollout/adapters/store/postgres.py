"""The production flag store: PostgreSQL (psycopg 3), the same tables as SQLite.

`rollout store init` runs the numbered migrations below; the store refuses a database
that has not been migrated rather than creating tables behind an operator's back.
Writers serialise on a transaction-scoped advisory lock, and the compare-and-set on
`version` in SQLStore still decides who wins; the flag row and its history row commit
together. Error messages name user@host:port/db, never the password.
"""
from __future__ import annotations

from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict

from rollout.adapters.retry import Retry, RetryPolicy
from rollout.adapters.store.base import SQLStore
from rollout.errors import ExternalError, UserError

# Advisory lock keys: any fixed bigints (these are "rollout" and "rollmig" in ASCII).
WRITE_LOCK = 0x726F6C6C6F7574
MIGRATE_LOCK = 0x726F6C6C6D6967
CONNECT_POLICY = RetryPolicy(attempts=3, timeout=5, backoff=0.5)

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION rollout_history_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rollout_history is append-only';
END
$$;
"""

# (number, what it does, SQL). Append new ones; never edit one that has shipped.
# Each is idempotent on its own, so a database created by hand converges too.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "feature_flags and the append-only rollout_history", """
CREATE TABLE IF NOT EXISTS feature_flags (
    name        TEXT PRIMARY KEY,
    percentage  INTEGER NOT NULL CHECK (percentage BETWEEN 0 AND 100),
    enabled     BOOLEAN NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    version     BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS rollout_history (
    id          BIGSERIAL PRIMARY KEY,
    flag        TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    kind        TEXT NOT NULL,
    from_pct    INTEGER,
    to_pct      INTEGER,
    reasons     TEXT NOT NULL DEFAULT '[]',
    revision    TEXT,
    git_commit  TEXT,
    actor       TEXT,
    evidence    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS rollout_history_flag ON rollout_history (flag, id);
""" + APPEND_ONLY + """
DROP TRIGGER IF EXISTS rollout_history_no_change ON rollout_history;
CREATE TRIGGER rollout_history_no_change BEFORE UPDATE OR DELETE ON rollout_history
    FOR EACH ROW EXECUTE FUNCTION rollout_history_append_only();
DROP TRIGGER IF EXISTS rollout_history_no_truncate ON rollout_history;
CREATE TRIGGER rollout_history_no_truncate BEFORE TRUNCATE ON rollout_history
    FOR EACH STATEMENT EXECUTE FUNCTION rollout_history_append_only();
"""),
    (2, "rollout_intents: applies of the http store in flight", """
CREATE TABLE IF NOT EXISTS rollout_intents (
    flag            TEXT PRIMARY KEY,
    percentage      INTEGER NOT NULL,
    mirror_version  BIGINT,
    event           TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""),
    (3, "rollout_deliveries: notifications of an abort, claimed once", """
CREATE TABLE IF NOT EXISTS rollout_deliveries (
    event_id    BIGINT NOT NULL,
    channel     TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    detail      TEXT NOT NULL DEFAULT '',
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (event_id, channel)
);
"""),
    (4, "rollout_leases and rollout_hook_calls: the leader lease and webhook log of rollout serve", """
CREATE TABLE IF NOT EXISTS rollout_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    term        BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS rollout_hook_calls (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    instance    TEXT NOT NULL,
    source      TEXT NOT NULL,
    status      INTEGER NOT NULL,
    flags       TEXT NOT NULL DEFAULT '[]',
    detail      TEXT NOT NULL DEFAULT '',
    calls       INTEGER NOT NULL DEFAULT 1
);
"""),
)
LATEST = MIGRATIONS[-1][0]


def one_line(exc: BaseException, secret: str | None = None) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text.replace(secret, "***") if secret else text


def describe(url: str) -> str:
    """postgres://user@host:port/db: the URL without its password, for messages."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        # libpq's message quotes pieces of the string, which may be the password
        raise UserError("store URL: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DB; "
                        "libpq could not parse it") from None
    user = f"{info['user']}@" if info.get("user") else ""
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgres://{user}{info.get('host', '')}{port}/{info.get('dbname', '')}"


def connect(url: str, policy: RetryPolicy = CONNECT_POLICY) -> psycopg.Connection:
    where = describe(url)
    secret = conninfo_to_dict(url).get("password")

    def attempt(timeout: float) -> psycopg.Connection:
        try:
            return psycopg.connect(url, connect_timeout=max(1, int(timeout)),
                                   application_name="rollout")
        except psycopg.OperationalError as exc:
            raise Retry(one_line(exc, secret)) from None

    return policy.run(attempt, what=f"store {where}",
                      gave_up=lambda n, last: f"store {where}: cannot connect after {n} "
                                              f"attempts: {last}")


def migrate(conn: psycopg.Connection) -> list[tuple[int, str]]:
    """Apply the missing migrations in one transaction; returns those applied."""
    applied = []
    with conn.transaction():
        cur = conn.cursor()
        # Two `store init` at once: the second waits, then finds nothing left to do.
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                    " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        cur.execute("SELECT version FROM schema_migrations")
        have = {r[0] for r in cur.fetchall()}
        for number, name, sql in MIGRATIONS:
            if number in have:
                continue
            cur.execute(sql)
            cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (number, name))
            applied.append((number, name))
    return applied


def schema_version(conn: psycopg.Connection) -> int:
    """The last migration applied, 0 for a database `rollout store init` never saw."""
    cur = conn.cursor()
    cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    version = 0
    if cur.fetchone()[0]:
        cur.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
        version = cur.fetchone()[0]
    conn.commit()
    return version


class PostgresStore(SQLStore):
    placeholder = "%s"
    db_errors = (psycopg.Error,)

    def __init__(self, url: str, *, require_schema: bool = True,
                 policy: RetryPolicy = CONNECT_POLICY):
        where = describe(url)
        conn = connect(url, policy)
        super().__init__(where, conn)     # self.url is safe to print
        if require_schema:
            try:
                version = self._db("schema check", schema_version, conn)
            except ExternalError:
                conn.close()
                raise
            if version < LATEST:
                conn.close()
                state = "has no rollout tables" if version == 0 else \
                    f"is at migration {version} of {LATEST}"
                raise UserError(f"store {where} {state}: run `rollout store init --store URL`")

    def _begin_write(self, cur):
        # psycopg opens the transaction implicitly; the lock lasts until commit/rollback.
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))

    def _error_text(self, exc):
        # A rollback on a dropped connection fails too; the first failure says more.
        cause = exc.__context__ if isinstance(exc.__context__, psycopg.Error) else exc
        return one_line(cause)

    def _db(self, what: str, fn, *args, note: str = ""):
        """Run fn; a database failure becomes one line naming the store (exit 4)."""
        try:
            return fn(*args)
        except psycopg.Error as exc:
            # A rollback on a dropped connection fails too; the first failure says more.
            cause = exc.__context__ if isinstance(exc.__context__, psycopg.Error) else exc
            raise ExternalError(f"store {self.url}: {what} failed: "
                                f"{one_line(cause)}{note}") from None

    @contextmanager
    def writer_lock(self, wait: bool = True):
        """Hold the writers' lock across transactions (the http store's apply spans a
        network call). Yields False if wait=False and another session holds it. This
        session's own _begin_write still passes: advisory locks are re-entrant per
        session. A crashed holder's lock dies with its connection."""
        def take():
            cur = self.conn.cursor()
            if wait:
                cur.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK,))
                held = True
            else:
                held = cur.execute("SELECT pg_try_advisory_lock(%s)", (WRITE_LOCK,)).fetchone()[0]
            self.conn.commit()
            return held

        held = self._db("taking the writers' lock", take)
        try:
            yield held
        finally:
            if held:
                try:
                    self.conn.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK,))
                    self.conn.commit()
                except psycopg.Error:
                    pass  # the connection is gone, and the session lock with it

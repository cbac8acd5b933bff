"""The production flag store: PostgreSQL (psycopg 3), the same tables as SQLite.

`rollout store init` runs the numbered migrations of rollout/adapters/store/migrations.py;
the store refuses a database that has not been migrated rather than creating tables
behind an operator's back.
Writers serialise on a transaction-scoped advisory lock, and the compare-and-set on
`version` in SQLStore still decides who wins; the flag row and its history row commit
together. Error messages name user@host:port/db, never the password.
"""
from __future__ import annotations

from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict

from rollout.adapters.retry import Retry, RetryPolicy
from rollout.adapters.store import migrations
from rollout.adapters.store.sql import SQLStore
from rollout.adapters.store.migrations import LATEST
from rollout.errors import ExternalError, UserError

# Advisory lock keys: any fixed bigints (these are "rollout" and "rollmig" in ASCII).
WRITE_LOCK = 0x726F6C6C6F7574
MIGRATE_LOCK = 0x726F6C6C6D6967
CONNECT_POLICY = RetryPolicy(attempts=3, timeout=5, backoff=0.5)


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
    """Apply the missing migrations (rollout/adapters/store/migrations.py) in one transaction;
    returns those applied."""
    with conn.transaction():
        cur = conn.cursor()
        # Two `store init` at once: the second waits, then finds nothing left to do.
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        return migrations.migrate(cur, migrations.POSTGRES)


def schema_version(conn: psycopg.Connection) -> int:
    """The last migration applied, 0 for a database `rollout store init` never saw."""
    version = max(migrations.applied_versions(conn.cursor(), migrations.POSTGRES), default=0)
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

    def _db(self, what: str, fn, *args):
        """fn(*args); a database failure becomes one line naming the store (exit 4)."""
        with self.reported_as(what):
            return fn(*args)

    def migrate(self) -> list[tuple[int, str]]:
        return self._db("migrating", migrate, self.conn)

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

"""The flag store's tables, written once for SQLite and PostgreSQL, as numbered migrations.

Each migration is a list of statements in plain SQL both dialects read, with typed
placeholders where they differ ($TS a timestamp, $BIGINT a 64-bit integer, $SERIAL_KEY an
auto-increment primary key, $NOW the current time as a column default), and the
dialect's own append-only guard of a table (`AppendOnly`). Both stores apply them the
same way (`migrate`), inside a transaction that serialises migrators, and record each in
`schema_migrations`: SQLite when a file is opened (it is the embedded default), PostgreSQL
with `rollout store init`.

Append new migrations; never edit one that has shipped. Every statement is idempotent
(IF NOT EXISTS), so a database whose tables were created before they were versioned (an
SQLite file of an earlier release, a PostgreSQL database made by hand) is adopted: the
migrations run over it, create only what is missing, and are stamped.
"""
from __future__ import annotations

from dataclasses import dataclass
from string import Template


@dataclass(frozen=True)
class AppendOnly:
    """Refuse UPDATE and DELETE (and TRUNCATE where there is one) of a table."""
    table: str


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    statements: tuple[str | AppendOnly, ...]


@dataclass(frozen=True)
class Dialect:
    name: str
    types: dict[str, str]         # placeholder -> this dialect's SQL
    param: str                    # DB-API parameter marker

    def render(self, migration: Migration) -> list[str]:
        out = []
        for s in migration.statements:
            out += self._guard(s.table) if isinstance(s, AppendOnly) else \
                [Template(s).substitute(self.types)]
        return out

    def _guard(self, table: str) -> list[str]:
        message = f"'{table} is append-only'"
        if self.name == "sqlite":
            return [f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}"
                    f" BEGIN SELECT RAISE(ABORT, {message}); END" for op in ("UPDATE", "DELETE")]
        return [f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger"
                f" LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION {message}; END $$",
                f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
                f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}"
                f" FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
                f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
                f" FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"]


SQLITE = Dialect("sqlite", {"TS": "TEXT", "BIGINT": "INTEGER",
                            "SERIAL_KEY": "INTEGER PRIMARY KEY AUTOINCREMENT",
                            "NOW": "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"}, "?")
POSTGRES = Dialect("postgres", {"TS": "TIMESTAMPTZ", "BIGINT": "BIGINT",
                                "SERIAL_KEY": "BIGSERIAL PRIMARY KEY", "NOW": "now()"}, "%s")

VERSIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  $TS NOT NULL DEFAULT $NOW
)"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "feature_flags and the append-only rollout_history", (
        """CREATE TABLE IF NOT EXISTS feature_flags (
    name        TEXT PRIMARY KEY,
    percentage  INTEGER NOT NULL CHECK (percentage BETWEEN 0 AND 100),
    enabled     BOOLEAN NOT NULL,
    updated_at  $TS NOT NULL,
    version     $BIGINT NOT NULL
)""",
        """CREATE TABLE IF NOT EXISTS rollout_history (
    id          $SERIAL_KEY,
    flag        TEXT NOT NULL,
    at          $TS NOT NULL,
    kind        TEXT NOT NULL,
    from_pct    INTEGER,
    to_pct      INTEGER,
    reasons     TEXT NOT NULL DEFAULT '[]',
    revision    TEXT,
    git_commit  TEXT,
    actor       TEXT,
    evidence    TEXT NOT NULL DEFAULT '{}'
)""",
        "CREATE INDEX IF NOT EXISTS rollout_history_flag ON rollout_history (flag, id)",
        AppendOnly("rollout_history"),
    )),
    # the http(s) store's applies in flight (rollout/adapters/store/http.py)
    Migration(2, "rollout_intents: applies of the http store in flight", (
        """CREATE TABLE IF NOT EXISTS rollout_intents (
    flag            TEXT PRIMARY KEY,
    percentage      INTEGER NOT NULL,
    mirror_version  $BIGINT,
    event           TEXT NOT NULL,
    created_at      $TS NOT NULL DEFAULT $NOW
)""",
    )),
    Migration(3, "rollout_deliveries: notifications of an abort, claimed once", (
        """CREATE TABLE IF NOT EXISTS rollout_deliveries (
    event_id    $BIGINT NOT NULL,
    channel     TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    detail      TEXT NOT NULL DEFAULT '',
    updated_at  $TS NOT NULL,
    PRIMARY KEY (event_id, channel)
)""",
    )),
    # rollout serve (rollout/adapters/store/service_tables.py)
    Migration(4, "rollout_leases and rollout_hook_calls: the leader lease and webhook log "
                 "of rollout serve", (
        """CREATE TABLE IF NOT EXISTS rollout_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    term        $BIGINT NOT NULL,
    acquired_at $TS NOT NULL,
    expires_at  $TS NOT NULL
)""",
        """CREATE TABLE IF NOT EXISTS rollout_hook_calls (
    id          $SERIAL_KEY,
    at          $TS NOT NULL,
    instance    TEXT NOT NULL,
    source      TEXT NOT NULL,
    status      INTEGER NOT NULL,
    flags       TEXT NOT NULL DEFAULT '[]',
    detail      TEXT NOT NULL DEFAULT '',
    calls       INTEGER NOT NULL DEFAULT 1
)""",
    )),
)
LATEST = MIGRATIONS[-1].number


def applied_versions(cur, dialect: Dialect) -> set[int]:
    """The migrations recorded in the database; none when it has no schema_migrations."""
    cur.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
                if dialect is SQLITE else "SELECT to_regclass('schema_migrations')")
    found = cur.fetchone()
    if not found or found[0] is None:
        return set()
    cur.execute("SELECT version FROM schema_migrations")
    return {r[0] for r in cur.fetchall()}


def migrate(cur, dialect: Dialect) -> list[tuple[int, str]]:
    """Apply the missing migrations through `cur`, inside the caller's transaction (which
    must serialise migrators); returns those applied, (number, name)."""
    cur.execute(Template(VERSIONS_TABLE).substitute(dialect.types))
    have = applied_versions(cur, dialect)
    applied = []
    for m in MIGRATIONS:
        if m.number in have:
            continue
        for statement in dialect.render(m):
            cur.execute(statement)
        cur.execute(f"INSERT INTO schema_migrations (version, name) VALUES "
                    f"({dialect.param}, {dialect.param})", (m.number, m.name))
        applied.append((m.number, m.name))
    return applied

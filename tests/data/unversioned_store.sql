-- The SQLite flag store's schema before it was versioned: the script that
-- rollout/adapters/store/sqlite.py ran on every open (SCHEMA, up to commit 0fed6d0).
-- tests/test_store_schema.py makes a file with it and checks the migrations adopt it.
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

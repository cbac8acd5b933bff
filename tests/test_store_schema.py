"""One schema for both SQL dialects (rollout/adapters/store/migrations.py): SQLite is migrated
when a file is opened and adopts a file of an earlier release, made by the unversioned
script it used to run (tests/data/unversioned_store.sql); PostgreSQL through `rollout
store init`; both end with the same tables and columns."""
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rollout.adapters.store import migrations, open_store
from rollout.adapters.store.sqlite import SQLiteStore
from rollout.core.state import APPLIED, Event
from tests import pg
from tests.cli import ROOT, rollout

OLD_SCRIPT = (Path(__file__).parent / "data" / "unversioned_store.sql").read_text()
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
ALL = [(m.number, m.name) for m in migrations.MIGRATIONS]


def ev(frm, to, at=T0):
    return Event("skills_rollout", at, APPLIED, frm, to, ("because",), "r1", "c0ffee", "tester")


def old_file(path: Path, script: str = OLD_SCRIPT) -> Path:
    """A store as an earlier release left it: its tables, a flag at 5 % and two history
    rows, a delivery; no schema_migrations."""
    with sqlite3.connect(path) as db:
        db.executescript(script)
        db.execute("INSERT INTO feature_flags VALUES ('skills_rollout', 5, 1, ?, 2)",
                   (T0.isoformat(),))
        for frm, to in ((None, 0), (0, 5)):
            db.execute("INSERT INTO rollout_history (flag, at, kind, from_pct, to_pct, reasons)"
                       " VALUES ('skills_rollout', ?, 'applied', ?, ?, '[\"because\"]')",
                       (T0.isoformat(), frm, to))
        db.execute("INSERT INTO rollout_deliveries VALUES (2, 'slack', 'sent', 1, 'ok', ?)",
                   (T0.isoformat(),))
    db.close()
    return path


def sqlite_columns(path: Path) -> dict[str, list[tuple[str, bool]]]:
    """table -> [(column, may be null)], primary keys counted as not null."""
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                           " AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        out = {t: [(c[1], not (c[3] or c[5])) for c in db.execute(f"PRAGMA table_info({t})")]
               for t in tables}
    db.close()
    return out


def test_a_new_file_is_created_at_the_latest_migration(tmp_path):
    store = SQLiteStore(f"sqlite:///{tmp_path}/f.db")
    assert store.applied_on_open == ALL
    store.close()
    again = SQLiteStore(f"sqlite:///{tmp_path}/f.db")
    assert again.applied_on_open == [] and again.migrate() == []
    again.close()
    with sqlite3.connect(tmp_path / "f.db") as db:
        assert db.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall() == \
            [(n,) for n, _ in ALL]


def test_a_file_of_an_earlier_release_is_adopted_with_its_data(tmp_path):
    path = old_file(tmp_path / "old.db")
    store = open_store(f"sqlite:///{path}")
    assert store.applied_on_open == ALL               # stamped: every statement found its table
    assert store.read("skills_rollout").version == 2
    assert [(e.from_pct, e.to_pct) for e in store.history("skills_rollout")] == [(None, 0), (0, 5)]
    assert store.deliveries(2) == {"slack": ("sent", 1, "ok")}
    store.apply("skills_rollout", 25, 2, ev(5, 25))    # and it works on as before
    assert [e.id for e in store.history("skills_rollout")] == [1, 2, 3]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute("DELETE FROM rollout_history")
    store.close()
    fresh = SQLiteStore(f"sqlite:///{tmp_path}/fresh.db")
    fresh.close()
    assert sqlite_columns(path) == sqlite_columns(tmp_path / "fresh.db")


def test_a_file_from_before_rollout_serve_gets_the_missing_tables(tmp_path):
    before_serve = OLD_SCRIPT[:OLD_SCRIPT.index("-- rollout serve")]
    path = old_file(tmp_path / "old.db", before_serve)
    assert "rollout_leases" not in sqlite_columns(path)
    out = rollout(["store", "init", "--store", f"sqlite:///{path}"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"sqlite:///{path}: applied 0001 ") and "0004 " in out.stdout
    assert set(sqlite_columns(path)) >= {"rollout_leases", "rollout_hook_calls"}
    again = rollout(["store", "init", "--store", f"sqlite:///{path}"], tmp_path)
    assert again.stdout == f"sqlite:///{path}: up to date at migration {migrations.LATEST}\n"


def test_a_file_of_a_newer_release_opens(tmp_path):
    SQLiteStore(f"sqlite:///{tmp_path}/f.db").close()
    with sqlite3.connect(tmp_path / "f.db") as db:
        db.execute("INSERT INTO schema_migrations (version, name) VALUES (?, 'from the future')",
                   (migrations.LATEST + 1,))
    db.close()
    store = SQLiteStore(f"sqlite:///{tmp_path}/f.db")
    assert store.applied_on_open == [] and store.read("skills_rollout") is None
    store.close()


CONCURRENT_OPEN = """
import sys
from rollout.adapters.store.sqlite import SQLiteStore
store = SQLiteStore("sqlite:///" + sys.argv[1])
print(len(store.applied_on_open))
"""


def test_first_opens_at_once_migrate_the_file_once(tmp_path):
    path = old_file(tmp_path / "old.db")
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_OPEN, str(path)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in results]
    assert sorted(int(out) for out, _ in results) == [0, 0, 0, len(ALL)]


def test_both_dialects_end_with_the_same_tables_and_columns(tmp_path):
    SQLiteStore(f"sqlite:///{tmp_path}/f.db").close()
    cluster = pg.cluster()
    url = cluster.create_database()           # migrated by rollout's own migrate()
    try:
        rows = cluster.execute(url, "SELECT table_name, column_name, is_nullable"
                                    " FROM information_schema.columns WHERE table_schema = 'public'"
                                    " ORDER BY table_name, ordinal_position")
    finally:
        cluster.drop_database(url)
    postgres: dict[str, list[tuple[str, bool]]] = {}
    for table, column, nullable in rows:
        postgres.setdefault(table, []).append((column, nullable == "YES"))
    assert postgres == sqlite_columns(tmp_path / "f.db")
    assert set(postgres) == {"feature_flags", "rollout_history", "rollout_intents",
                             "rollout_deliveries", "rollout_leases", "rollout_hook_calls",
                             "schema_migrations"}


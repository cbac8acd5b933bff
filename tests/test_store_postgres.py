"""The PostgreSQL store against a real server (tests/pg.py): migrations through the real
command, the append-only history, an uninitialised database, the server unreachable or
gone in the middle of a rollback, two guards at once, and the URL's password kept out
of every message. The store contract itself runs on PostgreSQL via tests/stores.py."""
import json
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

import rollout.adapters.store.postgres as postgres
from rollout.adapters.store import open_store
from rollout.cli.main import main
from rollout.core.state import ABORTED, APPLIED, Event
from rollout.errors import ConflictError, ExternalError, UserError
from tests import pg
from tests.cli import make_repo, rollout
from tests.stores import at_once

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
FLAG = "skills_rollout"


def ev(frm, to, kind=APPLIED, at=T0):
    return Event(FLAG, at, kind, frm, to, ("because",), "r1", "c0ffee", "tester")


def at_25(store):
    store.apply(FLAG, 0, None, ev(None, 0))
    store.apply(FLAG, 5, 1, ev(0, 5, at=T0 + timedelta(hours=1)))
    return store.apply(FLAG, 25, 2, ev(5, 25, at=T0 + timedelta(hours=80)))


@pytest.fixture
def cluster():
    return pg.cluster()


@pytest.fixture
def db(cluster):
    url = cluster.create_database()
    yield url
    cluster.drop_database(url)


@pytest.fixture
def empty_db(cluster):
    url = cluster.create_database(migrated=False)
    yield url
    cluster.drop_database(url)


def test_store_init_migrates_once_even_when_run_twice_at_once(cluster, empty_db, tmp_path):
    runs = []
    at_once(lambda: runs.append(rollout(["store", "init", "--store", empty_db], tmp_path)), 2)
    again = rollout(["store", "init"], tmp_path, {"ROLLOUT_STORE": empty_db})
    runs.append(again)
    assert [r.returncode for r in runs] == [0, 0, 0], [r.stderr for r in runs]
    outputs = sorted(r.stdout.strip().split(": ", 1)[1] for r in runs)
    assert outputs == [
        "applied 0001 feature_flags and the append-only rollout_history; "
        "0002 rollout_intents: applies of the http store in flight; "
        "0003 rollout_deliveries: notifications of an abort, claimed once; "
        "0004 rollout_leases and rollout_hook_calls: the leader lease and webhook log of "
        "rollout serve",
        "up to date at migration 4", "up to date at migration 4"]
    assert all(pg.PASSWORD not in r.stdout + r.stderr for r in runs)
    assert cluster.execute(empty_db, "SELECT version FROM schema_migrations ORDER BY 1") == [
        (1,), (2,), (3,), (4,)]


def test_reconcile_and_status_through_the_command(cluster, db, tmp_path):
    repo = make_repo(tmp_path)
    r = rollout(["reconcile", "--store", db], repo, {"ROLLOUT_NOW": "2026-11-02T09:00:00Z"})
    assert r.returncode == 0, r.stderr
    assert cluster.execute(db, "SELECT name, percentage, enabled, version FROM feature_flags") == [
        (FLAG, 0, False, 1)]
    status = json.loads(rollout(["status", "-o", "json"], repo, {"ROLLOUT_STORE": db}).stdout)
    assert (status["flags"][0]["applied"], status["flags"][0]["in_sync"]) == (0, True)


def test_an_uninitialised_database_is_refused_with_the_fix(cluster, empty_db, capsys):
    name = empty_db.rsplit("/", 1)[1]
    with pytest.raises(UserError) as exc:
        open_store(empty_db)
    assert str(exc.value) == (f"store postgres://postgres@127.0.0.1:{cluster.port}/{name} has no "
                              f"rollout tables: run `rollout store init --store URL`")
    assert main(["history", FLAG, "--store", empty_db]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run `rollout store init" in err and pg.PASSWORD not in err
    # half-migrated (a newer rollout needs more): refused too
    with psycopg.connect(empty_db) as conn:
        postgres.migrate(conn)
    cluster.execute(empty_db, "DELETE FROM schema_migrations WHERE version = %s",
                    (postgres.LATEST,))
    with pytest.raises(UserError, match=f"is at migration {postgres.LATEST - 1} of "
                                        f"{postgres.LATEST}: run `rollout store init"):
        open_store(empty_db)


def test_the_history_is_append_only_even_for_the_superuser(cluster, db):
    with open_store(db) as store:
        store.apply(FLAG, 0, None, ev(None, 0))
    for sql in ("UPDATE rollout_history SET to_pct = 100", "DELETE FROM rollout_history",
                "TRUNCATE rollout_history"):
        with pytest.raises(psycopg.errors.RaiseException, match="rollout_history is append-only"):
            cluster.execute(db, sql)
    assert cluster.execute(db, "SELECT to_pct FROM rollout_history") == [(0,)]


def test_an_unreachable_store_exits_4_in_one_line_without_the_password(capsys):
    waits = []
    url = pg.closed_port_url()
    with pytest.raises(ExternalError) as exc:
        postgres.PostgresStore(url, policy=replace(postgres.CONNECT_POLICY, sleep=waits.append))
    assert waits == [0.5, 1.0]                          # the connect policy's backoff
    assert main(["history", FLAG, "--store", url]) == 4     # the same, from the command line
    err = capsys.readouterr().err
    assert err == f"rollout history: {exc.value}\n" and pg.PASSWORD not in err
    assert "store postgres://postgres@127.0.0.1:" in err and "/rollout: cannot connect after " \
        "3 attempts: " in err and "Connection refused" in err


def test_a_wrong_password_is_named_but_never_printed(cluster, db):
    wrong = db.replace(pg.PASSWORD, "Wrong-Pw-4411")
    with pytest.raises(ExternalError) as exc:
        postgres.PostgresStore(wrong, policy=replace(postgres.CONNECT_POLICY, sleep=lambda s: None))
    assert "password authentication failed" in str(exc.value)
    assert "Wrong-Pw-4411" not in str(exc.value) and open_store(db).url == postgres.describe(db)


def test_the_server_gone_in_the_middle_of_a_rollback_leaves_nothing_partial(cluster, db):
    store = open_store(db)
    applied = at_25(store)
    pid = store.conn.info.backend_pid
    # Hold inserts into the history, so the rollback stops after its UPDATE of the flag...
    blocker = psycopg.connect(db)
    blocker.execute("LOCK TABLE rollout_history IN EXCLUSIVE MODE")
    errors = []

    def rollback():
        try:
            store.apply(FLAG, 0, applied.version, ev(25, 0, ABORTED, T0 + timedelta(hours=81)))
        except ExternalError as exc:
            errors.append(exc)

    t = threading.Thread(target=rollback)
    t.start()
    deadline = time.monotonic() + 10
    waiting = [("Lock", "INSERT INTO rollout_history (f")]
    while cluster.execute(db, "SELECT wait_event_type, left(query, 30) FROM pg_stat_activity"
                              " WHERE pid = %s", (pid,)) != waiting:
        assert time.monotonic() < deadline, "the rollback never reached its history row"
        time.sleep(0.02)
    # ...then the server drops its connection, between the flag and its history row.
    cluster.execute(db, "SELECT pg_terminate_backend(%s)", (pid,))
    t.join(10)
    blocker.rollback()
    blocker.close()
    store.close()
    assert len(errors) == 1 and errors[0].exit_code == 4
    message = str(errors[0])
    assert message.startswith(f"store {postgres.describe(db)}: applying {FLAG} 0% failed: ")
    assert message.endswith("(the value and its history row commit together or not at all)")
    assert "\n" not in message and pg.PASSWORD not in message
    with open_store(db) as fresh:
        now = fresh.read(FLAG)
        assert (now.percentage, now.version) == (25, applied.version)
        assert [e.kind for e in fresh.history(FLAG)] == [APPLIED] * 3
        # the guard's next run rolls back, once
        fresh.apply(FLAG, 0, applied.version, ev(25, 0, ABORTED, T0 + timedelta(hours=82)))
        assert [e.kind for e in fresh.history(FLAG)] == [APPLIED] * 3 + [ABORTED]


def test_two_guards_at_once_roll_back_once(db):
    with open_store(db) as store:
        applied = at_25(store)
    results = []

    def guard():
        with open_store(db) as s:
            try:
                s.apply(FLAG, 0, applied.version, ev(25, 0, ABORTED))
                results.append("rolled back")
            except ConflictError:
                results.append("lost")

    at_once(guard, 2)
    assert sorted(results) == ["lost", "rolled back"]
    with open_store(db) as store:
        assert [e.kind for e in store.history(FLAG)].count(ABORTED) == 1
        assert store.read(FLAG).percentage == 0

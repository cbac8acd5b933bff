"""Every reader of stored rows parses into typed values or says, in one line, which row and
field is wrong (exit 4): damaged history rows, an intent of the http store, a SQLite file
with flipped bytes. `abort` checks before it writes: a damaged store is never changed
and then crashed on."""
import random
import shutil
import sqlite3

import pytest

from tests import pg
from tests.faults.conftest import FLAG, NOW, at, flag_row, one_clear_line, rollout

BAD_ROWS = {
    # column -> a value that a damaged file or a hand edit can leave, and the words expected
    "reasons": ("'[broken'", "field reasons: invalid JSON"),
    "evidence": ("'[1, 2]'", "field evidence: expected a JSON dict"),
    "at": ("'2026-11-02T09:00:00.000000+0R:00'", "field at: expected an ISO-8601 time"),
    "to_pct": ("'five'", "field to_pct: expected an integer 0..100"),
}


def damage(db, column, value):
    cols = {"flag": f"'{FLAG}'", "at": "'2026-11-03T09:00:00+00:00'", "kind": "'held'",
            "reasons": "'[]'", "evidence": "'{}'", column: value}
    with sqlite3.connect(db) as c:
        c.execute(f"INSERT INTO rollout_history ({', '.join(cols)}) VALUES ({', '.join(cols.values())})")


@pytest.mark.parametrize("column", list(BAD_ROWS))
def test_a_damaged_history_row_is_one_line_exit_4(live, column):
    value, words = BAD_ROWS[column]
    damage(live / ".rollout/flags.db", column, value)
    line = one_clear_line(rollout(["history", FLAG], live, at(NOW)), 4)
    assert "history row #" in line and words in line


def test_abort_reconcile_status_on_a_damaged_row_change_nothing(live):
    db = live / ".rollout/flags.db"
    damage(db, "reasons", "'[broken'")
    before = sqlite3.connect(db).execute("SELECT count(*) FROM rollout_history").fetchone()
    for args in (["abort", FLAG, "--reason", "x"], ["reconcile"], ["status"],
                 ["guard", "--once"]):
        r = rollout(args, live, at(NOW))
        assert r.returncode == 4 and "Traceback" not in r.stderr, (args, r.stderr)
        assert "field reasons: invalid JSON" in r.stderr
    assert flag_row(db) == (5,)                          # abort did not write and then crash
    assert sqlite3.connect(db).execute("SELECT count(*) FROM rollout_history").fetchone() == before


def test_a_damaged_row_in_postgres_is_one_line_exit_4(repo):
    from tests.faults.conftest import make_live

    cluster = pg.cluster()
    url = cluster.create_database()
    try:
        make_live(repo, ["--store", url])
        cluster.execute(url, "INSERT INTO rollout_history (flag, at, kind, reasons, evidence) "
                             "VALUES (%s, now(), 'held', '{\"not\": \"a list\"}', '{}')", (FLAG,))
        line = one_clear_line(rollout(["status", "--store", url], repo, at(NOW)), 4)
        assert "field reasons: expected a JSON list" in line and pg.PASSWORD not in line
        r = rollout(["abort", FLAG, "--reason", "x", "--store", url], repo, at(NOW))
        assert r.returncode == 4 and "Traceback" not in r.stderr
        assert cluster.execute(url, "SELECT percentage FROM feature_flags") == [(5,)]
    finally:
        cluster.drop_database(url)


def test_a_damaged_intent_of_the_http_store_is_one_line_exit_4(repo, tmp_path):
    from tests.fakes.flagapi import FakeFlagAPI

    hist = tmp_path / "history.db"
    with FakeFlagAPI(token="t0ken-intents", flags={FLAG: {"enabled": True, "percentage": 5}}) as api:
        store = ["--store", api.base_url, "--history", f"sqlite:///{hist}"]
        env = {"ROLLOUT_HTTP_TOKEN": "t0ken-intents", **at(NOW)}
        assert rollout(["store", "init", *store], repo, env).returncode == 0
        with sqlite3.connect(hist) as c:
            c.execute("INSERT INTO rollout_intents (flag, percentage, mirror_version, event) "
                      "VALUES (?, 0, NULL, '{\"flag\": 3}')", (FLAG,))
        line = one_clear_line(rollout(["status", *store], repo, env), 4)
        assert "intent of skills_rollout" in line and "field flag: expected text" in line


def flip(db, seed, n=40):
    rnd = random.Random(seed)
    data = bytearray(db.read_bytes())
    for _ in range(n):
        i = rnd.randrange(100, len(data))
        data[i] ^= rnd.randrange(1, 256)
    db.write_bytes(bytes(data))


ALL = (["status"], ["history", FLAG], ["reconcile"], ["abort", FLAG, "--reason", "x"])


def flipped_bytes(live, seeds, commands=ALL):
    """Each command on a copy of the store with bytes flipped: exit 0/1/3 (the damage
    missed what it reads) or 4 with one line; abort on a store it cannot read leaves the
    file exactly as it was."""
    db = live / ".rollout/flags.db"
    good = live / "good.db"
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(db, good)
    outcomes = {}
    for seed in seeds:
        for args in commands:
            shutil.copy(good, db)
            for extra in ("-wal", "-shm"):
                (live / f".rollout/flags.db{extra}").unlink(missing_ok=True)
            flip(db, seed)
            damaged = db.read_bytes()
            r = rollout(args, live, at(NOW))
            assert "Traceback" not in r.stderr, (seed, args, r.stderr)
            assert r.returncode in (0, 1, 3, 4), (seed, args, r.stdout, r.stderr)
            if r.returncode == 4:
                assert len(r.stderr.strip().splitlines()) == 1, (seed, args, r.stderr)
                if args[0] == "abort":
                    assert db.read_bytes() == damaged, (seed, "abort changed a store it failed on")
            outcomes[r.returncode] = outcomes.get(r.returncode, 0) + 1
    return outcomes


def test_flipped_bytes_short(live):
    # seeds chosen to hit a damaged row (5) and the schema (2)
    assert 4 in flipped_bytes(live, [5, 2], (["history", FLAG], ["abort", FLAG, "--reason", "x"]))


@pytest.mark.slow
def test_flipped_bytes_many(live):
    outcomes = flipped_bytes(live, range(100, 150))      # 50 files x 4 commands
    assert sum(outcomes.values()) == 200 and outcomes.get(4, 0) > 20

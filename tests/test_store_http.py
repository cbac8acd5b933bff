"""The flag API as the flag store: a fake of the application's API on 127.0.0.1, the
history in SQLite. Faults: 5xx, slow answers, 401, malformed answers, a PUT the read-back
contradicts, the API down during a rollback, a controller killed between the PUT and
its history row, two guards at once."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from rollout.adapters.retry import RetryPolicy
from rollout.adapters.store.http import RECOVERED, HTTPStore
from rollout.cli.main import main
from rollout.core.state import ABORTED, APPLIED, Event
from rollout.errors import ConflictError, ExternalError, UserError
from tests import pg
from tests.cli import ROOT, make_repo, rollout, set_percentage
from tests.fakes.flagapi import FakeFlagAPI
from tests.stores import at_once

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
FLAG = "skills_rollout"
FAST = RetryPolicy(attempts=3, timeout=0.5, backoff=0.1)


def ev(frm, to, kind=APPLIED, at=T0):
    return Event(FLAG, at, kind, frm, to, ("because",), "r1", "c0ffee", "tester")


@pytest.fixture
def waits(monkeypatch):
    """What the policies of `make_store` waited (their sleep records instead)."""
    for var in ("ROLLOUT_HTTP_ATTEMPTS", "ROLLOUT_HTTP_TOKEN", "ROLLOUT_STORE"):
        monkeypatch.delenv(var, raising=False)
    return []


@pytest.fixture
def api():
    with FakeFlagAPI() as fake:
        yield fake


@pytest.fixture
def history_url(tmp_path):
    return f"sqlite:///{tmp_path}/history.db"


@pytest.fixture
def make_store(api, history_url, waits):
    opened = []

    def make(token=api.token, policy=FAST, closed_by_caller=False):
        store = HTTPStore(api.base_url, history_url, token=token,
                          policy=replace(policy, sleep=waits.append))
        if not closed_by_caller:
            opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def at_25(store):
    store.apply(FLAG, 0, None, ev(None, 0))
    store.apply(FLAG, 5, 1, ev(0, 5, at=T0 + timedelta(hours=1)))
    return store.apply(FLAG, 25, 2, ev(5, 25, at=T0 + timedelta(hours=80)))


def pending_intents(history_url):
    with sqlite3.connect(history_url[len("sqlite:///"):]) as db:
        return db.execute("SELECT flag, percentage FROM rollout_intents").fetchall()


def test_speaks_the_documented_api_with_the_bearer_token(api, make_store):
    store = make_store()
    store.apply(FLAG, 0, None, ev(None, 0))
    store.apply(FLAG, 5, 1, ev(0, 5))
    assert api.flags == {FLAG: {"enabled": True, "percentage": 5}}
    assert all(r.header("Authorization") == f"Bearer {api.token}" for r in api.requests)
    # each apply: read, PUT, read back
    assert [(r.method, r.path) for r in api.requests] == [
        ("GET", f"/api/feature-flags/{FLAG}"), ("PUT", f"/api/feature-flags/{FLAG}"),
        ("GET", f"/api/feature-flags/{FLAG}")] * 2
    assert [r.json for r in api.requests_to("PUT")] == [
        {"enabled": False, "percentage": 0}, {"enabled": True, "percentage": 5}]
    got = store.read(FLAG)
    assert (got.percentage, got.enabled, got.version, got.updated_at) == (5, True, 2, T0)


def test_a_flag_created_in_the_application_first_is_adopted(api, make_store):
    api.flags[FLAG] = {"enabled": True, "percentage": 5}
    store = make_store()
    got = store.read(FLAG)
    assert (got.percentage, got.version, got.updated_at) == (5, 0, None)
    with pytest.raises(ConflictError):
        store.apply(FLAG, 0, None, ev(None, 0))       # it exists: not a creation
    assert store.apply(FLAG, 0, 0, ev(5, 0)).version == 1
    assert [(e.from_pct, e.to_pct) for e in store.history(FLAG)] == [(5, 0)]


def test_the_token_comes_from_the_environment_and_must_be_set(api, history_url, waits,
                                                              monkeypatch):
    store = HTTPStore(api.base_url, history_url, policy=replace(FAST, sleep=waits.append))
    assert store.history(FLAG) == []                     # history needs no token
    with pytest.raises(UserError, match="ROLLOUT_HTTP_TOKEN is not set"):
        store.read(FLAG)
    assert api.requests == []
    monkeypatch.setenv("ROLLOUT_HTTP_TOKEN", api.token)
    assert store.read(FLAG) is None
    store.close()


def test_a_refused_token_fails_at_once_in_one_line(api, make_store):
    store = make_store(token="wrong")
    with pytest.raises(ExternalError) as exc:
        store.read(FLAG)
    assert "HTTP 401, the token in ROLLOUT_HTTP_TOKEN was refused" in str(exc.value)
    assert "\n" not in str(exc.value) and "wrong" not in str(exc.value)
    assert len(api.requests) == 1                        # 401 is not retried


def test_server_errors_are_retried_then_the_apply_succeeds(api, make_store, waits):
    store = make_store()
    store.apply(FLAG, 0, None, ev(None, 0))
    api.fail_next(500, times=2, match="PUT")
    assert store.apply(FLAG, 5, 1, ev(0, 5)).percentage == 5
    assert len(api.requests_to("PUT")) == 1 + 3
    assert waits == [0.1, 0.2]
    assert [e.to_pct for e in store.history(FLAG)] == [0, 5]
    assert pending_intents(store.hist.url) == []


SHORT = RetryPolicy(attempts=2, timeout=0.2, backoff=0.1)


def test_a_slow_answer_times_out_and_is_retried(api, make_store):
    api.flags[FLAG] = {"enabled": True, "percentage": 5}
    api.slow_next(1.0)                       # far longer than the 0.2 s timeout
    assert make_store(policy=SHORT).read(FLAG).percentage == 5
    assert len(api.requests_to("GET")) == 1  # the first never got to the fake's logic


def test_no_answer_at_all_is_one_line_after_the_last_attempt(api, make_store):
    api.slow_next(0.6, times=2)
    with pytest.raises(ExternalError, match=r"failed after 2 attempts: no answer within 0.2s"):
        make_store(policy=SHORT).read(FLAG)


MALFORMED = [
    ("<html>Bad gateway</html>", "answered malformed JSON"),
    ([5], "answered list, expected an object"),
    ({"percentage": 5}, "answered without key 'enabled'"),
    ({"enabled": True}, "answered without key 'percentage'"),
    ({"enabled": "yes", "percentage": 5}, "field enabled: expected true or false, got 'yes'"),
    ({"enabled": True, "percentage": "5"}, "field percentage: expected an integer 0..100, got '5'"),
    ({"enabled": True, "percentage": 5.5}, "expected an integer 0..100, got 5.5"),
    ({"enabled": True, "percentage": True}, "expected an integer 0..100, got True"),
    ({"enabled": True, "percentage": 150}, "expected an integer 0..100, got 150"),
    ({"enabled": False, "percentage": -1}, "expected an integer 0..100, got -1"),
]


@pytest.mark.parametrize("body,message", MALFORMED)
def test_malformed_answers_are_one_line_errors(api, make_store, body, message):
    store = make_store()
    api.fail_next(200, body=body, match="GET")
    with pytest.raises(ExternalError) as exc:
        store.read(FLAG)
    text = str(exc.value)
    assert message in text and f"GET {api.base_url}/api/feature-flags/{FLAG}" in text
    assert "\n" not in text and exc.value.exit_code == 4


def test_a_malformed_read_back_applies_nothing_to_the_history(api, make_store):
    store = make_store()
    store.apply(FLAG, 0, None, ev(None, 0))
    # the PUT lands, the read-back is garbage: unverified, so no history row yet
    api.answer_after_put(200, {"enabled": True})
    with pytest.raises(ExternalError, match="without key 'percentage'"):
        store.apply(FLAG, 5, 1, ev(0, 5))
    assert pending_intents(store.hist.url) == [(FLAG, 5)]
    # the next read sees the API at 5% and completes the record
    assert store.read(FLAG).version == 2
    assert [e.to_pct for e in store.history(FLAG)] == [0, 5]
    assert RECOVERED in store.history(FLAG)[-1].reasons
    assert pending_intents(store.hist.url) == []


def test_a_put_the_read_back_contradicts_is_an_error_and_records_nothing(api, make_store):
    store = make_store()
    store.apply(FLAG, 0, None, ev(None, 0))
    api.fail_next(200, body={}, match="PUT")    # "accepted", never stored
    with pytest.raises(ExternalError) as exc:
        store.apply(FLAG, 5, 1, ev(0, 5))
    assert "accepted but a read-back shows percentage 0, enabled False, expected percentage 5, " \
        "enabled True" in str(exc.value)
    assert api.flags[FLAG]["percentage"] == 0
    assert [e.to_pct for e in store.history(FLAG)] == [0]
    assert pending_intents(store.hist.url) == []
    assert store.read(FLAG).version == 1


def test_the_api_down_during_a_rollback_fails_loudly_and_leaves_nothing_partial(api, make_store,
                                                                                 waits):
    store = make_store()
    applied = at_25(store)
    api.fail_next(503, times=3, match="PUT")
    with pytest.raises(ExternalError) as exc:
        store.apply(FLAG, 0, applied.version, ev(25, 0, kind=ABORTED, at=T0 + timedelta(hours=81)))
    assert exc.value.exit_code == 4
    assert str(exc.value) == (f"flag API: PUT {api.base_url}/api/feature-flags/{FLAG} failed "
                              f"after 3 attempts: HTTP 503")
    assert len(api.requests_to("PUT")) == 3 + 3 and waits == [0.1, 0.2]
    # nothing partial: the application still reads 25 %, the history has no abort
    assert api.flags[FLAG]["percentage"] == 25
    assert store.read(FLAG).percentage == 25
    assert [e.kind for e in store.history(FLAG)] == [APPLIED] * 3
    assert pending_intents(store.hist.url) == []        # the read settled it: never applied
    # the guard's next run, with the API back, rolls back once
    store.apply(FLAG, 0, applied.version, ev(25, 0, kind=ABORTED, at=T0 + timedelta(hours=82)))
    assert [e.kind for e in store.history(FLAG)] == [APPLIED] * 3 + [ABORTED]


def test_the_api_down_exits_4_with_one_line(api, make_store, history_url, waits, monkeypatch,
                                            capsys):
    url, store = api.base_url, make_store()
    api.stop()
    with pytest.raises(ExternalError) as exc:                # every attempt of the policy
        store.read(FLAG)
    assert "cannot connect" in str(exc.value) and "failed after 3 attempts" in str(exc.value)
    assert "\n" not in str(exc.value) and waits == [0.1, 0.2]
    # the command line: exit 4, one line (ROLLOUT_HTTP_ATTEMPTS: the run gives up at once)
    monkeypatch.setenv("ROLLOUT_HTTP_TOKEN", "t")
    monkeypatch.setenv("ROLLOUT_HTTP_ATTEMPTS", "1")
    code = main(["status", "--store", url, "--history", history_url,
                 "--flags", str(ROOT / "rollout/flags")])
    err = capsys.readouterr().err
    assert code == 4
    assert err.count("\n") == 1 and "cannot connect" in err and "failed after 1 attempts" in err


def test_an_intent_whose_history_row_was_written_is_just_dropped(make_store):
    store = make_store()
    store.apply(FLAG, 0, None, ev(None, 0))
    # a run that died after its history row, before removing its intent
    with sqlite3.connect(store.hist.path) as db:
        db.execute("INSERT INTO rollout_intents (flag, percentage, mirror_version, event)"
                   " VALUES (?, 0, NULL, ?)", (FLAG, json.dumps(ev(None, 0).to_json())))
    assert store.read(FLAG).version == 1
    assert len(store.history(FLAG)) == 1
    assert pending_intents(store.hist.url) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_failing_intents_table_is_one_line_naming_the_store_without_its_password(
        api, history_url, waits, backend):
    if backend == "postgres":
        history_url = pg.cluster().create_database()
    store = HTTPStore(api.base_url, history_url, token=api.token, policy=FAST)
    try:
        store.hist.conn.execute("DROP TABLE rollout_intents")        # a damaged store
        store.hist.conn.commit()
        with pytest.raises(ExternalError) as exc:
            store.apply(FLAG, 0, None, ev(None, 0))
        assert str(exc.value).startswith(f"store {store.hist.url}: using the intents table "
                                         f"failed: ") and "rollout_intents" in str(exc.value)
        assert "\n" not in str(exc.value) and pg.PASSWORD not in str(exc.value)
        assert api.requests_to("PUT") == [] and store.history(FLAG) == []   # nothing sent
    finally:
        store.close()
        if backend == "postgres":
            pg.cluster().drop_database(history_url)


def test_two_guards_at_once_roll_back_once(api, make_store):
    applied = at_25(make_store())
    puts_before = len(api.requests_to("PUT"))
    results = []

    def guard():
        store = make_store(closed_by_caller=True)   # SQLite: closed by the thread that opened it
        try:
            store.apply(FLAG, 0, applied.version, ev(25, 0, kind=ABORTED))
            results.append("rolled back")
        except ConflictError:
            results.append("lost")
        finally:
            store.close()

    at_once(guard, 2)
    assert sorted(results) == ["lost", "rolled back"]
    assert len(api.requests_to("PUT")) == puts_before + 1     # the loser never PUT
    assert [e.kind for e in make_store().history(FLAG)].count(ABORTED) == 1


def test_a_controller_killed_between_the_put_and_its_history_row_converges(api, tmp_path):
    repo = make_repo(tmp_path)
    env = {"ROLLOUT_HTTP_TOKEN": api.token, "ROLLOUT_NOW": "2026-11-02T09:00:00Z"}
    history = f"sqlite:///{tmp_path}/history.db"
    args = ["reconcile", "--store", api.base_url, "--history", history]
    first = rollout(args, repo, env)
    assert first.returncode == 0, first.stderr
    set_percentage(repo, 5)

    victim = {}

    def kill_after_put(name, value):
        if value["percentage"] == 5:
            os.kill(victim["pid"], signal.SIGKILL)    # the PUT is stored; no answer, no history

    api.on_put = kill_after_put
    proc = subprocess.Popen([sys.executable, "-m", "rollout", *args], cwd=repo,
                            env={**os.environ, "ROLLOUT_ACTOR": "killed-run", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    victim["pid"] = proc.pid
    proc.communicate(timeout=60)
    api.on_put = None
    assert proc.returncode == -signal.SIGKILL
    assert api.flags[FLAG] == {"enabled": True, "percentage": 5}
    assert pending_intents(history) == [(FLAG, 5)]

    again = rollout([*args, "--output", "json"], repo,
                    {**env, "ROLLOUT_NOW": "2026-11-02T09:10:00Z"})
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["outcomes"][0]["action"] == "noop"
    hist = json.loads(rollout(["history", FLAG, "-o", "json", "--store", api.base_url,
                               "--history", history], repo, env).stdout)
    assert [(h["kind"], h["from"], h["to"], h["actor"]) for h in hist] == [
        ("applied", None, 0, "tester"), ("applied", 0, 5, "killed-run")]
    assert hist[1]["reasons"][-1] == RECOVERED
    assert hist[1]["at"] == "2026-11-02T09:00:00+00:00"        # when it was applied
    assert pending_intents(history) == []
    assert len(api.requests_to("PUT")) == 2                     # nothing applied twice

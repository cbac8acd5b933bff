"""A late write never beats the abort (http flag store). A PUT whose client died keeps
travelling and lands after a later abort: with the API's ETag it carries `If-Match` and
is refused (412); without ETags it lands, and the next reconcile or guard finds the API
contradicting the history, puts the abort's 0 % back, records a `drift` row, tells Slack
and exits 4 — never "already at 5 %", exit 0."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.cli import set_percentage
from tests.fakes.flagapi import FakeFlagAPI
from tests.fakes.slack import FakeSlack
from tests.faults.conftest import FLAG, NOW, at, make_live, rollout

TOKEN = "flag-api-token-7c1"


def history(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT kind, from_pct, to_pct FROM rollout_history ORDER BY id").fetchall()


def at_25(repo, api, store_args, env):
    """Live at 25 % (the climb's gates are not what this test is about: written directly)."""
    from rollout.adapters.store.http import HTTPStore
    from rollout.core.state import APPLIED, Event

    make_live(repo, store_args, env)
    set_percentage(repo, 25)
    with HTTPStore(api.base_url, store_args[3], token=TOKEN) as store:
        store.apply(FLAG, 25, store.read(FLAG).version,
                    Event(FLAG, NOW, APPLIED, 5, 25, ("beta, set up by the test",)))


def late_put_after_abort(repo, api, store_args, env):
    """At 25 %, a reconcile stepping down to 5 % is killed while its PUT is in flight; an
    abort takes the flag to 0 %; then the dead run's PUT of 5 % lands."""
    at_25(repo, api, store_args, env)
    set_percentage(repo, 5)
    api.requests.clear()                                # what follows is under test
    arrived, release = api.hold_next("PUT")
    proc = subprocess.Popen([sys.executable, "-m", "rollout", "reconcile", *store_args],
                            cwd=repo, env={**os.environ, **env, **at(NOW)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert arrived.wait(30), "the reconcile's PUT never arrived"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    r = rollout(["abort", FLAG, "--reason", "SEV1 while the step down was in flight",
                 *store_args], repo, {**env, **at(NOW)})
    assert r.returncode == 3, r.stdout + r.stderr
    assert api.flags[FLAG]["percentage"] == 0
    release.set()                                       # ...and now the late PUT lands
    deadline = time.monotonic() + 10
    while not late_puts(api):
        assert time.monotonic() < deadline, "the held PUT was never served"
        time.sleep(0.02)


def late_puts(api):
    with api.lock:
        return [q for q in api.requests if q.method == "PUT" and (q.json or {}).get("percentage") == 5
                and q.status]


@pytest.fixture
def setting(repo, tmp_path):
    def make(etags):
        api = FakeFlagAPI(token=TOKEN, etags=etags).start()
        hist = tmp_path / "history.db"
        return api, ["--store", api.base_url, "--history", f"sqlite:///{hist}"], hist
    made = []
    yield lambda etags: made.append(make(etags)) or made[-1]
    for api, _, _ in made:
        api.stop()


def test_with_etags_the_late_put_is_refused_and_the_abort_stands(repo, setting):
    api, store, hist = setting(etags=True)
    env = {"ROLLOUT_HTTP_TOKEN": TOKEN}
    late_put_after_abort(repo, api, store, env)
    late = late_puts(api)
    assert len(late) == 1 and late[0].header("If-Match") and late[0].status == 412
    assert api.flags[FLAG]["percentage"] == 0
    r = rollout(["reconcile", *store], repo, {**env, **at(NOW)})
    assert r.returncode == 1 and "was aborted" in r.stdout, r.stdout + r.stderr
    assert "drift" not in r.stderr
    assert api.flags[FLAG]["percentage"] == 0


@pytest.mark.parametrize("command", ["reconcile", "guard"])
def test_without_etags_the_late_put_is_found_as_drift_and_put_back(repo, setting, command):
    api, store, hist = setting(etags=False)
    with FakeSlack() as slack:
        env = {"ROLLOUT_HTTP_TOKEN": TOKEN, "SLACK_WEBHOOK_URL": slack.url}
        late_put_after_abort(repo, api, store, env)
        assert api.flags[FLAG]["percentage"] == 5           # production runs past the abort
        args = [command, *store] + (["--once", "--metrics", f"sqlite:///{repo}/none.db"]
                                    if command == "guard" else [])
        r = rollout(args, repo, {**env, **at(NOW)})
        assert r.returncode == 4, r.stdout + r.stderr
        assert "Traceback" not in r.stderr
        assert "drift: the flag store served 5% while the history says 0%: put back to 0%" \
            in r.stderr
        assert api.flags[FLAG]["percentage"] == 0
        assert ("drift", 0, 0) in history(hist)
        drift_alerts = lambda: [m for m in slack.messages if "drift" in m["text"]]
        assert len(drift_alerts()) == 1, slack.messages     # beside the abort's own message
        assert "SEV3 flag store drift of skills_rollout: 5% → 0%" in drift_alerts()[0]["text"]
        again = rollout(args, repo, {**env, **at(NOW)})      # settled: no drift, no new alert
        assert "drift" not in again.stderr and len(drift_alerts()) == 1
        assert again.returncode in (0, 1), again.stdout + again.stderr
        assert [k for k, _, _ in history(hist)].count("drift") == 1

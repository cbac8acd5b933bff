"""Notifications at least once, bounded in time, repeated safely: receivers that hang
cost one notification deadline, not minutes; a receiver that took the message but
answered late gets it again marked "(repeat)" (Slack) or folded by its dedup key
(PagerDuty); a sender killed mid-send leaves a claim that expires and is retried; after
the store fails mid-abort, running `rollout abort` again sends what is owed, and GitHub's
pull request is found rather than opened twice."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from rollout.adapters.store.base import DELIVERY_LEASE
from rollout.drill import FAULTY
from tests import pg
from tests.fakes.github import FakeGitHub
from tests.fakes.hostile import Hanging
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.faults.conftest import (FLAG, NOW, ROUTING_KEY, add_traffic, at, flag_row,
                                   make_live, rollout)

AFTER_LEASE = NOW + DELIVERY_LEASE + timedelta(minutes=1)


def deliveries(db):
    with sqlite3.connect(db) as c:
        return dict(c.execute("SELECT channel, status FROM rollout_deliveries").fetchall())


def hanging_run(live, deadline):
    add_traffic(live / ".rollout/flags.db", FAULTY["error-rate"])
    with Hanging() as hang:
        env = {**at(NOW), "SLACK_WEBHOOK_URL": hang.base_url + "/services/T0/B0/XYZ",
               "PAGERDUTY_ROUTING_KEY": ROUTING_KEY, "PAGERDUTY_EVENTS_URL": hang.base_url,
               "GITHUB_TOKEN": "ghs_x", "GITHUB_REPOSITORY": "acme/ops",
               "GITHUB_API_URL": hang.base_url, "ROLLOUT_HTTP_ATTEMPTS": "1"}
        if deadline is not None:
            env["ROLLOUT_NOTIFY_DEADLINE"] = str(deadline)
        r = rollout(["guard", "--once"], live, env)
        # from the first notification sent to the end of the run (not Python's start-up)
        took = time.monotonic() - hang.first_at
    assert r.returncode == 3, r.stdout + r.stderr            # the rollback happened regardless
    assert flag_row(live / ".rollout/flags.db") == (0,)
    failed = [l for l in r.stderr.splitlines() if "FAILED, will retry" in l]
    assert {l.split()[1].rstrip(":") for l in failed} == {"github", "slack", "pagerduty"}, r.stderr
    return took


def test_every_receiver_hanging_costs_one_notification_deadline(live):
    took = hanging_run(live, deadline=2)
    assert 1.5 < took < 2 + 1.5, took      # the deadline, plus recording and exiting


@pytest.mark.slow
def test_every_receiver_hanging_with_the_default_deadline(live):
    from rollout.deliveries import NOTIFY_DEADLINE

    took = hanging_run(live, deadline=None)
    assert NOTIFY_DEADLINE - 1 < took < NOTIFY_DEADLINE + 2, took


class Late:
    """The first request is processed (the message is taken) and answered `delay` late."""

    def __init__(self, delay):
        self.delay, self.done = delay, False

    def __call__(self, fake, result):
        if not self.done:
            self.done = True
            fake.lock.release()                # let other requests through meanwhile
            try:
                time.sleep(self.delay)
            finally:
                fake.lock.acquire()
        return result


class LateSlack(FakeSlack):
    late = Late(3.0)

    def handle(self, req):
        return self.late(self, super().handle(req))


class LatePagerDuty(FakePagerDuty):
    late = Late(3.0)

    def handle(self, req):
        return self.late(self, super().handle(req))


def test_a_late_answer_is_resent_marked_repeat_or_folded_by_dedup_key(live):
    state = (live / "rollout/flags/skills_rollout.yaml").read_text()
    add_traffic(live / ".rollout/flags.db", FAULTY["error-rate"])
    LateSlack.late, LatePagerDuty.late = Late(3.0), Late(3.0)
    with LateSlack() as slack, LatePagerDuty() as pd, \
            FakeGitHub(files={"rollout/flags/skills_rollout.yaml": state}) as gh:
        env = {**at(NOW), "SLACK_WEBHOOK_URL": slack.url, "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
               "PAGERDUTY_EVENTS_URL": pd.url, "GITHUB_TOKEN": gh.token,
               "GITHUB_REPOSITORY": gh.repository, "GITHUB_API_URL": gh.url,
               "ROLLOUT_NOTIFY_DEADLINE": "1.5", "ROLLOUT_HTTP_ATTEMPTS": "1"}
        r = rollout(["guard", "--once"], live, env)
        assert r.returncode == 3 and "slack: FAILED, will retry" in r.stderr, r.stderr
        assert "pagerduty: FAILED, will retry" in r.stderr
        time.sleep(3.2)                                  # both took it, and answered late
        assert len(slack.messages) == 1 and len(pd.events) == 1
        # any command that touches the flag sends what is owed: here, reconcile
        again = rollout(["reconcile"], live, env)
        assert again.returncode == 1 and "was aborted" in again.stdout, again.stdout + again.stderr
        assert "FAILED" not in again.stderr
    assert len(slack.messages) == 2 and "(repeat)" not in slack.messages[0]["text"]
    assert "(repeat)" in slack.messages[1]["text"]
    assert slack.messages[1]["blocks"][0]["text"]["text"].startswith("SEV1 rollback (repeat):")
    assert [e["event_action"] for e in pd.events] == ["trigger", "trigger"]
    assert len(pd.alerts) == 1                           # one incident: folded by dedup key
    assert len(gh.open_pulls()) == 1
    assert set(deliveries(live / ".rollout/flags.db").values()) == {"sent"}


def test_a_sender_killed_mid_send_leaves_a_claim_that_expires(live, receivers):
    slack, pd, gh, env = receivers
    db = live / ".rollout/flags.db"
    add_traffic(db, FAULTY["error-rate"])
    with Hanging() as hang:
        proc = subprocess.Popen([sys.executable, "-m", "rollout", "guard", "--once"], cwd=live,
                                env={**os.environ, **env,
                                     "SLACK_WEBHOOK_URL": hang.base_url + "/services/A/B/C"},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert hang.arrived.wait(60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert flag_row(db) == (0,) and deliveries(db) == {"github": "sent", "slack": "sending"}
    soon = rollout(["guard", "--once"], live, {**env, **at(NOW + DELIVERY_LEASE / 2)})
    assert soon.returncode == 0, soon.stdout + soon.stderr
    assert not slack.messages and len(pd.events) == 1     # the claim still stands; PD was owed
    later = rollout(["guard", "--once"], live, {**env, **at(AFTER_LEASE)})
    assert later.returncode == 0, later.stdout + later.stderr
    assert len(slack.messages) == 1 and "(repeat)" in slack.messages[0]["text"]
    assert len(gh.open_pulls()) == 1 and len(pd.events) == 1
    assert set(deliveries(db).values()) == {"sent"}


class DroppingStore(FakeGitHub):
    """GitHub that, at its first request, has PostgreSQL terminate the controller's
    sessions: the store fails in the middle of the abort's notifications."""

    def __init__(self, cluster, dbname, **kw):
        super().__init__(**kw)
        self.cluster, self.dbname, self.dropped = cluster, dbname, False

    def handle(self, req):
        if not self.dropped:
            self.dropped = True
            self.cluster._admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = %s AND application_name = 'rollout'",
                                (self.dbname,))
        return super().handle(req)


def test_after_a_store_failure_mid_abort_running_abort_again_sends_what_is_owed(repo):
    cluster = pg.cluster()
    url = cluster.create_database()
    try:
        make_live(repo, ["--store", url])
        state = (repo / "rollout/flags/skills_rollout.yaml").read_text()
        with FakeSlack() as slack, FakePagerDuty() as pd, \
                DroppingStore(cluster, url.rsplit("/", 1)[1],
                              files={"rollout/flags/skills_rollout.yaml": state}) as gh:
            env = {"SLACK_WEBHOOK_URL": slack.url, "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
                   "PAGERDUTY_EVENTS_URL": pd.url, "GITHUB_TOKEN": gh.token,
                   "GITHUB_REPOSITORY": gh.repository, "GITHUB_API_URL": gh.url}
            args = ["abort", FLAG, "--reason", "SEV1", "--severity", "SEV1", "--store", url]
            r = rollout(args, repo, {**env, **at(NOW)})
            assert r.returncode == 4 and "Traceback" not in r.stderr, r.stdout + r.stderr
            assert pg.PASSWORD not in r.stderr
            assert cluster.execute(url, "SELECT percentage FROM feature_flags") == [(0,)]
            assert len(gh.open_pulls()) == 1 and not slack.messages and not pd.events
            again = rollout(args, repo, {**env, **at(AFTER_LEASE)})
            assert again.returncode == 0 and "already at 0%" in again.stdout, \
                again.stdout + again.stderr
            assert len(gh.open_pulls()) == 1                 # found, not opened twice
            assert len(slack.messages) == 1 and [e["event_action"] for e in pd.events] == ["trigger"]
            assert {s for (s,) in cluster.execute(url, "SELECT status FROM rollout_deliveries")} \
                == {"sent"}
            kinds = [k for (k,) in cluster.execute(url, "SELECT kind FROM rollout_history")]
            assert kinds.count("aborted") == 1
    finally:
        cluster.drop_database(url)

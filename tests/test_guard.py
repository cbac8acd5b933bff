"""The guard end to end: real `rollout` subprocesses, a real SQLite store, and fake Slack,
PagerDuty and GitHub servers on 127.0.0.1 that answer as those services document."""
import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from dataclasses import replace

from rollout.drill import CANARY, CONTROL, FAULTY, generate_events
from tests.cli import make_repo, rollout, set_percentage
from tests.fakes.newrelic import API_KEY, FakeNerdGraph
from tests.receivers import receivers

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(hours=80)


def at(t):
    return {"ROLLOUT_NOW": t.isoformat()}


@pytest.fixture
def live(tmp_path):
    """A repository whose flag has been at 5 % for 80 h, with an hour of fresh traffic."""
    repo = make_repo(tmp_path)
    assert rollout(["reconcile"], repo, at(T0)).returncode == 0
    set_percentage(repo, 5)
    assert rollout(["reconcile"], repo, at(T0)).returncode == 0
    return repo


def write_traffic(repo, canary_behaviour, start=NOW - timedelta(hours=1), n=4000, seed=1, pct=5):
    events = generate_events(np.random.default_rng(seed), start, timedelta(hours=1), n, pct,
                             lambda c: canary_behaviour if c else CONTROL)
    path = repo / f"events-{seed}.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    r = rollout(["events", "import", str(path)], repo)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def fakes(live):
    with receivers(live, NOW) as found:
        yield found


def history(repo):
    return json.loads(rollout(["history", "skills_rollout", "-o", "json"], repo).stdout)


def test_healthy_canary_is_left_alone(live, fakes):
    slack, pd, gh, env = fakes
    write_traffic(live, CANARY)
    r = rollout(["guard", "--once", "-o", "json"], live, env)
    assert r.returncode == 0, r.stdout + r.stderr
    # healthy, or at most held by a minor (not rollback-sized) regression of sampling noise
    assert json.loads(r.stdout)[0]["action"] in ("healthy", "held"), r.stdout
    db = sqlite3.connect(live / ".rollout/flags.db")
    assert db.execute("SELECT percentage FROM feature_flags").fetchone() == (5,)
    assert not slack.requests and not pd.requests and not gh.requests


def test_breach_rolls_back_records_abort_and_proposes_the_revert(live, fakes):
    slack, pd, gh, env = fakes
    write_traffic(live, FAULTY["error-rate"])
    r = rollout(["guard", "--once", "-o", "json"], live, env)
    assert r.returncode == 3, r.stdout + r.stderr
    out = json.loads(r.stdout)[0]
    assert out["action"] == "rolled_back" and out["severity"] == "SEV1"
    assert out["code"] == "THRESHOLD_CROSSED" and "THRESHOLD_CROSSED" in out["codes"]
    assert any(reason.startswith("Skill error rate: evidence beyond the rollback line > 5")
               for reason in out["reasons"])
    db = sqlite3.connect(live / ".rollout/flags.db")
    assert db.execute("SELECT percentage, enabled FROM feature_flags").fetchone() == (0, 0)
    aborted = [h for h in history(live) if h["kind"] == "aborted"]
    assert len(aborted) == 1 and (aborted[0]["from"], aborted[0]["to"]) == (5, 0)
    # git: one pull request setting the state file to 0 %, with the evidence table
    pulls = gh.open_pulls()
    assert len(pulls) == 1
    branch = pulls[0]["head"]["ref"]
    assert "percentage: 0\n" in gh.file("rollout/flags/skills_rollout.yaml", branch)
    assert "| Metric |" in pulls[0]["body"] or "|" in pulls[0]["body"]
    # people: Slack with the PR link, PagerDuty paged for SEV1
    assert len(slack.messages) == 1 and pulls[0]["html_url"] in json.dumps(slack.messages[0])
    assert [e["event_action"] for e in pd.events] == ["trigger"]
    assert pd.events[0]["payload"]["severity"] == "critical"

    # the reconciler honours the abort: the committed 5 % is not re-applied
    rec = rollout(["reconcile"], live, env)
    assert rec.returncode == 1 and "was aborted" in rec.stdout
    # a second guard run neither rolls back again nor opens a second pull request
    again = rollout(["guard", "--once"], live, env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(gh.open_pulls()) == 1 and len(slack.messages) == 1 and len(pd.events) == 1

    # retry clears the abort; the page is resolved; reconcile climbs again from 0 to 5 %
    assert rollout(["retry", "skills_rollout", "--reason", "fixed the prompt"], live,
                   env).returncode == 0
    assert rollout(["guard", "--once"], live, env).returncode == 0
    assert [e["event_action"] for e in pd.events] == ["trigger", "resolve"]
    res = rollout(["reconcile"], live, env)
    assert res.returncode == 0 and "climbing the ladder again" in res.stdout
    assert "0% → 5%" in res.stdout


def test_the_hold_band_alerts_slack_once_and_never_rolls_back(live, fakes):
    """003: error rate 2-5 % "hold and investigate"; 002's +1 point over control alerts.
    A SEV3 to Slack once per (flag, step, reason code); no page, no revert, no rollback."""
    slack, pd, gh, env = fakes
    # half the traffic in the canary cohort: enough evidence within the hour
    write_traffic(live, replace(CANARY, error_rate=0.04), n=6000, pct=50)
    r = rollout(["guard", "--once", "-o", "json"], live, env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)[0]
    assert out["action"] == "held" and out["severity"] == "SEV3" and out["code"] == "HOLD_BAND"
    assert {"HOLD_BAND", "REGRESSION_VS_CONTROL"} <= set(out["codes"])
    assert set(out["deliveries"]) == {"slack (SEV3 HOLD_BAND)", "slack (SEV3 REGRESSION_VS_CONTROL)"}
    db = sqlite3.connect(live / ".rollout/flags.db")
    assert db.execute("SELECT percentage FROM feature_flags").fetchone() == (5,)
    assert len(slack.messages) == 2 and not pd.requests and not gh.requests
    assert all(m["text"].startswith("SEV3 hold and investigate alert of skills_rollout: 5% → 5%")
               for m in slack.messages)
    assert [h["kind"] for h in history(live)].count("alerted") == 2
    # the next look finds the same codes: nothing sent twice, nothing rolled back
    again = json.loads(rollout(["guard", "--once", "-o", "json"], live, env).stdout)[0]
    assert again["action"] == "held" and again["deliveries"] == {}
    assert len(slack.messages) == 2 and [h["kind"] for h in history(live)].count("alerted") == 2


def test_a_failing_notifier_never_blocks_the_rollback(live, fakes):
    slack, pd, gh, env = fakes
    slack.fail_next(500, times=2)       # both attempts of this run fail
    write_traffic(live, FAULTY["error-rate"])
    r = rollout(["guard", "--once"], live, {**env, "ROLLOUT_HTTP_ATTEMPTS": "2"})
    assert r.returncode == 3
    assert "slack: FAILED, will retry" in r.stderr
    db = sqlite3.connect(live / ".rollout/flags.db")
    assert db.execute("SELECT percentage FROM feature_flags").fetchone() == (0,)
    assert len(gh.open_pulls()) == 1 and len(pd.events) == 1
    retry = rollout(["guard", "--once"], live, env)
    assert len(slack.messages) == 1, retry.stdout + retry.stderr
    assert len(gh.open_pulls()) == 1 and len(pd.events) == 1


def test_two_guards_at_once_roll_back_once(live, fakes):
    slack, pd, gh, env = fakes
    write_traffic(live, FAULTY["error-rate"])
    import os
    procs = [subprocess.Popen([sys.executable, "-m", "rollout", "guard", "--once", "-o", "json"],
                              cwd=live, env={**os.environ, **env}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(60), json.loads(p.stdout.read())[0]["action"]) for p in procs]
    assert sorted(a for _, a in results) in (["lost_race", "rolled_back"],
                                             ["rolled_back", "skipped"])
    assert len([h for h in history(live) if h["kind"] == "aborted"]) == 1
    assert len(gh.open_pulls()) == 1 and len(slack.messages) == 1 and len(pd.events) == 1


def test_metric_source_down_holds_and_never_rolls_back(live, fakes):
    """Held, never rolled back, and never green: a guard that cannot see exits 4."""
    slack, pd, gh, env = fakes
    r = rollout(["guard", "--once", "--metrics", "newrelic://1?region=us", "-o", "json"], live,
                {**env, "NEW_RELIC_API_KEY": "NRAK-X", "NEW_RELIC_API_URL": "http://127.0.0.1:9/graphql",
                 "ROLLOUT_HTTP_ATTEMPTS": "1"})
    assert r.returncode == 4, r.stdout + r.stderr
    out = json.loads(r.stdout)[0]
    assert out["action"] == "held" and any("metric source failed" in x for x in out["reasons"])
    assert out["blind"] and "NOT JUDGED" in r.stderr
    db = sqlite3.connect(live / ".rollout/flags.db")
    assert db.execute("SELECT percentage FROM feature_flags").fetchone() == (5,)


def test_memory_above_95_rolls_back_through_new_relic(live, fakes):
    """002 automatic rollback trigger "Memory usage > 95 %": a service-wide signal, read in
    the same NerdGraph request as the cohort metrics, rolls the flag back by itself."""
    slack, pd, gh, env = fakes
    traffic = generate_events(np.random.default_rng(3), NOW - timedelta(hours=1),
                              timedelta(hours=1), 4000, 5, lambda c: CANARY if c else CONTROL)
    with FakeNerdGraph(traffic) as nr:
        nr.service["SystemSample"]["memoryUsedPercent"] = 96.5
        r = rollout(["guard", "--once", "--metrics", f"newrelic://{nr.account_id}", "-o", "json"],
                    live, {**env, "NEW_RELIC_API_KEY": API_KEY, "NEW_RELIC_API_URL": nr.url})
        assert r.returncode == 3, r.stdout + r.stderr
        assert len(nr.requests) == 1 and "s_memory_usage" in nr.queries[0]
    out = json.loads(r.stdout)[0]
    assert out["action"] == "rolled_back" and out["severity"] == "SEV2"   # Memory Usage Critical
    assert any(x.startswith("Memory usage (ai-service) 96.50 % meets the rollback criterion > 95")
               for x in out["reasons"]), out["reasons"]
    db = sqlite3.connect(live / ".rollout/flags.db")
    assert db.execute("SELECT percentage FROM feature_flags").fetchone() == (0,)
    aborted = [h for h in history(live) if h["kind"] == "aborted"]
    assert len(aborted) == 1 and (aborted[0]["from"], aborted[0]["to"]) == (5, 0)
    assert len(gh.open_pulls()) == 1 and [e["event_action"] for e in pd.events] == ["trigger"]


def test_manual_abort(live, fakes):
    slack, pd, gh, env = fakes
    r = rollout(["abort", "skills_rollout", "--reason", "data corruption suspected",
                 "--severity", "SEV1"], live, env)
    assert r.returncode == 3, r.stdout + r.stderr
    h = history(live)[-1]
    assert h["kind"] == "aborted" and "data corruption suspected" in h["reasons"][0]
    assert len(gh.open_pulls()) == 1 and len(pd.events) == 1
    assert rollout(["abort", "skills_rollout", "--reason", "again"], live, env).returncode == 0


def test_store_down_during_rollback_fails_loudly(live, fakes, tmp_path):
    slack, pd, gh, env = fakes
    bad = tmp_path / "not-a-db"
    bad.write_text("this is not sqlite")
    r = rollout(["guard", "--once", "--store", f"sqlite:///{bad}"], live, env)
    assert r.returncode == 4 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not gh.requests and not slack.requests and not pd.requests


@pytest.mark.parametrize("channel", ["github", "pagerduty"])
def test_github_or_pagerduty_5xx_never_blocks_the_rollback(live, fakes, channel):
    slack, pd, gh, env = fakes
    failing = {"github": gh, "pagerduty": pd}[channel]
    failing.fail_next(502, times=2)          # both attempts of this run fail
    write_traffic(live, FAULTY["error-rate"])
    r = rollout(["guard", "--once"], live, {**env, "ROLLOUT_HTTP_ATTEMPTS": "2"})
    assert r.returncode == 3 and f"{channel}: FAILED, will retry" in r.stderr
    db = sqlite3.connect(live / ".rollout/flags.db")
    assert db.execute("SELECT percentage FROM feature_flags").fetchone() == (0,)
    assert len(slack.messages) == 1               # the others still went out
    retry = rollout(["guard", "--once"], live, env)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert len(gh.open_pulls()) == 1 and [e["event_action"] for e in pd.events] == ["trigger"]
    assert len(slack.messages) == 1               # not sent twice


def test_interval_mode_evaluates_repeatedly(live, fakes):
    slack, pd, gh, env = fakes
    write_traffic(live, CANARY)
    r = rollout(["guard", "--interval", "0.2", "--count", "3", "-o", "json"], live, env)
    assert r.returncode == 0, r.stderr
    runs = [json.loads(chunk) for chunk in r.stdout.replace("]\n[", "]\x00[").split("\x00")]
    assert len(runs) == 3 and all(run[0]["flag"] == "skills_rollout" for run in runs)
    bad = rollout(["guard", "--interval", "0"], live, env)
    assert bad.returncode == 2 and "expected a number > 0" in bad.stderr

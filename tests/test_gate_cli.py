"""`rollout events import` and `rollout gate` end to end: a git repository, a SQLite store,
events in its file, and a NerdGraph on 127.0.0.1."""
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.cli import make_repo, rollout, set_percentage
from tests.events import CONTROL, Profile, events, write_ndjson
from tests.fakes.newrelic import API_KEY, FakeNerdGraph

AT = "2026-11-20T09:00Z"          # T0 + 1 h: the window 08:00-09:00 holds the events


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path)


@pytest.fixture
def canary(repo):
    """skills_rollout applied at 5 % on 2026-11-17 01:00, so 80 h of soak at AT."""
    env = {"ROLLOUT_NOW": "2026-11-17T01:00:00Z"}
    assert rollout(["reconcile"], repo, env).returncode == 0
    set_percentage(repo, 5)
    r = rollout(["reconcile"], repo, env)
    assert r.returncode == 0, r.stderr
    return repo


def load(repo, rows, name="events.ndjson"):
    r = rollout(["events", "import", str(write_ndjson(repo / name, rows))], repo)
    assert r.returncode == 0, r.stderr
    return r


# enough requests in the step for the evidence to show every target met
HEALTHY = events(3000, "canary") + events(3000, "control", CONTROL)


def test_import_reports_and_is_idempotent(repo):
    assert "imported 6000 new events" in load(repo, HEALTHY).stdout
    assert "imported 0 new events" in load(repo, HEALTHY).stdout


def test_bad_file_exit_2_with_line_numbers(repo):
    (repo / "bad.ndjson").write_text(json.dumps(HEALTHY[0]) + "\n{\"cohort\": \"canary\"}\n")
    r = rollout(["events", "import", "bad.ndjson"], repo)
    assert r.returncode == 2 and "bad.ndjson:2: missing field timestamp" in r.stderr
    assert "1 bad line, nothing imported" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("canary_profile,control_profile,code,verdict,reason", [
    (Profile(), CONTROL, 0, "proceed", "TARGET_MET"),
    # 3.5 % errors in both cohorts: in the 2-5 % hold band, and no worse than control
    (Profile(error_rate=0.035), replace(CONTROL, error_rate=0.035), 1, "hold", "HOLD_BAND"),
    # +2.5 points over control: the canary monitor's regression holds and alerts, never rolls back
    (Profile(error_rate=0.035), CONTROL, 1, "hold", "HOLD_BAND"),
    # 8 % errors: beyond the playbook's 5 % on evidence
    (Profile(error_rate=0.08), CONTROL, 3, "rollback", "THRESHOLD_CROSSED"),
], ids=["proceed", "hold", "regression", "rollback"])
def test_gate_exit_codes(canary, canary_profile, control_profile, code, verdict, reason):
    load(canary, events(3000, "canary", canary_profile) + events(3000, "control", control_profile))
    r = rollout(["gate", "skills_rollout", "--at", AT, "--output", "json"], canary)
    assert r.returncode == code, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["verdict"] == verdict and out["code"] == reason and out["flag"] == "skills_rollout"
    assert out["step"] == "canary" and out["next_step"] == "beta"
    assert out["checks"][0]["name"] == "soak" and out["checks"][0]["verdict"] == "pass"
    for c in out["checks"]:
        assert {"name", "verdict", "canary", "control", "threshold", "reason"} <= set(c)


def test_gate_holds_on_soak_and_on_no_data(canary):
    r = rollout(["gate", "skills_rollout", "--at", "2026-11-19T09:00Z"], canary)
    assert r.returncode == 1
    assert "16h remaining" in r.stdout and "no canary requests in the step yet" in r.stdout


def test_window_and_at(canary):
    load(canary, events(3000, "canary", span=timedelta(hours=2)) +
         events(3000, "control", CONTROL, span=timedelta(hours=2)))
    one = json.loads(rollout(["gate", "skills_rollout", "--at", AT, "--window", "1h", "-o", "json"],
                             canary).stdout)
    two = json.loads(rollout(["gate", "skills_rollout", "--at", "2026-11-20T10:00Z", "--window", "2h",
                              "-o", "json"], canary).stdout)
    assert one["window"] == {"start": "2026-11-20T08:00:00+00:00", "end": "2026-11-20T09:00:00+00:00"}
    assert two["window"]["start"] == "2026-11-20T08:00:00+00:00"
    assert one["verdict"] == two["verdict"] == "proceed"
    default = json.loads(rollout(["gate", "skills_rollout", "--at", AT, "-o", "json"], canary).stdout)
    assert default["window"]["start"] == "2026-11-17T01:00:00+00:00"    # the step, like reconcile


def test_markdown_and_step_summary(canary, tmp_path):
    load(canary, HEALTHY)
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    r = rollout(["gate", "skills_rollout", "--at", AT, "--output", "markdown"], canary,
                {"GITHUB_STEP_SUMMARY": str(summary)})
    assert r.returncode == 0
    assert "| Metric | Canary | Control | Δ | Target | Threshold | Verdict |" in r.stdout
    assert "**PROCEED**" in r.stdout and "**Reasons**" in r.stdout
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and r.stdout.strip() in text


def test_gate_at_off_needs_no_metrics(repo):
    r = rollout(["gate", "skills_rollout", "--metrics", "newrelic://1"], repo,
                {"NEW_RELIC_API_KEY": ""})
    assert r.returncode == 0 and "PROCEED" in r.stdout


def test_gate_over_new_relic(canary):
    with FakeNerdGraph(HEALTHY) as fake:
        env = {"NEW_RELIC_API_KEY": API_KEY, "NEW_RELIC_API_URL": fake.url}
        r = rollout(["gate", "skills_rollout", "--metrics", f"newrelic://{fake.account_id}",
                     "--at", AT, "-o", "json"], canary, env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads(r.stdout)["verdict"] == "proceed" and len(fake.requests) == 1
        fake.fail_next(503, times=10)
        failed = rollout(["gate", "skills_rollout", "--metrics", f"newrelic://{fake.account_id}",
                          "--at", AT, "-o", "json"], canary, env)
    assert failed.returncode == 4
    checks = json.loads(failed.stdout)["checks"]
    assert checks[0]["verdict"] == "pass" and {c["verdict"] for c in checks[1:]} == {"error"}


@pytest.mark.parametrize("args,message", [
    (["gate", "nope"], "flag 'nope': no file"),
    (["gate", "skills_rollout", "--window", "an hour"], "--window"),
    (["gate", "skills_rollout", "--at", "noon"], "--at: time 'noon'"),
    (["gate", "skills_rollout", "--metrics", "prometheus://x"], None),
    (["events", "import", "missing.ndjson"], "missing.ndjson: no such file"),
])
def test_bad_input_exit_2(canary, args, message):
    r = rollout(args, canary)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    if message:
        assert message in r.stderr


@pytest.mark.parametrize("change,message", [
    (lambda d: d["judge"].update(method="bayes"), "field judge.method: 'bayes' is not one of"),
    (lambda d: d["judge"].update(false_rollback_budget=-0.01),
     "field judge.false_rollback_budget: -0.01 is less than or equal to the minimum of 0"),
    (lambda d: d["judge"].update(recent_hours=30, bucket_minutes=1), "more than the 366 buckets"),
    (lambda d: d["metrics"]["skill_error_rate"]["cusum"][0].update(in_control=7),
     "field metrics.skill_error_rate.cusum.0: in_control 7 must be on the healthy side"),
    (lambda d: d["metrics"]["cache_hit_rate"].update(cusum=[{"line": "rollback", "in_control": 50, "h": 5}]),
     "field metrics.cache_hit_rate.cusum.0: line: rollback names a threshold the metric does not have"),
], ids=["method", "budget", "buckets", "in_control", "line"])
def test_bad_judge_settings_exit_2(canary, tmp_path, change, message):
    """A catalog with an unknown method, a negative budget...: one line, exit 2, nothing judged."""
    import yaml

    from rollout.core.catalog import DEFAULT_PATH

    data = yaml.safe_load(DEFAULT_PATH.read_text())
    change(data)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    r = rollout(["gate", "skills_rollout"], canary, {"ROLLOUT_CATALOG": str(path)})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
    assert str(path) in r.stderr

"""`rollout baseline capture`: the control metrics of the 7 days before the rollout, from
New Relic (one NerdGraph request, on 127.0.0.1) or the embedded events, recorded as
`baseline` evidence; and the pure comparison of a value with it."""
import json
from datetime import timedelta

import pytest

from rollout.adapters.store import open_store
from rollout.core.baseline import (CONTROL, EVERYONE, FAIL, PASS, Everyone, baseline_evidence,
                                   baseline_metrics, compare_to_baseline)
from rollout.core.catalog import load_catalog
from rollout.core.observations import CohortData, Observations
from tests.cli import make_repo, rollout
from tests.events import CONTROL as CONTROL_PROFILE
from tests.events import T0, Profile, events, write_ndjson
from tests.fakes.newrelic import API_KEY, FakeNerdGraph

CATALOG = load_catalog()
AT = T0 + timedelta(days=7)
WEEK = dict(start=T0, span=timedelta(days=7))


def obs(canary=0, control=500, values=None, errors=None):
    cohorts = {"canary": CohortData(canary, {}), "control": CohortData(control, values or {})}
    return Observations(T0, AT, cohorts, errors or {})


def test_the_baseline_holds_the_per_request_metrics():
    names = [m.name for m in baseline_metrics(CATALOG)]
    assert {"skill_error_rate", "p95_response_time", "avg_response_time",
            "cost_per_request", "cache_hit_rate"} <= set(names)
    # derived, service-level, hourly and the cohort share have no pre-rollout meaning
    assert not {"cost_savings", "service_health", "memory_usage", "hourly_ai_cost",
                "canary_share"} & set(names)


EVIDENCE = [
    # id, observations, everyone, verdict, population, requests, fragment of a problem
    ("no canary: everyone counts", obs(control=400, values={"skill_error_rate": 9.0}),
     Everyone(700, {"skill_error_rate": 0.5}, {}), PASS, EVERYONE, 700, None),
    ("canary in the window: control only", obs(canary=30, control=400,
                                               values={"skill_error_rate": 0.7}),
     Everyone(700, {"skill_error_rate": 0.5}, {}), PASS, CONTROL, 400, None),
    ("a source without 'everyone' (embedded events): control", obs(control=400), None, PASS,
     CONTROL, 400, None),
    ("too few requests", obs(control=40), Everyone(60, {}, {}), FAIL, EVERYONE, 60,
     "60 requests in 7 days, fewer than the catalog's min_requests 100"),
    ("a metric the source failed", obs(control=400), Everyone(700, {}, {"p95_response_time": "TIMEOUT"}),
     FAIL, EVERYONE, 700, "p95_response_time: the source failed: TIMEOUT"),
]


@pytest.mark.parametrize("name, o, everyone, verdict, population, requests, problem", EVIDENCE,
                         ids=[e[0] for e in EVIDENCE])
def test_evidence(name, o, everyone, verdict, population, requests, problem):
    ev = baseline_evidence(CATALOG, o, everyone, days=7, source="newrelic://1")
    assert (ev["verdict"], ev["population"], ev["requests"]) == (verdict, population, requests)
    assert ev["requests_per_day"] == round(requests / 7, 1)
    assert set(ev["values"]) == {m.name for m in baseline_metrics(CATALOG)}
    if problem:
        assert any(problem in p for p in ev["problems"]), ev["problems"]
    else:
        assert ev["problems"] == []
    json.dumps(ev)          # it goes into the history as JSON


COMPARE = [
    # metric, value, baseline, delta, worse
    ("skill_error_rate", 0.8, 0.5, 0.3, True),         # higher is worse
    ("skill_error_rate", 0.4, 0.5, -0.1, False),
    ("skills_api_success", 97.0, 99.0, -2.0, True),    # lower is worse
    ("p95_response_time", 3000.0, 3000.0, 0.0, None),
    ("p95_response_time", None, 3000.0, None, None),   # no value now
    ("p95_response_time", 3000.0, None, None, None),   # the baseline had none
]


@pytest.mark.parametrize("metric, value, base, delta, worse", COMPARE)
def test_compare_to_baseline(metric, value, base, delta, worse):
    c = compare_to_baseline({"values": {metric: base}}, CATALOG.metrics[metric], value)
    assert (c.baseline, c.worse) == (base, worse)
    assert c.delta == pytest.approx(delta) if delta is not None else c.delta is None


def test_compare_names_nothing_the_baseline_does_not_hold():
    assert compare_to_baseline({"values": {}}, CATALOG.metrics["cost_savings"], 40.0) is None
    c = compare_to_baseline({"values": {"p95_response_time": 2875.0}},
                            CATALOG.metrics["p95_response_time"], 3172.0)
    assert c.text() == "2,875 ms, +297 ms"


def capture(repo, *args, env=None):
    return rollout(["baseline", "capture", "skills_rollout", "--store",
                    f"sqlite:///{repo}/flags.db", "--at", AT.isoformat(), *args], repo,
                   {"ROLLOUT_NOW": AT.isoformat(), **(env or {})})


def rows(repo):
    with open_store(f"sqlite:///{repo}/flags.db") as s:
        return s.history("skills_rollout")


def test_capture_from_new_relic_is_one_request_and_counts_events_without_a_cohort(tmp_path):
    repo = make_repo(tmp_path)
    control = events(600, "control", CONTROL_PROFILE, **WEEK)
    bare = [{k: v for k, v in e.items() if k != "cohort"} for e in events(300, "control",
                                                                             Profile(error_rate=0.1), **WEEK, seed=2)]
    with FakeNerdGraph(control + bare) as fake:
        r = capture(repo, "--metrics", "newrelic://1234567", "--output", "json",
                    env={"NEW_RELIC_API_KEY": API_KEY, "NEW_RELIC_API_URL": fake.url})
        assert r.returncode == 0, r.stderr
        assert len(fake.requests) == 1          # every query in ONE NerdGraph request
        sent = fake.queries[0]
    assert "e_requests" in sent and " FACET " not in sent["e_skill_error_rate"]
    (row,) = rows(repo)
    ev = row.evidence
    assert row.kind == "baseline" and ev["verdict"] == PASS and ev["days"] == 7
    assert (ev["population"], ev["requests"]) == (EVERYONE, 900)
    assert ev["cohorts"] == {"canary": 0, "control": 600, "without_cohort": 300}
    failed = sum(1 for e in control + bare if not e["success"])
    assert ev["values"]["skill_error_rate"] == pytest.approx(100 * failed / 900)
    assert ev["source"] == "newrelic://1234567"
    assert ev["window"] == {"start": T0.isoformat(), "end": AT.isoformat()}
    assert API_KEY not in r.stdout + r.stderr + json.dumps(row.to_json())


def test_capture_while_the_flag_was_live_is_the_control_cohort(tmp_path):
    repo = make_repo(tmp_path)
    data = events(600, "control", CONTROL_PROFILE, **WEEK) + events(50, "canary", **WEEK)
    with FakeNerdGraph(data) as fake:
        r = capture(repo, "--metrics", "newrelic://1234567",
                    env={"NEW_RELIC_API_KEY": API_KEY, "NEW_RELIC_API_URL": fake.url})
    assert r.returncode == 0, r.stderr
    (row,) = rows(repo)
    assert (row.evidence["population"], row.evidence["requests"]) == (CONTROL, 600)
    assert "50 canary requests" in r.stdout


def test_capture_from_the_embedded_events(tmp_path):
    repo = make_repo(tmp_path)
    data = events(500, "control", CONTROL_PROFILE, **WEEK)
    write_ndjson(tmp_path / "e.ndjson", data)
    events_db = f"sqlite:///{tmp_path}/events.db"
    assert rollout(["events", "import", str(tmp_path / "e.ndjson"), "--store", events_db],
                   repo).returncode == 0
    r = capture(repo, "--metrics", events_db)
    assert r.returncode == 0, r.stderr
    (row,) = rows(repo)
    costs = [e["cost"] for e in data]
    assert row.evidence["values"]["cost_per_request"] == pytest.approx(sum(costs) / len(costs))
    assert "Cost per request" in r.stdout and "$0.0" in r.stdout


def test_too_few_requests_is_recorded_as_failed_exit_1(tmp_path):
    repo = make_repo(tmp_path)
    with FakeNerdGraph(events(20, "control", **WEEK)) as fake:
        r = capture(repo, "--metrics", "newrelic://1234567",
                    env={"NEW_RELIC_API_KEY": API_KEY, "NEW_RELIC_API_URL": fake.url})
    assert r.returncode == 1
    assert "fewer than the catalog's min_requests" in r.stdout
    (row,) = rows(repo)
    assert row.evidence["verdict"] == FAIL


def test_a_refused_key_records_nothing_exit_4(tmp_path):
    repo = make_repo(tmp_path)
    with FakeNerdGraph([]) as fake:
        r = capture(repo, "--metrics", "newrelic://1234567",
                    env={"NEW_RELIC_API_KEY": "NRAK-WRONG", "NEW_RELIC_API_URL": fake.url})
    assert r.returncode == 4 and len(r.stderr.strip().splitlines()) == 1
    assert "NRAK-WRONG" not in r.stderr
    assert rows(repo) == []


@pytest.mark.parametrize("args, message", [
    (["--days", "0"], "--days 0: expected a whole number of days from 1 to 90"),
    (["--at", "2030-01-01T00:00Z"], "in the future"),
    (["--metrics", "ftp://x"], "unknown scheme"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    repo = make_repo(tmp_path)
    r = capture(repo, *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# -- the daily report beside the pre-rollout baseline ------------------------------------------

from tests.report_rehearsal import D as DAY, T0 as ROLLOUT  # noqa: E402


def test_the_daily_report_shows_the_pre_rollout_baseline_beside_control(tmp_path, rehearsal):
    import shutil

    repo = make_repo(tmp_path)
    shutil.copy(rehearsal["path"], repo / "flags.db")
    store = ["--store", "sqlite:///flags.db"]
    at = (ROLLOUT + 2 * DAY + timedelta(hours=9)).isoformat()
    before = rollout(["report", "daily", "skills_rollout", *store, "--at", at], repo)
    assert before.returncode == 0 and "pre-rollout" not in before.stdout.lower()
    # the rehearsal's events start a day before the first step: all control
    cap = rollout(["baseline", "capture", "skills_rollout", "--days", "1", *store,
                   "--at", ROLLOUT.isoformat()], repo, {"ROLLOUT_NOW": ROLLOUT.isoformat()})
    assert cap.returncode == 0, cap.stderr
    pre = [r for r in rehearsal["rows"] if ROLLOUT - DAY <= r["at"] < ROLLOUT]
    base_error = 100 * sum(not r["success"] for r in pre) / len(pre)

    r = rollout(["report", "daily", "skills_rollout", *store, "--at", at, "--output", "json"], repo)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    row = got["pre_rollout"]["skill_error_rate"]
    assert row["baseline"] == pytest.approx(base_error)
    canary = {l["key"]: l for l in got["summary"]}["error_rate"]["value"]
    assert row["delta"] == pytest.approx(canary - base_error)
    assert "pre-rollout baseline: 1 day to 2026-11-02 09:00 UTC (control" in got["baseline_source"]

    md = rollout(["report", "daily", "skills_rollout", *store, "--at", at], repo).stdout
    assert "| Metric | Canary | Baseline | Pre-rollout baseline | Target | Status |" in md
    line = next(l for l in md.splitlines() if l.startswith("- Error rate:"))
    assert "(baseline: " in line and "; pre-rollout baseline: " in line and " pts)" in line

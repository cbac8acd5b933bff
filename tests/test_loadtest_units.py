"""The load test's pure parts, as tables: the budget judgement, finding evidence in the
history, profiles (the seed's and files), the scenario order, secrets in the target."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from itertools import islice

import pytest

from rollout.core.catalog import Condition, load_catalog
from rollout.core.evidence import latest_evidence
from rollout.core.perfbudget import judge
from rollout.core.state import APPLIED, HELD, LOADTEST, Event
from rollout.errors import UserError
from rollout.loadtest.profiles import PROFILES, SEED, profile_from_data
from rollout.loadtest.scenarios import SCENARIOS, weighted_order
from rollout.loadtest.target import check_target, public_url, redactor

BUDGET = load_catalog().performance_budget


def figures(requests=1000, failures=0, p50=800, p95=3000, p99=6000):
    ok = requests - failures
    return {"requests": requests, "failures": failures, "p50_ms": p50, "p95_ms": p95,
            "p99_ms": p99, "error_rate": failures / requests * 100 if requests else None,
            "success_rate": ok / requests * 100 if requests else None}


# ---------------------------------------------------------------- the budget

def test_the_catalog_holds_the_seeds_budget():
    assert {k: str(v) for k, v in BUDGET.items()} == {
        "p95_ms": "< 5000", "p99_ms": "< 10000", "error_rate": "< 2", "success_rate": "> 98"}


JUDGED = [
    # (case, overall figures, one scenario's figures, missed (scope, figure) pairs)
    ("healthy", figures(), figures(), set()),
    ("p95 just under", figures(p95=4999), figures(p95=4999), set()),
    ("p95 at the limit", figures(p95=5000), figures(), {("overall", "p95_ms")}),
    ("p95 6 s", figures(p95=6000), figures(p95=6000),
     {("overall", "p95_ms"), ("compliance_check", "p95_ms")}),
    ("p99 at 10 s", figures(p99=10000), figures(), {("overall", "p99_ms")}),
    ("one slow scenario", figures(), figures(p95=7000, p99=12000),
     {("compliance_check", "p95_ms"), ("compliance_check", "p99_ms")}),
    ("errors 1.9 %", figures(failures=19), figures(), set()),
    ("errors 2 %", figures(failures=20), figures(),
     {("overall", "error_rate"), ("overall", "success_rate")}),
    ("errors 3 %", figures(failures=30), figures(failures=30),
     {(s, f) for s in ("overall", "compliance_check") for f in ("error_rate", "success_rate")}),
    ("a scenario never ran", figures(), figures(requests=0),
     {("compliance_check", f) for f in BUDGET}),
    ("a figure missing", figures(), {**figures(), "p99_ms": None},
     {("compliance_check", "p99_ms")}),
]


@pytest.mark.parametrize("case,overall,scenario,expected", JUDGED, ids=[j[0] for j in JUDGED])
def test_judge(case, overall, scenario, expected):
    verdict = judge(BUDGET, overall, {"contract_analysis": figures(), "compliance_check": scenario})
    assert {(c.scope, c.figure) for c in verdict.missed} == expected
    assert verdict.passed == (not expected)
    assert verdict.verdict == ("pass" if not expected else "fail")
    assert len(verdict.checks) == 3 * len(BUDGET)


def test_a_missed_check_reads_as_one_line():
    [check] = judge({"p95_ms": Condition.parse("< 5000")}, figures(p95=6100), {}).missed
    assert check.line() == "overall p95_ms 6,100 ms, budget < 5000: MISSED"
    [none] = judge({"p95_ms": Condition.parse("< 5000")}, figures(requests=0), {}).missed
    assert none.line() == "overall p95_ms —, budget < 5000: MISSED (no request completed)"


def test_an_empty_budget_proves_nothing_and_an_unknown_figure_is_refused():
    assert not judge({}, figures(), {}).passed
    with pytest.raises(ValueError, match="unknown figure 'p90_ms'"):
        judge({"p90_ms": Condition.parse("< 1")}, figures(), {})


# ---------------------------------------------------------------- evidence in the history

T = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)


def row(id, hours, kind=LOADTEST, flag="skills_rollout", **evidence):
    return Event(flag, T + timedelta(hours=hours), kind, None, None, evidence=evidence, id=id)


HISTORY = [
    row(1, 0, profile="seed", verdict="fail"),
    row(2, 1, kind=APPLIED),
    row(3, 2, profile="seed", verdict="pass"),
    row(4, 3, profile="smoke", verdict="pass"),
    row(5, 4, flag="other", profile="seed", verdict="pass"),
    row(6, 4, kind=HELD),
    row(7, 9, profile="seed", verdict="fail"),      # after "now" in most cases below
]

LATEST = [
    # (case, now (hours after T), where, flag, expected id)
    ("newest of the kind", 5, None, "skills_rollout", 4),
    ("filtered by profile", 5, {"profile": "seed"}, "skills_rollout", 3),
    ("a later failure is the newest", 10, {"profile": "seed"}, "skills_rollout", 7),
    ("the future is not evidence", 1.5, {"profile": "seed"}, "skills_rollout", 1),
    ("none yet", -1, None, "skills_rollout", None),
    ("no such profile", 5, {"profile": "spike-only"}, "skills_rollout", None),
    ("another flag's", 5, {"profile": "seed"}, "other", 5),
    ("any flag", 5, {"profile": "seed"}, None, 5),
]


@pytest.mark.parametrize("case,hours,where,flag,expected", LATEST, ids=[c[0] for c in LATEST])
def test_latest_evidence(case, hours, where, flag, expected):
    found = latest_evidence(HISTORY, LOADTEST, T + timedelta(hours=hours), flag=flag, where=where)
    assert (found.id if found else None) == expected


def test_two_rows_of_one_second_keep_their_order():
    a, b = row(1, 0, profile="seed", verdict="fail"), row(2, 0, profile="seed", verdict="pass")
    assert latest_evidence([b, a], LOADTEST, T).id == 2


def test_the_store_keeps_every_loadtest_row(store):
    """Two identical results are two runs: unlike held/refused, evidence is never folded."""
    event = row(None, 0, profile="seed", verdict="pass")
    assert store.record(event) and store.record(event)
    assert [e.kind for e in store.history("skills_rollout")] == [LOADTEST, LOADTEST]
    assert store.history("skills_rollout")[0].evidence == {"profile": "seed", "verdict": "pass"}


# ---------------------------------------------------------------- profiles

def test_the_seed_profile_is_the_seeds_phases():
    assert [(p.name, p.seconds, p.rate, p.ramp_to) for p in SEED.phases] == [
        ("warm-up", 60, 10, None), ("ramp-up", 300, 10, 100), ("sustained", 600, 100, None),
        ("spike", 60, 200, None), ("cool-down", 120, 10, None)]
    assert SEED.seconds == 1140
    assert SEED.requests == 600 + 16_500 + 60_000 + 12_000 + 1_200
    assert SEED.peak_rate == 200 and SEED.peak_users == 1000     # 200/s x 5 s pacing
    assert SEED.rate_at(60 + 150) == 55 and SEED.users_for(55) == 275
    assert SEED.at(1139)[1].name == "cool-down" and SEED.at(1140) is None
    assert set(PROFILES) == {"seed", "smoke"} and PROFILES["smoke"].seconds <= 30


BAD_PROFILES = [
    ([], "expected a mapping with phases"),
    ({"phases": []}, "field phases: expected a non-empty list"),
    ({"phases": [{"name": "a", "rate": 1}]}, "phases[0]: missing 'duration'"),
    ({"phases": [{"name": "a", "duration": "1 hour", "rate": 1}]}, "phases[0].duration: expected a duration"),
    ({"phases": [{"name": "a", "duration": "0s", "rate": 1}]}, "phases[0].duration: expected a positive number"),
    ({"phases": [{"name": "a", "duration": 5, "rate": "10"}]}, "phases[0].rate: expected a non-negative number"),
    ({"phases": [{"name": "a", "duration": 5, "rate": 1, "ramp": 2}]}, "unknown key 'ramp'"),
    ({"phases": [{"name": "a", "duration": 5, "rate": 0}]}, "every rate is 0"),
    ({"phases": [{"name": "a", "duration": 5, "rate": 1}], "users": 100}, "unknown key 'users'"),
    ({"phases": [{"name": "a", "duration": 5, "rate": 1}], "max_requests": 0}, "field max_requests"),
]


@pytest.mark.parametrize("data,message", BAD_PROFILES, ids=[b[1][:28] for b in BAD_PROFILES])
def test_a_bad_profile_file_is_one_line_naming_the_field(data, message):
    with pytest.raises(UserError, match=None) as err:
        profile_from_data(data, "mine.yaml")
    assert str(err.value).startswith("mine.yaml") and message in str(err.value)


def test_a_profile_survives_the_trip_to_the_worker():
    p = profile_from_data({"name": "x", "pacing": "2s", "max_requests": 50, "phases": [
        {"name": "up", "duration": "1m", "rate": 1, "ramp_to": 4}]}, "x.yaml")
    assert profile_from_data(p.to_json(), "job") == p
    assert (p.seconds, p.requests, p.peak_users, p.rate_at(30)) == (60, 150, 8, 2.5)


# ---------------------------------------------------------------- scenarios

def test_scenarios_follow_the_seeds_weights_in_every_window_of_ten():
    assert [(s.name, s.weight, s.path) for s in SCENARIOS] == [
        ("contract_analysis", 40, "/api/ai/analyze"), ("document_drafting", 30, "/api/ai/draft"),
        ("legal_research", 20, "/api/ai/research"), ("compliance_check", 10, "/api/ai/compliance")]
    order = [s.name for s in islice(weighted_order(), 1000)]
    for start in range(0, 1000, 10):
        assert Counter(order[start:start + 10]) == {"contract_analysis": 4, "document_drafting": 3,
                                                    "legal_research": 2, "compliance_check": 1}


# ---------------------------------------------------------------- the target

TARGETS = [
    ("https://staging.example.com/", "https://staging.example.com"),
    ("http://u:p%40ss@10.0.0.5:8080/base/", "http://10.0.0.5:8080/base"),
    ("http://[::1]:9000", "http://[::1]:9000"),
]


@pytest.mark.parametrize("url,shown", TARGETS)
def test_the_target_is_shown_without_credentials(url, shown):
    assert public_url(check_target(url)) == shown


def test_redaction_removes_the_password_in_both_spellings(monkeypatch):
    monkeypatch.setenv("ROLLOUT_LOADTEST_AUTHORIZATION", "Bearer abc.def")
    redact = redactor("http://u:p%40ss@host")
    assert redact("p%40ss p@ss Bearer abc.def /api/ai/analyze") == "*** *** *** /api/ai/analyze"


@pytest.mark.parametrize("budget,message", [
    ({"p90_ms": "< 1000"}, "field performance_budget: Additional properties are not allowed"),
    ({"p95_ms": "under 5 s"}, "field performance_budget.p95_ms: 'under 5 s' does not match"),
    ({}, "field performance_budget: {} should be non-empty"),
])
def test_a_bad_budget_in_the_catalog_is_one_line(budget, message):
    import yaml

    from rollout.core.catalog import DEFAULT_PATH, build_catalog

    data = yaml.safe_load(DEFAULT_PATH.read_text())
    with pytest.raises(UserError) as err:
        build_catalog({**data, "performance_budget": budget}, "catalog.yaml")
    assert str(err.value).startswith("catalog.yaml: " + message), str(err.value)

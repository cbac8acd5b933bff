"""The New Relic source against a NerdGraph on 127.0.0.1 that runs the NRQL it is sent.

Every evaluation is one HTTP request, whatever the number of metrics; failures are
retried or reported the way NerdGraph's answers call for.
"""
import re
from dataclasses import replace
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

from rollout.adapters.retry import RetryPolicy
from rollout.adapters.metrics import open_source
from rollout.adapters.metrics.base import EU_ENDPOINT, US_ENDPOINT
from rollout.adapters.metrics.newrelic import NewRelicSource
from rollout.adapters.metrics.sqlite_events import SQLiteEventSource, import_ndjson
from rollout.core.catalog import load_catalog
from rollout.core.gate import ERROR, INCONCLUSIVE, PASS, ROLLBACK, Code, evaluate, soak_check
from rollout.errors import ExternalError, UserError
from tests.events import CONTROL, T0, Profile, events, scaled_catalog, write_ndjson
from tests.fakes.newrelic import API_KEY, FakeNerdGraph

CATALOG = load_catalog()
HOUR = (T0, T0 + timedelta(hours=1))
ROWS = events(400, "canary", Profile(error_rate=0.03)) + events(1600, "control", CONTROL)
FAST = RetryPolicy(attempts=3, timeout=2.0, backoff=0.01)


@pytest.fixture
def waits():
    """The waits of the policies a test passes it to (`source(..., waits=waits)`)."""
    return []


@pytest.fixture
def nerdgraph():
    with FakeNerdGraph(ROWS) as fake:
        yield fake


def source(fake, policy=FAST, key=API_KEY, waits=None):
    if waits is not None:
        policy = replace(policy, sleep=waits.append)
    return NewRelicSource(fake.account_id, key, fake.url, policy=policy)


def test_one_request_carries_every_metric_for_both_cohorts(nerdgraph):
    obs = source(nerdgraph).fetch(CATALOG, *HOUR)
    assert len(nerdgraph.requests) == 1
    req = nerdgraph.requests[0]
    assert req.header("API-Key") == API_KEY and req.json["variables"] == {"account": 1234567}
    queries = nerdgraph.queries[0]
    cohort_metrics = [m.name for m in CATALOG.metrics.values() if m.aggregate]
    service = {"s_service_health": "service_health", "s_memory_usage": "memory_usage"}
    # the judge's evidence: the hour in 5-minute buckets (b0) and two standard deviations
    evidence = {"b0", "d_executionTime", "d_cost"}
    assert set(queries) == {"requests", *(f"v_{n}" for n in cohort_metrics), *service,
                            "r_service_health", *evidence}
    since, until = (round(t.timestamp() * 1000) for t in HOUR)
    for alias, nrql in queries.items():
        if alias in service or alias == "r_service_health":     # service-wide, no cohort
            assert " FACET " not in nrql, alias
            continue
        assert nrql.startswith("SELECT ") and " FACET cohort " in nrql, alias
        assert f" SINCE {since} UNTIL {until}" in nrql, alias
    assert queries["s_memory_usage"].startswith(CATALOG.metrics["memory_usage"].nrql_override)
    # each service-level metric over its own window, ending where the evaluation ends; the
    # health monitor's every check counted over the same window
    assert queries["s_service_health"].endswith(f" SINCE {until - 3 * 60_000} UNTIL {until}")
    assert queries["r_service_health"] == (
        "SELECT count(*) FROM SyntheticCheck WHERE monitorName = 'legal-platform-web /health' "
        f"SINCE {until - 3 * 60_000} UNTIL {until}")
    assert queries["s_memory_usage"].endswith(f" SINCE {since} UNTIL {until}")
    assert queries["b0"].startswith("SELECT count(*) AS 'k0', filter(count(*), WHERE success IS "
                                    "FALSE) AS 'k1', ")
    assert "filter(count(*), WHERE executionTime > 10000)" in queries["b0"]
    assert queries["b0"].endswith("TIMESERIES 5 minutes")
    assert queries["d_cost"].startswith("SELECT stddev(cost) AS 'sd' FROM SkillExecution FACET")
    assert re.search(r"timeout: 30\)", req.json["query"])
    assert obs.errors == {} and obs.unmeasured == frozenset()
    assert obs.cohort("canary").requests == 400 and obs.cohort("control").requests == 1600
    # the fake's healthy service: a passing check a minute, the ai-service at 62 % memory
    assert obs.service == {"service_health": 3.0, "memory_usage": 62.0}
    assert obs.ran == {"service_health": 3.0}
    assert len(obs.edges) == 13 and obs.edges[0] == since and obs.edges[-1] == until


def test_one_request_for_three_times_the_metrics(nerdgraph):
    big = scaled_catalog(3)
    obs = source(nerdgraph).fetch(big, *HOUR)
    assert len(nerdgraph.requests) == 1 and obs.errors == {}
    per_copy = sum(1 + bool(m.ran) for m in CATALOG.metrics.values()
                   if m.aggregate or m.service_level)
    # the evidence queries are shared: one bucket series and one spread per field
    assert len(nerdgraph.queries[0]) == 1 + 3 * per_copy + 3 == 46
    assert obs.cohort("canary").values["p95_response_time_3"] == obs.cohort("canary").values["p95_response_time"]


@pytest.mark.parametrize("facet_as_list", [False, True])
def test_same_numbers_as_the_sqlite_source(facet_as_list):
    with FakeNerdGraph(ROWS, facet_as_list=facet_as_list) as fake:
        nr = source(fake).fetch(CATALOG, *HOUR)
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "events.db"
        import_ndjson(write_ndjson(Path(d) / "e.ndjson", ROWS), db)
        local = SQLiteEventSource(db).fetch(CATALOG, *HOUR)
    # the events file has no synthetic checks or process samples, and says so
    assert local.unmeasured == {"service_health", "memory_usage"} and local.service == {}
    assert nr.unmeasured == frozenset() and set(nr.service) == local.unmeasured
    assert nr.edges == local.edges and len(nr.edges) == 13
    for cohort in ("canary", "control"):
        a, b = nr.cohort(cohort), local.cohort(cohort)
        assert a.requests == b.requests and a.counts.keys() == b.counts.keys()
        assert a.values.keys() == b.values.keys()
        for name in b.values:
            assert a.values[name] == pytest.approx(b.values[name]), name
        # the judge's evidence: the same tallies in the same 5-minute buckets, same spreads
        for key in b.buckets:
            assert a.buckets[key] == pytest.approx(b.buckets[key]), key
            assert a.counts[key] == pytest.approx(b.counts[key]), key
        assert a.spreads == pytest.approx(b.spreads)
    assert local.cohort("canary").counts["success=false"] == \
        sum(1 for e in ROWS if e["cohort"] == "canary" and not e["success"])


def test_gate_over_new_relic(nerdgraph):
    obs = source(nerdgraph).fetch(CATALOG, *HOUR)
    result = evaluate(CATALOG, "canary", obs, soak=soak_check(True, "served"))
    # 3 % errors over 400 requests: neither shown below 2 % nor shown above it yet
    assert {c.name: c.verdict for c in result.checks}["skill_error_rate"] == INCONCLUSIVE


def test_empty_results_are_no_data(nerdgraph):
    nerdgraph.events = []
    obs = source(nerdgraph).fetch(CATALOG, *HOUR)
    assert obs.errors == {} and len(nerdgraph.requests) == 1
    assert obs.cohort("canary").requests == 0 and obs.cohort("control").values["p95_response_time"] is None
    result = evaluate(CATALOG, "canary", obs, soak=None)
    cohort_checks = [c for c in result.checks if c.scope == "cohort"]
    assert cohort_checks and {c.verdict for c in cohort_checks} == {INCONCLUSIVE}
    assert {c.verdict for c in result.checks if c.scope == "service"} == {PASS}
    assert result.exit_code == 1


def gate(obs):
    return {c.name: c for c in evaluate(CATALOG, "canary", obs, soak=None).checks}


def test_memory_above_95_rolls_back(nerdgraph):
    nerdgraph.service["SystemSample"]["memoryUsedPercent"] = 96.5
    nerdgraph.events.append({"eventType": "SystemSample", "timestamp": "2026-11-20T08:10:00Z",
                             "hostname": "srv-other-service-1", "memoryUsedPercent": 99.0})
    obs = source(nerdgraph).fetch(CATALOG, *HOUR)
    assert obs.service["memory_usage"] == 96.5        # another service's samples do not count
    assert gate(obs)["memory_usage"].verdict == ROLLBACK and len(nerdgraph.requests) == 1


def test_health_checks_judged_over_their_last_3_minutes(nerdgraph):
    nerdgraph.service["SyntheticCheck"]["result"] = "FAILED"
    end = HOUR[1]

    def success(minutes_before_end):
        return {"eventType": "SyntheticCheck", "monitorName": "legal-platform-web /health",
                "result": "SUCCESS", "timestamp": (end - timedelta(minutes=minutes_before_end)).isoformat()}

    nerdgraph.events.append(success(4))      # before the 3-minute window: does not count
    obs = source(nerdgraph).fetch(CATALOG, *HOUR)
    # the monitor ran its 3 rounds and every one failed: down
    assert obs.service["service_health"] == 0 and obs.ran["service_health"] == 3
    assert gate(obs)["service_health"].verdict == ROLLBACK
    nerdgraph.events.append(success(2))
    obs = source(nerdgraph).fetch(CATALOG, *HOUR)
    assert obs.service["service_health"] == 1 and gate(obs)["service_health"].verdict == PASS


def test_an_account_without_service_signals(nerdgraph):
    """A zero-result account (issue 13): count(*) of a monitor that never ran is 0, and no
    data is not "down": the same request counts every check of the monitor, none ran."""
    nerdgraph.service = {}
    obs = source(nerdgraph).fetch(CATALOG, *HOUR)
    assert obs.errors == {} and obs.service["memory_usage"] is None
    checks = gate(obs)
    assert checks["memory_usage"].verdict == INCONCLUSIVE
    assert obs.service["service_health"] == 0 and obs.ran["service_health"] == 0
    assert (checks["service_health"].verdict, checks["service_health"].code) == \
        (INCONCLUSIVE, Code.MONITOR_SILENT)


def test_a_monitor_late_by_a_round_is_silent_not_down(nerdgraph):
    # results of the last minute not in yet, the two before failed: 2 of the 3 rounds
    nerdgraph.service["SyntheticCheck"]["result"] = "FAILED"
    nerdgraph.service["SyntheticCheck"]["monitorName"] = "other monitor"
    end = HOUR[1]
    nerdgraph.events += [{"eventType": "SyntheticCheck", "monitorName": "legal-platform-web /health",
                          "result": "FAILED", "timestamp": (end - timedelta(minutes=m)).isoformat()}
                         for m in (2, 3)]
    obs = source(nerdgraph).fetch(CATALOG, *HOUR)
    assert obs.service["service_health"] == 0 and obs.ran["service_health"] == 2
    assert gate(obs)["service_health"].code == Code.MONITOR_SILENT


def test_a_failed_ran_query_is_an_error_not_a_rollback(nerdgraph):
    nerdgraph.service["SyntheticCheck"]["result"] = "FAILED"
    nerdgraph.fail_alias["r_service_health"] = ("NRDB query timed out", "TIMEOUT")
    obs = source(nerdgraph).fetch(CATALOG, *HOUR)
    assert gate(obs)["service_health"].code == Code.SOURCE_FAILED


def test_a_failed_bucket_series_fails_every_cohort_metric(nerdgraph):
    nerdgraph.fail_alias["b0"] = ("NRDB query timed out", "TIMEOUT")
    obs = source(nerdgraph).fetch(CATALOG, *HOUR)
    checks = gate(obs)
    assert checks["skill_error_rate"].code == checks["cost_savings"].code == Code.SOURCE_FAILED
    assert checks["memory_usage"].verdict == PASS


def test_a_failed_service_query_is_an_error_of_that_metric(nerdgraph):
    nerdgraph.fail_alias["s_memory_usage"] = ("NRDB query timed out", "TIMEOUT")
    obs = source(nerdgraph).fetch(CATALOG, *HOUR)
    assert obs.errors == {"memory_usage": "NRDB query timed out (TIMEOUT)"}
    assert "memory_usage" not in obs.service and obs.service["service_health"] == 3
    assert gate(obs)["memory_usage"].verdict == ERROR


def test_partial_results_become_per_metric_errors(nerdgraph, waits):
    nerdgraph.fail_alias["v_p95_response_time"] = ("NRDB query timed out", "TIMEOUT")
    obs = source(nerdgraph, waits=waits).fetch(CATALOG, *HOUR)
    assert len(nerdgraph.requests) == 1 and waits == []
    assert obs.errors == {"p95_response_time": "NRDB query timed out (TIMEOUT)"}
    assert obs.cohort("canary").values["skill_error_rate"] == pytest.approx(100 * 12 / 400, abs=3)
    result = evaluate(CATALOG, "canary", obs, soak=None)
    verdicts = {c.name: c.verdict for c in result.checks}
    assert verdicts["p95_response_time"] == ERROR and verdicts["skill_error_rate"] != ERROR
    assert result.exit_code in (3, 4)


def test_a_bad_nrql_is_reported_for_that_metric(nerdgraph):
    nerdgraph.fail_alias["v_cost_per_request"] = ("NRQL Syntax Error: Error at line 1", "INVALID_INPUT")
    obs = source(nerdgraph).fetch(CATALOG, *HOUR)
    assert "NRQL Syntax Error" in obs.errors["cost_per_request"] and len(obs.errors) == 1


def test_transient_graphql_errors_are_retried(nerdgraph, waits):
    nerdgraph.graphql_errors_next.append(
        [{"message": "Something went wrong", "extensions": {"errorClass": "INTERNAL_SERVER_ERROR"}}])
    obs = source(nerdgraph, waits=waits).fetch(CATALOG, *HOUR)
    assert len(nerdgraph.requests) == 2 and len(waits) == 1 and obs.errors == {}


def test_persistent_graphql_timeouts_fail_the_source(nerdgraph, waits):
    nerdgraph.graphql_errors_next += [[{"message": "Query timed out", "path": ["actor", "account"],
                                        "extensions": {"errorClass": "TIMEOUT"}}]] * 3
    with pytest.raises(ExternalError, match="New Relic: Query timed out \\(TIMEOUT\\)"):
        source(nerdgraph, waits=waits).fetch(CATALOG, *HOUR)
    assert len(nerdgraph.requests) == 3


def test_other_graphql_errors_are_not_retried(nerdgraph, waits):
    nerdgraph.graphql_errors_next.append([{"message": "Account 1234567 not found",
                                           "extensions": {"errorClass": "NOT_FOUND"}}])
    with pytest.raises(ExternalError, match="Account 1234567 not found"):
        source(nerdgraph, waits=waits).fetch(CATALOG, *HOUR)
    assert len(nerdgraph.requests) == 1 and waits == []


def test_a_refused_key_is_not_retried(nerdgraph, waits):
    with pytest.raises(ExternalError, match="HTTP 401.*NEW_RELIC_API_KEY"):
        source(nerdgraph, waits=waits, key="NRAK-WRONG").fetch(CATALOG, *HOUR)
    assert len(nerdgraph.requests) == 1 and waits == []
    nerdgraph.graphql_errors_next.append([{"message": "Invalid API key",
                                           "extensions": {"errorClass": "BAD_API_KEY"}}])
    with pytest.raises(ExternalError, match="Invalid API key"):
        source(nerdgraph, waits=waits).fetch(CATALOG, *HOUR)
    assert len(nerdgraph.requests) == 2 and waits == []


def test_429_waits_as_told(nerdgraph, waits):
    nerdgraph.fail_next(429, headers={"Retry-After": "7"},
                        body={"errors": [{"message": "Too many requests"}]})
    obs = source(nerdgraph, waits=waits).fetch(CATALOG, *HOUR)
    assert waits == [7.0] and len(nerdgraph.requests) == 2 and obs.errors == {}


def test_500_is_retried_then_gives_up(nerdgraph, waits):
    nerdgraph.fail_next(500, times=1)
    source(nerdgraph, waits=waits).fetch(CATALOG, *HOUR)
    assert len(nerdgraph.requests) == 2
    nerdgraph.fail_next(500, times=3)
    with pytest.raises(ExternalError, match="failed after 3 attempts: HTTP 500"):
        source(nerdgraph, waits=waits).fetch(CATALOG, *HOUR)
    assert len(nerdgraph.requests) == 5


def test_slow_answer_is_abandoned_and_retried(nerdgraph, waits):
    nerdgraph.delays = [3.0]
    policy = RetryPolicy(attempts=3, timeout=1.0, backoff=0)
    obs = source(nerdgraph, policy, waits=waits).fetch(CATALOG, *HOUR)
    assert obs.cohort("canary").requests == 400
    assert len(nerdgraph.requests) == 2


def test_always_slow_fails_the_source(nerdgraph, waits):
    nerdgraph.delays = [0.6, 0.6]
    with pytest.raises(ExternalError, match="no answer within 0.2s"):
        source(nerdgraph, RetryPolicy(attempts=2, timeout=0.2, backoff=0),
               waits=waits).fetch(CATALOG, *HOUR)


# -- choosing the source by URL -----------------------------------------------------------------

@pytest.fixture
def nr_env(monkeypatch):
    for var in ("NEW_RELIC_API_KEY", "NEW_RELIC_ACCOUNT_ID", "NEW_RELIC_API_URL", "ROLLOUT_METRICS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NEW_RELIC_API_KEY", API_KEY)
    return monkeypatch


@pytest.mark.parametrize("url,env,account,endpoint", [
    ("newrelic://1234567", {}, 1234567, US_ENDPOINT),
    ("newrelic://1234567?region=eu", {}, 1234567, EU_ENDPOINT),
    ("newrelic://", {"NEW_RELIC_ACCOUNT_ID": "42"}, 42, US_ENDPOINT),
    ("newrelic://7?region=EU", {"NEW_RELIC_API_URL": "http://127.0.0.1:9/graphql"}, 7,
     "http://127.0.0.1:9/graphql"),
])
def test_newrelic_urls(nr_env, url, env, account, endpoint):
    for k, v in env.items():
        nr_env.setenv(k, v)
    s = open_source(url, "sqlite:///x.db")
    assert isinstance(s, NewRelicSource) and (s.account_id, s.endpoint) == (account, endpoint)


@pytest.mark.parametrize("url,unset,message", [
    ("newrelic://", False, "numeric New Relic account id"),
    ("newrelic://abc", False, "numeric New Relic account id"),
    ("newrelic://1?region=ap", False, "expected us or eu"),
    ("newrelic://1?zone=eu", False, "unknown parameter 'zone'"),
    ("newrelic://1", True, "NEW_RELIC_API_KEY is not set"),
])
def test_bad_newrelic_urls(nr_env, url, unset, message):
    if unset:
        nr_env.delenv("NEW_RELIC_API_KEY")
    with pytest.raises(UserError, match=re.escape(message)):
        open_source(url, "sqlite:///x.db")


def test_url_from_env_reaches_the_fake(nr_env, nerdgraph):
    nr_env.setenv("NEW_RELIC_API_URL", nerdgraph.url)
    obs = open_source(f"newrelic://{nerdgraph.account_id}", "sqlite:///x.db").fetch(CATALOG, *HOUR)
    assert obs.cohort("control").requests == 1600 and len(nerdgraph.requests) == 1

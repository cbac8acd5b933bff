"""`rollout verify`: the post-deployment checklist, phase 1. The decisions
(rollout/core/verify.py) as tables of cases; the real command end to end is
tests/test_verify_cli.py.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from rollout.core import verify
from rollout.core.catalog import load_catalog
from rollout.core.observations import CohortData, Observations
from rollout.core.verify import FAIL, OK, UNKNOWN, HealthAnswer, Unavailable
from tests.fakes.app import HEALTHY_SERVICES, health_body

CATALOG = load_catalog()
AT = "2026-11-20T10:00Z"                 # T0 + 2 h: the default 2 h window holds the events
AT_MS = int(datetime(2026, 11, 20, 10, tzinfo=timezone.utc).timestamp() * 1000)
# -- the decisions -----------------------------------------------------------------------------

U = "http://app/health"


@pytest.mark.parametrize("answer,status,words", [
    (HealthAnswer(U, 200, health_body(), "{}"), OK,
     ["HTTP 200", "database, redis, claude_api, skills_api healthy"]),
    (HealthAnswer(U, 503, health_body({**HEALTHY_SERVICES, "redis": "unhealthy"}), "{}"), FAIL,
     ["HTTP 503", "unhealthy: redis (unhealthy)"]),
    # a 200 that still names a sick service is not healthy
    (HealthAnswer(U, 200, health_body({**HEALTHY_SERVICES, "skills_api": "degraded"}), "{}"),
     FAIL, ["unhealthy: skills_api (degraded)"]),
    (HealthAnswer(U, 200, {**health_body(), "status": "degraded"}, "{}"), FAIL,
     ["status 'degraded'"]),
    (HealthAnswer(U, 200, None, "<html>Bad gateway</html>"), FAIL,
     ["not the health JSON", "'<html>Bad gateway</html>'"]),
    (HealthAnswer(U, 200, None, ""), FAIL, ["empty body"]),
    (HealthAnswer(U, 200, {"status": "healthy"}, "{}"), FAIL, ["lists no services"]),
    (HealthAnswer(U, 200, [1, 2], "[1, 2]"), FAIL, ["not the health JSON"]),
    (HealthAnswer(U, error="health endpoint: GET http://app/health failed after 3 attempts: "
                           "no answer within 10s"), FAIL, ["no answer", "within 10s"]),
    # the playbook's expected answer (seed 003) has one service called "all"
    (HealthAnswer(U, 200, {"status": "healthy", "services": {"all": "healthy"}}, "{}"), OK,
     ["all healthy"]),
], ids=["healthy", "503-redis", "200-but-degraded", "status-degraded", "html", "empty",
        "no-services", "not-an-object", "no-answer", "playbook-shape"])
def test_health(answer, status, words):
    item = verify.check_health(answer)
    assert item.status == status and item.name == "All services healthy"
    for w in words:
        assert w in item.detail, item.detail


def issue(title, state="ACTIVATED", priority="CRITICAL", n=1):
    return {"issueId": f"issue-{n}", "priority": priority, "state": state,
            "title": title if isinstance(title, list) else [title]}


SEV1 = "SkillExecution query result is > 5.0 for 5 minutes on 'High Skill Error Rate [SEV1]'"
SEV2 = "SkillExecution query result is > 10000.0 for 5 minutes on 'Skills Response Time Critical [SEV2]'"
SEV3 = "SkillExecution query result is > 10.0 on 'Cost Spike Detected [SEV3]'"
FOREIGN = "Metric query result is > 0.69 for 5 minutes on 'Latency in Production'"


@pytest.mark.parametrize("issues,status,unreachable,words", [
    ([], OK, False, ["no critical issue open"]),
    ([issue(SEV1)], FAIL, False, ["1 critical issue open", "High Skill Error Rate [SEV1]"]),
    ([issue(SEV2, state="CREATED")], FAIL, False, ["(CREATED)"]),
    # our SEV3 conditions open CRITICAL issues too: listed, not failing (seed 003: SEV1/SEV2)
    ([issue(SEV3)], OK, False, ["1 lower-severity open", "Cost Spike Detected"]),
    ([issue(SEV3), issue(SEV1, n=2)], FAIL, False, ["1 critical issue open", "not critical: 1"]),
    # a correlated issue with a SEV3 and a SEV1 incident is as severe as its worst
    ([issue([SEV3, SEV1])], FAIL, False, ["1 critical issue open"]),
    # a condition that is not ours carries no severity: critical is critical
    ([issue(FOREIGN)], FAIL, False, ["Latency in Production"]),
    ([issue([SEV3, FOREIGN])], FAIL, False, ["1 critical issue open"]),
    (Unavailable("unknown: no New Relic account configured"), UNKNOWN, False, ["no New Relic"]),
    (Unavailable("New Relic did not answer: HTTP 500", failed=True), UNKNOWN, True, ["HTTP 500"]),
], ids=["none", "sev1", "sev2-created", "sev3-only", "sev3-and-sev1", "correlated", "foreign",
        "sev3-with-foreign", "not-configured", "unreachable"])
def test_alerts(issues, status, unreachable, words):
    item = verify.check_alerts(issues)
    assert (item.status, item.unreachable) == (status, unreachable)
    for w in words:
        assert w in item.detail, item.detail


def obs(canary=None, control=None, errors=None) -> Observations:
    start = datetime(2026, 11, 20, 8, tzinfo=timezone.utc)
    cohorts = {name: CohortData(n, values) for name, (n, values) in
               (("canary", canary or (0, {})), ("control", control or (0, {})))}
    return Observations(start, start + timedelta(hours=2), cohorts, errors or {})


E, P = "skill_error_rate", "p95_response_time"


@pytest.mark.parametrize("metric,o,status,words", [
    (E, obs((600, {E: 1.2}), (3000, {E: 0.9})), OK,
     ["canary 1.20 % of 600 requests", "control 0.90 %", "target < 2 % (catalog skill_error_rate)"]),
    (E, obs((600, {E: 3.5}), (3000, {E: 0.9})), FAIL, ["missed by canary"]),
    (E, obs((600, {E: 6.0}), (3000, {E: 0.9})), FAIL, ["missed by canary (rollback range)"]),
    (E, obs(None, (3000, {E: 2.0})), FAIL, ["missed by control"]),     # "< 2": 2.0 misses
    # a cohort under the catalog's min_requests is not judged; the other one is
    (E, obs((40, {E: 25.0}), (3000, {E: 0.9})), OK, ["canary: too little data (40 requests < 100)"]),
    (E, obs((40, {E: 25.0}), (50, {E: 0.0})), UNKNOWN, ["too little data"]),
    (E, obs(), UNKNOWN, ["no requests in the window"]),
    (E, obs((600, {}), (3000, {}), errors={E: "NRQL Syntax Error"}), UNKNOWN, ["NRQL Syntax Error"]),
    (P, obs((600, {P: 4210.0}), (3000, {P: 2900.0})), OK, ["canary 4,210 ms", "target < 5000 ms"]),
    (P, obs((600, {P: 7400.0}), (3000, {P: 2900.0})), FAIL, ["missed by canary"]),
    (P, obs((600, {P: 12000.0}), (3000, {P: 2900.0})), FAIL, ["(rollback range)"]),
    (P, Unavailable("metric source failed: HTTP 500", failed=True), UNKNOWN, ["HTTP 500"]),
], ids=["errors-ok", "errors-hold-band", "errors-rollback", "errors-at-target", "small-canary",
        "too-little", "no-data", "metric-error", "p95-ok", "p95-slow", "p95-rollback",
        "source-down"])
def test_metric(metric, o, status, words):
    name = verify.ERRORS if metric == E else verify.LATENCY
    item = verify.check_metric(name, metric, o, CATALOG)
    assert item.status == status and item.name == name
    for w in words:
        assert w in item.detail, item.detail


@pytest.mark.parametrize("requests,window_h,floor,status,words", [
    (3600, 2, None, OK, ["3,600 requests in 2h = 1,800/h", "floor 208/h (50% of the ~10,000/day "
                                                            "baseline, seed 003)"]),
    (417, 2, None, OK, ["= 208/h"]),            # 208.5/h: just above 10,000 / 24 / 2
    (416, 2, None, FAIL, ["= 208/h"]),          # 208.0/h: just below 208.33
    (0, 2, None, FAIL, ["0 requests in 2h"]),
    (100, 2, 40, OK, ["floor 40/h (--min-throughput)"]),
    (100, 0.5, 250, FAIL, ["in 30m = 200/h"]),
], ids=["normal", "at-floor", "under-floor", "none", "own-floor", "short-window"])
def test_throughput(requests, window_h, floor, status, words):
    o = obs((requests // 4, {}), (requests - requests // 4, {}))
    item = verify.check_throughput(o, timedelta(hours=window_h), floor)
    assert item.status == status
    for w in words:
        assert w in item.detail, item.detail


def test_default_floor_is_half_the_seed_baseline_hour():
    assert verify.DEFAULT_MIN_PER_HOUR == pytest.approx(10_000 / 24 / 2)


@pytest.mark.parametrize("statuses,code,result", [
    ([OK, OK], 0, "ok"),
    ([OK, UNKNOWN], 0, "ok"),                       # not configured / too little data
    ([OK, (UNKNOWN, True)], 4, "incomplete"),       # an outside system did not answer
    ([FAIL, (UNKNOWN, True)], 1, "fail"),           # a failure is the finding
    ([FAIL, OK], 1, "fail"),
])
def test_exit_code(statuses, code, result):
    items = tuple(verify.Item("x", s[0], "", s[1]) if isinstance(s, tuple) else verify.Item("x", s, "")
                  for s in statuses)
    c = verify.Checklist(items)
    assert (c.exit_code, c.result) == (code, result)


def test_resources_shown_not_judged():
    item = verify.check_resources(HealthAnswer(U, 200, health_body(), "{}"))
    assert item.status == UNKNOWN and "memory 412 MB, CPU 37 %" in item.detail
    assert "no figures" in verify.check_resources(HealthAnswer(U, error="down")).detail

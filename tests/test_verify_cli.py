"""`rollout verify` end to end: the real command in a subprocess against an application
on 127.0.0.1 answering /health as seed 002 writes it, events in SQLite, and the fake
NerdGraph answering the open-issues query.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from rollout.adapters.metrics.sqlite_events import insert_events
from tests.cli import rollout
from tests.events import CONTROL, Profile, events
from tests.fakes.newrelic import API_KEY, FakeNerdGraph
from tests.fakes.app import HEALTHY_SERVICES, FakeApp
from tests.test_verify import AT, AT_MS, SEV1, SEV2, SEV3

# -- the command, end to end -------------------------------------------------------------------

GOOD = events(600, "canary", span=timedelta(hours=2)) + \
    events(3000, "control", CONTROL, span=timedelta(hours=2))


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


def with_events(workdir, rows):
    insert_events(workdir / "events.db", rows)
    return ["--metrics", "sqlite:///events.db"]


def verify_cmd(workdir, url, *extra, env=None):
    r = rollout(["verify", "--url", url, "--at", AT, *extra], workdir,
                {"ROLLOUT_HTTP_ATTEMPTS": "2", **(env or {})})
    assert "Traceback" not in r.stderr, r.stderr
    return r


def items_of(r) -> dict:
    out = json.loads(r.stdout)
    return {i["name"]: i for i in out["items"]}


def test_all_green_with_sqlite_events(workdir):
    metrics = with_events(workdir, GOOD)
    with FakeApp() as app:
        url = app.base_url
        r = verify_cmd(workdir, url, *metrics, "--output", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["result"] == "ok" and out["url"] == url + "/health"
    items = items_of(r)
    assert [(n, i["status"]) for n, i in items.items()] == [
        ("All services healthy", "ok"), ("No critical alerts firing", "unknown"),
        ("Error rates within normal range", "ok"), ("Response times acceptable", "ok"),
        ("Throughput normal", "ok"), ("Event attributes as the contract says", "unknown"),
        ("Resource utilization stable", "unknown")]
    assert "no New Relic account configured" in items["No critical alerts firing"]["detail"]
    assert "checked against New Relic" in items["Event attributes as the contract says"]["detail"]
    assert "3,600 requests in 2h = 1,800/h" in items["Throughput normal"]["detail"]
    assert out["window_start"].startswith("2026-11-20T08:00")
    assert [(q.method, q.path) for q in app.requests] == [("GET", "/health")]


def test_markdown_checklist_with_ticks(workdir):
    metrics = with_events(workdir, GOOD)
    with FakeApp({**HEALTHY_SERVICES, "redis": "unhealthy"}) as app:
        r = verify_cmd(workdir, app.base_url + "/", *metrics)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert "- ❌ **All services healthy**: HTTP 503; unhealthy: redis (unhealthy)" in lines
    assert any(l.startswith("- ❔ **No critical alerts firing**: unknown") for l in lines)
    assert any(l.startswith("- ✅ **Error rates within normal range**: canary") for l in lines)
    assert "Result: **fail**" in lines
    assert "2026-11-20 08:00 UTC to 2026-11-20 10:00 UTC" in r.stdout


@pytest.mark.parametrize("app_kwargs,extra,words", [
    # one service down: 503 is the answer, taken at once, not retried
    ({"services": {**HEALTHY_SERVICES, "claude_api": "unhealthy"}}, [],
     ["HTTP 503", "unhealthy: claude_api (unhealthy)"]),
    ({"raw": "<html><body>502 Bad Gateway</body></html>"}, [],
     ["HTTP 200", "not the health JSON", "502 Bad Gateway"]),
    ({"delay": 2.0}, ["--timeout", "0.3"], ["no answer", "no answer within 0.3s"]),
], ids=["service-down", "garbage", "slow"])
def test_health_failures_fail_the_item(workdir, app_kwargs, extra, words):
    metrics = with_events(workdir, GOOD)
    with FakeApp(**app_kwargs) as app:
        r = verify_cmd(workdir, app.base_url, *metrics, *extra, "--output", "json")
        asked = len(app.requests)
    assert r.returncode == 1, r.stdout + r.stderr
    item = items_of(r)["All services healthy"]
    assert item["status"] == "fail" and not item["unreachable"]
    for w in words:
        assert w in item["detail"], item["detail"]
    assert items_of(r)["Error rates within normal range"]["status"] == "ok"
    # a 503 or a body is an answer (1 request); a timeout is retried (ROLLOUT_HTTP_ATTEMPTS=2)
    assert asked == (2 if "delay" in app_kwargs else 1)


def test_health_endpoint_down_is_a_failed_item(workdir):
    metrics = with_events(workdir, GOOD)
    with FakeApp() as app:
        url = app.base_url          # the port is closed once the app stops
    r = verify_cmd(workdir, url, *metrics, "--output", "json")
    assert r.returncode == 1
    item = items_of(r)["All services healthy"]
    assert item["status"] == "fail" and "cannot connect" in item["detail"]


@pytest.mark.parametrize("canary,extra,item,status,code", [
    (Profile(error_rate=0.06), [], "Error rates within normal range", "fail", 1),
    (Profile(latency_ms=6000.0, latency_sigma=0.1), [], "Response times acceptable", "fail", 1),
], ids=["error-rate", "latency"])
def test_metric_failures(workdir, canary, extra, item, status, code):
    metrics = with_events(workdir, events(600, "canary", canary, span=timedelta(hours=2)) +
                          events(3000, "control", CONTROL, span=timedelta(hours=2)))
    with FakeApp() as app:
        r = verify_cmd(workdir, app.base_url, *metrics, *extra, "--output", "json")
    assert r.returncode == code, r.stdout + r.stderr
    got = items_of(r)[item]
    assert got["status"] == status and "missed by canary" in got["detail"]


def test_throughput_floor(workdir):
    # 300 requests in 2 h = 150/h: under the default 208/h, over --min-throughput 100
    metrics = with_events(workdir, events(300, "control", CONTROL, span=timedelta(hours=2)))
    with FakeApp() as app:
        low = verify_cmd(workdir, app.base_url, *metrics, "--output", "json")
        own = verify_cmd(workdir, app.base_url, *metrics, "--output", "json",
                         "--min-throughput", "100")
    assert low.returncode == 1
    assert items_of(low)["Throughput normal"]["status"] == "fail"
    assert "300 requests in 2h = 150/h; floor 208/h" in items_of(low)["Throughput normal"]["detail"]
    assert own.returncode == 0, own.stdout
    assert items_of(own)["Throughput normal"]["detail"].endswith("floor 100/h (--min-throughput)")


def nr_issue(n, title, state="ACTIVATED", priority="CRITICAL", closed=False):
    return {"issueId": f"i-{n}", "priority": priority, "state": state, "title": [title],
            "createdAt": AT_MS - 3_600_000, "activatedAt": AT_MS - 3_540_000,
            "closedAt": AT_MS - 600_000 if closed else None, "entityNames": ["legal-platform-web"]}


def nr_env(nr):
    return {"NEW_RELIC_API_KEY": API_KEY, "NEW_RELIC_API_URL": nr.url}


@pytest.mark.parametrize("issues,code,status,words", [
    ([], 0, "ok", ["no critical issue open in New Relic"]),
    ([nr_issue(1, SEV1)], 1, "fail", ["1 critical issue open", "High Skill Error Rate [SEV1]"]),
    ([nr_issue(1, SEV3)], 0, "ok", ["1 lower-severity open"]),
    # closed, or not critical: not asked for, not counted
    ([nr_issue(1, SEV1, state="CLOSED", closed=True), nr_issue(2, SEV1, priority="HIGH")],
     0, "ok", ["no critical issue open"]),
    # three pages of one issue each: every page is read
    ([nr_issue(1, SEV3), nr_issue(2, SEV3), nr_issue(3, SEV2)], 1, "fail",
     ["1 critical issue open", "[SEV2]", "not critical: 2"]),
], ids=["none", "sev1", "sev3", "closed-or-high", "paged"])
def test_new_relic_alerts(workdir, issues, code, status, words):
    with FakeApp() as app, FakeNerdGraph(GOOD) as nr:
        nr.issues = issues
        nr.issues_page_size = 1
        r = verify_cmd(workdir, app.base_url, "--metrics", "newrelic://1234567",
                       "--output", "json", env=nr_env(nr))
    assert r.returncode == code, r.stdout + r.stderr
    items = items_of(r)
    assert items["No critical alerts firing"]["status"] == status
    for w in words:
        assert w in items["No critical alerts firing"]["detail"]
    assert items["Error rates within normal range"]["status"] == "ok"   # same source, NRQL
    first = nr.issue_queries[0]
    assert 'priority: ["CRITICAL"]' in first and "states: [CREATED, ACTIVATED]" in first
    assert f"endTime: {AT_MS}" in first
    assert f"startTime: {AT_MS - 7 * 86_400_000}" in first
    open_critical = [i for i in issues if i["priority"] == "CRITICAL" and i["state"] != "CLOSED"]
    assert len(nr.issue_queries) == max(1, len(open_critical))      # one page per issue


def test_new_relic_down_exit_4_unless_an_item_failed(workdir):
    with FakeApp() as app, FakeNerdGraph(GOOD) as nr:
        nr.fail_next(500, times=100)
        r = verify_cmd(workdir, app.base_url, "--metrics", "newrelic://1234567",
                       "--output", "json", env=nr_env(nr))
    assert r.returncode == 4, r.stdout + r.stderr
    items = items_of(r)
    assert items["All services healthy"]["status"] == "ok"
    for name in ("No critical alerts firing", "Error rates within normal range",
                 "Throughput normal"):
        assert items[name]["status"] == "unknown" and items[name]["unreachable"], items[name]
        assert "HTTP 500" in items[name]["detail"]
    assert json.loads(r.stdout)["result"] == "incomplete"

    with FakeApp({**HEALTHY_SERVICES, "database": "unhealthy"}) as app, FakeNerdGraph(GOOD) as nr:
        nr.fail_next(500, times=100)
        r = verify_cmd(workdir, app.base_url, "--metrics", "newrelic://1234567",
                       "--output", "json", env=nr_env(nr))
    assert r.returncode == 1


@pytest.mark.parametrize("args,env,message", [
    (["verify"], {}, "no application URL: pass --url"),
    (["verify", "--url", "legal-platform-web.onrender.com"], {}, "expected an http:// or https:// URL"),
    (["verify", "--url", "http://127.0.0.1:9", "--window", "2 hours"], {}, "--window"),
    (["verify", "--url", "http://127.0.0.1:9", "--window", "0h"], {}, "positive duration"),
    (["verify", "--url", "http://127.0.0.1:9", "--min-throughput", "-1"], {}, "--min-throughput"),
    (["verify", "--url", "http://127.0.0.1:9", "--metrics", "prometheus://x"], {}, "unknown scheme"),
    (["verify", "--url", "http://127.0.0.1:9", "--metrics", "newrelic://1234567"],
     {"NEW_RELIC_API_KEY": ""}, "NEW_RELIC_API_KEY is not set"),
], ids=["no-url", "no-scheme", "bad-window", "zero-window", "negative-floor", "bad-metrics",
        "no-key"])
def test_bad_input_exit_2(workdir, args, env, message):
    r = rollout(args, workdir, {"ROLLOUT_APP_URL": "", **env})
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_url_from_environment(workdir):
    metrics = with_events(workdir, GOOD)
    with FakeApp() as app:
        url = app.base_url + "/health"
        r = rollout(["verify", "--at", AT, *metrics, "--output", "json"], workdir,
                    {"ROLLOUT_APP_URL": url})
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["url"] == url

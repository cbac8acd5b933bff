"""The SkillExecution event contract (rollout/schema/skill_execution.schema.json): it names
every attribute the catalog reads, metrics on optional attributes stay silent when the
application does not send them, and `rollout verify` checks New Relic's keyset() of the
last hour against it in the same NerdGraph request as its metric queries."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from rollout.adapters.metrics.newrelic import NewRelicSource, parse_keyset
from rollout.adapters.metrics.sqlite_events import SQLiteEventSource, insert_events
from rollout.core import verify
from rollout.core.catalog import load_catalog
from rollout.core.event_contract import SCHEMA_PATH, load_event_contract
from rollout.core.observations import COHORTS
from rollout.drill import CONTROL as DRILL_CONTROL, generate_events
from rollout.core.verify import FAIL, OK, UNKNOWN, Unavailable
from tests.cli import ROOT, rollout
from tests.events import CONTROL, events
from tests.fakes.newrelic import API_KEY, FakeNerdGraph, alert_window_value, run_nrql

CATALOG = load_catalog()
CONTRACT = load_event_contract()
SCHEMA = json.loads(SCHEMA_PATH.read_text())
ITEM = "Event attributes as the contract says"
OPTIONAL_METRICS = {"cache_hit_rate": "cacheHit", "fallback_rate": "fallback",
                    "timeout_rate": "timedOut"}


# -- the schema and the catalog ------------------------------------------------------------

def test_schema_is_valid_json_schema():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["title"] == CATALOG.event


def test_every_attribute_the_catalog_reads_is_in_the_schema():
    read = {m.attribute for m in CATALOG.metrics.values() if m.attribute}
    read.add(CATALOG.cohort_attribute)
    for m in CATALOG.metrics.values():
        if m.compare and "field" in m.compare:
            read.add(m.compare["field"])
    assert read - set(SCHEMA["properties"]) == set()


def test_required_and_optional_attributes():
    assert CONTRACT.required == ("cohort", "success", "executionTime", "cost", "tokenSavings")
    assert set(OPTIONAL_METRICS.values()) <= set(CONTRACT.optional)
    assert tuple(SCHEMA["properties"]["cohort"]["enum"]) == COHORTS


def test_the_gated_comparisons_read_required_attributes_only():
    """Cohort comparisons and the error, latency and cost gates need their attribute on every
    event; only the secondary metrics may rest on optional ones."""
    for m in CATALOG.metrics.values():
        if m.attribute in CONTRACT.optional:
            assert m.name in OPTIONAL_METRICS, m.name
        if m.compare and "field" in m.compare:
            assert m.compare["field"] in CONTRACT.required


def test_optional_metrics_query_only_events_that_carry_the_attribute():
    for name, attr in OPTIONAL_METRICS.items():
        q = CATALOG.metrics[name].nrql(CATALOG, facet=True)
        assert f"FROM SkillExecution WHERE {attr} IS NOT NULL FACET cohort" in q
    assert "IS NOT NULL" not in CATALOG.metrics["skill_error_rate"].nrql(CATALOG)


def test_the_test_and_drill_events_follow_the_contract():
    validator = Draft202012Validator(SCHEMA)
    rows = events(50, "canary") + events(50, "control", CONTROL)
    rows += generate_events(np.random.default_rng(1), datetime(2026, 1, 1, tzinfo=timezone.utc),
                            timedelta(seconds=1), 50, 5, lambda canary: DRILL_CONTROL)
    errors = [e.message for row in rows for e in validator.iter_errors(row)]
    assert errors == []


# -- silent when absent -------------------------------------------------------------------

def without(rows: list[dict], *attrs) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in attrs} for r in rows]


T = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
MS = int(T.timestamp() * 1000)
TRAFFIC = events(600, "canary", start=T) + events(3000, "control", CONTROL, start=T)


@pytest.mark.parametrize("metric, attr", OPTIONAL_METRICS.items())
def test_alerts_on_an_optional_attribute_stay_silent_when_it_is_absent(metric, attr):
    (alert, *_) = CATALOG.metrics[metric].alerts
    q = CATALOG.metrics[metric].nrql(CATALOG)
    window = (MS, MS + 15 * 60_000)
    assert alert_window_value(q, without(TRAFFIC, attr), *window) is None     # no data point
    assert alert_window_value(q, TRAFFIC, *window) is not None
    # without the restriction the same window would read 0 % and breach "< 30"-style alerts
    unrestricted = q.replace(f" WHERE {attr} IS NOT NULL", "")
    assert alert_window_value(unrestricted, without(TRAFFIC, attr), *window) == 0.0


def test_gates_see_no_value_not_zero_when_the_attribute_is_absent(tmp_path):
    rows = without(TRAFFIC, "cacheHit")
    end = T + timedelta(hours=1)
    with FakeNerdGraph(rows) as nr:
        obs = NewRelicSource(1234567, API_KEY, nr.url).fetch(CATALOG, T, end)
    insert_events(tmp_path / "e.db", rows)
    local = SQLiteEventSource(tmp_path / "e.db").fetch(CATALOG, T, end)
    for seen in (obs, local):
        assert seen.cohort("canary").requests == 600
        for cohort in COHORTS:
            assert seen.cohort(cohort).values["cache_hit_rate"] is None
            assert seen.cohort(cohort).values["skill_error_rate"] is not None


# -- rollout verify: keyset() --------------------------------------------------------------

SEEN_ALL = {a: {t} for a, t in CONTRACT.types.items()}


def seen_without(*attrs) -> dict:
    return {a: t for a, t in SEEN_ALL.items() if a not in attrs}


@pytest.mark.parametrize("seen, status, words", [
    (SEEN_ALL, OK, ["all 5 required attributes sent", "every optional attribute sent"]),
    (seen_without("cacheHit", "fallback", "timedOut"), OK,
     ["optional, not sent: cacheHit, fallback, timedOut", "stay silent"]),
    (seen_without("cohort"), FAIL, ["missing required attribute: cohort"]),
    (seen_without("cost", "tokenSavings", "timedOut"), FAIL,
     ["missing required attributes: cost, tokenSavings", "optional, not sent: timedOut"]),
    ({**SEEN_ALL, "success": {"string"}}, FAIL, ["wrong type: success: string, expected boolean"]),
    ({**SEEN_ALL, "cacheHit": {"boolean", "string"}}, FAIL, ["cacheHit: boolean, string"]),
    ({}, UNKNOWN, ["no SkillExecution events in the last hour"]),
    (Unavailable("keyset() failed: timeout", failed=True), UNKNOWN, ["timeout"]),
], ids=["all", "optional-missing", "cohort-missing", "required-missing", "wrong-type",
        "mixed-types", "no-events", "unreachable"])
def test_contract_item(seen, status, words):
    item = verify.check_event_contract(seen, CONTRACT)
    assert (item.name, item.status) == (ITEM, status)
    for w in words:
        assert w in item.detail, item.detail


@pytest.mark.parametrize("rows, expected", [
    ([{"key": "cohort", "type": "string"}, {"key": "success", "type": "boolean"}],
     {"cohort": {"string"}, "success": {"boolean"}}),
    ([{"stringKeys": ["cohort"], "numericKeys": ["cost", "timestamp"], "booleanKeys": [],
       "allKeys": ["cohort", "cost", "timestamp"]}],
     {"cohort": {"string"}, "cost": {"numeric"}, "timestamp": {"numeric"}}),
    ([None, {"key": 3}, "x"], {}),
], ids=["nerdgraph-rows", "one-row-form", "garbage"])
def test_parse_keyset(rows, expected):
    assert parse_keyset(rows) == expected


def test_fake_answers_keyset_as_nerdgraph_rows():
    rows = run_nrql(f"SELECT keyset() FROM SkillExecution SINCE {MS} UNTIL {MS + 3_600_000}",
                    events(5, "canary", start=T))
    assert {"key": "cacheHit", "type": "boolean"} in rows
    assert {"key": "timestamp", "type": "numeric"} in rows
    assert {"key": "cohort", "type": "string"} in rows


AT = "2026-11-20T10:00Z"


def run_verify(tmp_path, rows, **knobs):
    from tests.fakes.app import FakeApp

    with FakeApp() as app, FakeNerdGraph(rows) as nr:
        for k, v in knobs.items():
            setattr(nr, k, v)
        r = rollout(["verify", "--url", app.base_url, "--at", AT, "--metrics",
                     "newrelic://1234567", "--output", "json"], tmp_path,
                    {"NEW_RELIC_API_KEY": API_KEY, "NEW_RELIC_API_URL": nr.url,
                     "ROLLOUT_HTTP_ATTEMPTS": "2"})
    assert "Traceback" not in r.stderr, r.stderr
    items = {i["name"]: i for i in json.loads(r.stdout)["items"]}
    return r, items[ITEM], nr


LAST_HOURS = events(600, "canary", start=T, span=timedelta(hours=2)) + \
    events(3000, "control", CONTROL, start=T, span=timedelta(hours=2))


def test_verify_asks_keyset_in_the_same_request(tmp_path):
    r, item, nr = run_verify(tmp_path, LAST_HOURS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert item["status"] == "ok"
    (request,) = [q for q in nr.queries if "keyset" in q]
    assert "requests" in request                  # beside the metric queries
    end = int(datetime(2026, 11, 20, 10, tzinfo=timezone.utc).timestamp() * 1000)
    assert request["keyset"] == (f"SELECT keyset() FROM SkillExecution "
                                 f"SINCE {end - 3_600_000} UNTIL {end}")
    assert len(nr.queries) == 1


def test_verify_names_each_missing_attribute(tmp_path):
    """Seed 002's recordCustomEvent as written: no cohort, cacheHit, fallback, timedOut."""
    r, item, _ = run_verify(tmp_path, without(LAST_HOURS, "cohort", "cacheHit", "fallback",
                                              "timedOut"))
    assert r.returncode == 1
    assert item["status"] == "fail"
    assert item["detail"].startswith("missing required attribute: cohort "
                                     "(rollout/schema/skill_execution.schema.json")
    assert "optional, not sent: cacheHit, fallback, timedOut" in item["detail"]


def test_verify_keyset_error_is_unknown_and_exit_4(tmp_path):
    r, item, _ = run_verify(tmp_path, LAST_HOURS,
                            fail_alias={"keyset": ("Query timed out", "TIMEOUT")})
    assert r.returncode == 4, r.stdout
    assert item["status"] == "unknown" and item["unreachable"]
    assert "Query timed out" in item["detail"]


def test_readme_and_docs_point_at_the_contract():
    assert "rollout/schema/skill_execution.schema.json" in (ROOT / "README.md").read_text()
    doc = (ROOT / "docs" / "events.md").read_text()
    for attr in SCHEMA["properties"]:
        assert f"`{attr}`" in doc, attr
    assert "recordCustomEvent('SkillExecution'" in doc

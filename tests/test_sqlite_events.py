"""The embedded metric source on a real SQLite file: import (good, bad, idempotent) and fetch."""
import json
import sqlite3
from datetime import timedelta

import numpy as np
import pytest

from rollout.adapters.metrics import open_source
from rollout.adapters.metrics.sqlite_events import SQLiteEventSource, import_ndjson
from rollout.core.catalog import load_catalog
from rollout.errors import UserError
from tests.events import CONTROL, T0, Profile, events, write_ndjson

CATALOG = load_catalog()
HOUR = (T0, T0 + timedelta(hours=1))


@pytest.fixture
def rows():
    return events(300, "canary", Profile(error_rate=0.04)) + events(900, "control", CONTROL)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "flags.db"


def count(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT count(*) FROM skill_events").fetchone()[0]


def segments(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT count(*), coalesce(sum(n), 0) FROM skill_event_segments").fetchone()


def expected(rows, cohort):
    """The metrics computed the obvious way, straight from the event dicts."""
    mine = [r for r in rows if r["cohort"] == cohort]
    times = np.array([r["executionTime"] for r in mine])
    pct = lambda f, v: 100.0 * sum(r[f] == v for r in mine) / len(mine)
    return {"skill_error_rate": pct("success", False), "skills_api_success": pct("success", True),
            "p95_response_time": float(np.percentile(times, 95)), "avg_response_time": times.mean(),
            "cost_per_request": np.mean([r["cost"] for r in mine]),
            "cache_hit_rate": pct("cacheHit", True), "timeout_rate": pct("timedOut", True),
            "fallback_rate": pct("fallback", True), "token_reduction": np.mean([r["tokenSavings"] for r in mine]),
            "hourly_ai_cost": sum(r["cost"] for r in mine), "requests": len(mine)}


def test_import_then_fetch_every_metric(tmp_path, db, rows):
    assert import_ndjson(write_ndjson(tmp_path / "e.ndjson", rows), db) == len(rows)
    obs = SQLiteEventSource(db).fetch(CATALOG, *HOUR)
    assert obs.errors == {} and (obs.window_start, obs.window_end) == HOUR
    for cohort in ("canary", "control"):
        want, got = expected(rows, cohort), obs.cohorts[cohort]
        assert got.requests == want.pop("requests")
        for name, value in want.items():
            assert got.values[name] == pytest.approx(value), name
        # the judge's tallies: per 5-minute bucket of the hour, and their totals
        mine = [r for r in rows if r["cohort"] == cohort]
        assert got.counts["requests"] == len(mine) and len(got.buckets["requests"]) == 12
        assert got.counts["success=false"] == sum(not r["success"] for r in mine)
        assert got.counts["executionTime>10000"] == sum(r["executionTime"] > 10000 for r in mine)
        assert got.counts["sum:cost"] == pytest.approx(sum(r["cost"] for r in mine))
        assert got.spreads["cost"] == pytest.approx(np.std([r["cost"] for r in mine], ddof=1))
        first = [r for r in mine if r["timestamp"] < "2026-11-20T08:05"]
        assert got.buckets["requests"][0] == len(first)
    assert segments(db) == (1, len(rows))


def test_reimport_adds_nothing_even_reformatted(tmp_path, db, rows):
    f = write_ndjson(tmp_path / "e.ndjson", rows)
    import_ndjson(f, db)
    assert import_ndjson(f, db) == 0
    # the same events with other key order and spacing are the same events
    g = tmp_path / "again.ndjson"
    g.write_text("".join(json.dumps(dict(reversed(list(r.items()))), indent=None,
                                    separators=(" , ", " : ")) + "\n" for r in rows))
    assert import_ndjson(g, db) == 0
    extra = events(1, "canary", start=T0 + timedelta(minutes=30), seed=99)
    assert import_ndjson(write_ndjson(tmp_path / "more.ndjson", rows[:10] + extra), db) == 1
    assert count(db) == len(rows) + 1 and segments(db) == (2, len(rows) + 1)


BAD_LINES = [
    ("not json", "invalid JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"userId": "u"}', "missing field timestamp"),
    ('{"timestamp": "yesterday", "userId": "u", "skillId": "s", "cohort": "canary", '
     '"success": true, "executionTime": 5}', "field timestamp: expected an ISO-8601 time"),
    ('{"timestamp": "2026-11-20T08:00:00", "userId": "u", "skillId": "s", "cohort": "canary", '
     '"success": true, "executionTime": 5}', "field timestamp: '2026-11-20T08:00:00' has no time zone"),
    ('{"timestamp": "2026-11-20T08:00:00Z", "userId": "u", "skillId": "s", "cohort": "beta", '
     '"success": true, "executionTime": 5}', "field cohort: expected canary or control"),
    ('{"timestamp": "2026-11-20T08:00:00Z", "userId": "u", "skillId": "s", "cohort": "canary", '
     '"success": "yes", "executionTime": 5}', "field success: expected true or false"),
    ('{"timestamp": "2026-11-20T08:00:00Z", "userId": "u", "skillId": "s", "cohort": "canary", '
     '"success": true, "executionTime": -3}', "field executionTime: expected a number >= 0"),
    ('{"timestamp": "2026-11-20T08:00:00Z", "userId": "u", "skillId": "s", "cohort": "canary", '
     '"success": true, "executionTime": 5, "cost": "free"}', "field cost: expected a number >= 0"),
    ('{"timestamp": "2026-11-20T08:00:00Z", "userId": "u", "skillId": "s", "cohort": "canary", '
     '"success": true, "executionTime": 5, "cacheHit": 1}', "field cacheHit: expected true or false"),
]


@pytest.mark.parametrize("line,message", BAD_LINES, ids=[m for _, m in BAD_LINES])
def test_a_bad_line_is_named_and_nothing_is_imported(tmp_path, db, rows, line, message):
    good = [json.dumps(r) for r in rows[:5]]
    f = tmp_path / "mixed.ndjson"
    f.write_text("\n".join(good[:3] + [line] + good[3:]) + "\n")
    with pytest.raises(UserError) as err:
        import_ndjson(f, db)
    text = str(err.value)
    assert text.splitlines()[0] == f"{f}: 1 bad line, nothing imported"
    assert f"{f}:4: {message}" in text
    assert not db.exists() or count(db) == 0


def test_many_bad_lines_list_the_first_ten(tmp_path, db, rows):
    f = tmp_path / "bad.ndjson"
    f.write_text(json.dumps(rows[0]) + "\n" + "\n".join(["{}"] * 25) + "\n")
    with pytest.raises(UserError) as err:
        import_ndjson(f, db)
    lines = str(err.value).splitlines()
    assert lines[0].endswith("25 bad lines, nothing imported")
    assert lines[1].endswith(":2: missing field timestamp") and lines[10].endswith(":11: missing field timestamp")
    assert lines[-1].strip() == "... and 15 more" and len(lines) == 12


def test_blank_lines_and_extra_attributes_are_fine(tmp_path, db, rows):
    f = tmp_path / "e.ndjson"
    f.write_text("\n" + "\n\n".join(json.dumps({**r, "appName": "ai-service"}) for r in rows[:4]) + "\n\n")
    assert import_ndjson(f, db) == 4


def test_window_is_half_open(tmp_path, db):
    rows = events(120, "canary", start=T0, span=timedelta(hours=2))
    import_ndjson(write_ndjson(tmp_path / "e.ndjson", rows), db)
    first = SQLiteEventSource(db).fetch(CATALOG, T0, T0 + timedelta(hours=1)).cohort("canary")
    second = SQLiteEventSource(db).fetch(CATALOG, T0 + timedelta(hours=1), T0 + timedelta(hours=2)).cohort("canary")
    assert first.requests + second.requests == 120 and 50 < first.requests < 70


def test_no_events_is_no_data_not_failure(tmp_path, db):
    sqlite3.connect(db).close()                 # a store file with no events table yet
    obs = SQLiteEventSource(db).fetch(CATALOG, *HOUR)
    assert obs.errors == {} and obs.cohort("canary").requests == 0
    assert obs.cohort("canary").values["skill_error_rate"] is None
    import_ndjson(write_ndjson(tmp_path / "e.ndjson", events(10, "canary")), db)
    later = SQLiteEventSource(db).fetch(CATALOG, T0 + timedelta(days=1), T0 + timedelta(days=2))
    assert later.cohort("control").requests == 0 and later.errors == {}


def test_missing_database_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        SQLiteEventSource(tmp_path / "nope.db").fetch(CATALOG, *HOUR)


def test_rows_changed_by_hand_are_still_read_correctly(tmp_path, db, rows):
    import_ndjson(write_ndjson(tmp_path / "e.ndjson", rows), db)
    with sqlite3.connect(db) as c:              # someone fixes data with plain SQL
        c.execute("UPDATE skill_events SET success = 0 WHERE cohort = 'canary'")
    assert segments(db) == (0, 0)               # the packed copy is dropped...
    obs = SQLiteEventSource(db).fetch(CATALOG, *HOUR)
    assert obs.cohort("canary").values["skill_error_rate"] == 100.0   # ...and rows are read
    import_ndjson(write_ndjson(tmp_path / "none.ndjson", []), db)
    assert segments(db)[1] == len(rows)         # the next import repacks
    assert SQLiteEventSource(db).fetch(CATALOG, *HOUR).cohort("canary").values["skill_error_rate"] == 100.0


def test_default_source_is_the_store_file(tmp_path, db, rows):
    import_ndjson(write_ndjson(tmp_path / "e.ndjson", rows[:5]), db)
    source = open_source(None, f"sqlite:///{db}")
    assert source.fetch(CATALOG, *HOUR).cohort("canary").requests + \
        source.fetch(CATALOG, *HOUR).cohort("control").requests == 5
    with pytest.raises(UserError, match="pass --metrics"):
        open_source(None, "postgres://rollout@db/prod")
    with pytest.raises(UserError, match="unknown scheme"):
        open_source("prometheus://x", "sqlite:///x.db")

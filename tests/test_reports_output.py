"""`rollout report` output: the timeline chart (SVG), the seed's review template, the New
Relic report source against a local server speaking NerdGraph, and the command line, on
the rehearsal of tests/report_rehearsal.py.
"""
from __future__ import annotations

import json
import math
import re
import shutil
import sqlite3
import threading
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from rollout.adapters.reportdata.sqlite import SQLiteReportSource
from rollout.adapters.store import open_store
from rollout.core import reports
from rollout.core.catalog import load_catalog
from rollout.core.reports.review_template import fill
from rollout.core.reports.summaries import Window
from tests.drill_cache import drill
from tests.cli import ROOT, make_repo, rollout
from tests.report_rehearsal import (ABORT_REASON, D, END, FLAG, H, HOLD_REASON, RETRY_REASON,
                                    SPIKE, T0, pick, ref)
from tests.seeds import seed

def test_review_template_keeps_the_seed_structure():
    template = (ROOT / "rollout/data/post_deployment_review.md").read_text()
    blank = fill(template, {})
    assert "{{" not in blank and "{{/}}" not in blank
    headings = [l for l in blank.splitlines() if l.startswith("#")]
    assert headings[0] == "# Post-Deployment Review Template" and "## 11. Acceptance Criteria Validation" in headings
    assert len(headings) == 52


def test_review_template_without_values_is_the_seed_character_for_character():
    template = (ROOT / "rollout/data/post_deployment_review.md").read_text()
    assert fill(template, {}) == seed("000").read_text()      # skips without the seeds, fails under CI



# -- the chart ----------------------------------------------------------------------------------

def test_timeline_svg_is_valid_and_marks_the_events(rehearsal, tmp_path):
    from rollout.core.reports import chart

    catalog = load_catalog()
    with open_store(rehearsal["url"]) as store:
        history = store.history(FLAG)
    p = reports.plan("review", rehearsal["state"], history, END)
    w, bucket = p.chart.window, p.chart.bucket
    buckets = SQLiteReportSource(rehearsal["path"]).series(catalog, w.start, w.end, bucket,
                                                            reports.SERIES_METRICS)
    assert bucket == timedelta(hours=12) and len(buckets) == math.ceil((w.end - w.start) / bucket) == 31
    spike = next(b for b in buckets if b.start <= SPIKE[0] < b.end)
    in_spike = pick(rehearsal["rows"], spike.start, spike.end, "canary")
    assert spike.cohort("canary").requests == len(in_spike)
    assert spike.cohort("canary").values[reports.ERROR_RATE] == pytest.approx(ref(in_spike)["error_rate"])
    svg = chart.render(FLAG, reports.timeline(rehearsal["state"], history, END), buckets,
                       catalog, w.start, w.end, (p.main.start, p.main.end))
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    titles = [t.text for t in root.iter(f"{ns}title")]
    assert f"2026-11-07 09:00 UTC rollback: {ABORT_REASON}" in titles
    assert f"2026-11-04 09:00 UTC held: {HOLD_REASON}" in titles
    assert f"2026-11-07 15:00 UTC retry: {RETRY_REASON}" in titles
    texts = {t.text for t in root.iter(f"{ns}text")}
    assert {"rollback 5 %", "target 2 %", "target 5 s", "rollback 10 s", "5%", "25%", "100%"} <= texts
    assert len([e for e in root.iter(f"{ns}polyline")]) >= 5


# -- New Relic, against a local server speaking NerdGraph ---------------------------------------

class _NerdGraph(BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append((self.headers.get("API-Key"), body))
        query = body["query"]
        aliases = re.findall(r"(\w+): nrql\(query: \"((?:[^\"\\]|\\.)*)\"", query)
        account = {}
        for alias, nrql in aliases:
            if "FACET cohort, model" in nrql:
                rows = [{"facet": ["canary", "claude-3-5-haiku"], "requests": 60, "cost": 0.84},
                        {"facet": ["canary", "claude-sonnet-4-5"], "requests": 40, "cost": 0.88},
                        {"facet": ["control", "claude-sonnet-4-5"], "requests": 900, "cost": 27.0}]
            elif "SyntheticCheck" in nrql:
                rows = [{"uptime": 99.95, "checks": 2880}]
            elif "FROM (SELECT" in nrql:
                rows = [{"peak": 41}]
            elif "TIMESERIES" in nrql:
                begin = int(datetime(2026, 11, 10, 9, tzinfo=timezone.utc).timestamp())
                rows = [{"beginTimeSeconds": begin + 3600 * i, "endTimeSeconds": begin + 3600 * (i + 1),
                         "facet": c, "cohort": c, "requests": 50, "skill_error_rate": 1.0 + i,
                         "p95_response_time": {"95": 3000.0}} for i in range(2) for c in ("canary", "control")]
            else:
                rows = [{"facet": "canary", "cohort": "canary", "requests": 100, "p50": {"50": 1400.0},
                         "p99": {"99": 6100.0}, "max": 9000.0, "cost_total": 1.72, "under_0": 97.0,
                         "under_1": 100.0, "skill_error_rate": 1.0, "p95_response_time": {"95": 3500.0},
                         "cost_per_request": 0.0172},
                        {"facet": "control", "cohort": "control", "requests": 900, "p50": {"50": 1800.0},
                         "skill_error_rate": 0.9, "p95_response_time": {"95": 3900.0},
                         "cost_per_request": 0.03, "cost_total": 27.0}]
            account[alias] = {"results": rows}
        data = json.dumps({"data": {"actor": {"account": account}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def nerdgraph():
    _NerdGraph.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _NerdGraph)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/graphql"
    server.shutdown()


def test_newrelic_report_source_one_request_for_all_windows(nerdgraph):
    from rollout.adapters.metrics.newrelic import NewRelicSource
    from rollout.adapters.reportdata.newrelic import NewRelicReportSource

    catalog = load_catalog()
    src = NewRelicReportSource(NewRelicSource(1234567, "NRAK-test", nerdgraph))
    windows = {"main": Window(T0, T0 + D), "baseline": Window(T0 - 7 * D, T0 + D)}
    got = src.summaries(catalog, windows, reports.latency_limits(catalog))
    assert len(_NerdGraph.bodies) == 1
    key, body = _NerdGraph.bodies[0]
    assert key == "NRAK-test" and body["variables"] == {"account": 1234567}
    q = body["query"]
    assert f"SINCE {int(T0.timestamp() * 1000)} UNTIL {int((T0 + D).timestamp() * 1000)}" in q
    assert "percentage(count(*), WHERE executionTime < 5000) AS 'under_0'" in q
    assert "percentage(count(*), WHERE success IS FALSE) AS 'skill_error_rate'" in q
    health = catalog.metrics["service_health"].nrql_override      # its monitor, without the result
    monitor = health[health.index(" FROM SyntheticCheck WHERE ") + len(" FROM SyntheticCheck "):]
    assert ("SELECT percentage(count(*), WHERE result = 'SUCCESS') AS 'uptime', count(*) AS 'checks' "
            f"FROM SyntheticCheck {monitor} SINCE") in q.replace('\\"', '"')
    assert "FROM (SELECT count(*) AS n FROM SkillExecution TIMESERIES 1 minute)" in q
    main = got["main"]
    can = main.cohort("canary")
    assert (can.requests, can.p50, can.p99, can.max, can.cost_total) == (100, 1400.0, 6100.0, 9000.0, 1.72)
    assert can.under == {5000.0: 97.0, 10000.0: 100.0}
    assert can.value("p95_response_time") == 3500.0 and can.value("skill_error_rate") == 1.0
    assert can.models["claude-3-5-haiku"].requests == 60 and can.models["claude-3-5-haiku"].cost == 0.84
    assert main.cohort("control").requests == 900
    assert main.uptime.percent == 99.95 and main.uptime.outages is None
    assert main.peak_per_minute == 41 and main.errors == {}
    assert reports.savings(catalog, can, main.cohort("control")) == pytest.approx(42.666666, rel=1e-5)
    buckets = src.series(catalog, datetime(2026, 11, 10, 9, tzinfo=timezone.utc),
                         datetime(2026, 11, 10, 11, tzinfo=timezone.utc), H, reports.SERIES_METRICS)
    assert [b.cohort("canary").values["skill_error_rate"] for b in buckets] == [1.0, 2.0]
    assert "TIMESERIES 60 minutes" in _NerdGraph.bodies[1][1]["query"]


# -- the command line ---------------------------------------------------------------------------

@pytest.fixture
def repo(tmp_path, rehearsal):
    repo = make_repo(tmp_path)
    shutil.copy(rehearsal["path"], repo / "flags.db")
    return repo


def test_cli_daily_json_matches_and_markdown_prints(repo, rehearsal):
    at = T0 + 2 * D + 9 * H
    r = rollout(["report", "daily", FLAG, "--store", "sqlite:///flags.db", "--at", at.isoformat(),
                 "--output", "json"], repo)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    can = ref(pick(rehearsal["rows"], at - D, at, "canary"))
    s = {l["key"]: l for l in got["summary"]}
    assert s["requests"]["value"] == can["n"]
    assert s["error_rate"]["value"] == pytest.approx(can["error_rate"])
    assert s["p95"]["value"] == pytest.approx(can["p95"])
    assert got["recommendation"]["verdict"] == "hold"         # not yet enough evidence
    md = rollout(["report", "daily", FLAG, "--store", "sqlite:///flags.db", "--at", at.isoformat()], repo)
    assert md.returncode == 0 and md.stdout.startswith("## Canary Report - Day 3\n")


def test_cli_output_dir_writes_report_and_chart(repo):
    r = rollout(["report", "final", FLAG, "--store", "sqlite:///flags.db", "--at", END.isoformat(),
                 "--output-dir", "reports"], repo)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["reports/final-skills_rollout-2026-11-16.md",
                                "reports/final-skills_rollout-2026-11-16.svg"]
    md = (repo / "reports/final-skills_rollout-2026-11-16.md").read_text()
    assert "](final-skills_rollout-2026-11-16.svg)" in md and "**Verdict: ALL DATA CRITERIA MET**" in md
    ET.fromstring((repo / "reports/final-skills_rollout-2026-11-16.svg").read_text())
    review = rollout(["report", "review", FLAG, "--store", "sqlite:///flags.db", "--at", END.isoformat(),
                      "--chart", "out/review.svg"], repo)
    assert review.returncode == 0, review.stderr
    assert "![Rollout timeline](out/review.svg)" in review.stdout and (repo / "out/review.svg").exists()


@pytest.mark.parametrize("args, code, message", [
    (["report", "weekly", FLAG], 2, "invalid choice: 'weekly'"),
    (["report", "daily", "nope"], 2, "flag 'nope': no file rollout/flags/nope.yaml"),
    (["report", "daily", FLAG, "--at", "yesterday"], 2, "--at 'yesterday': expected an ISO-8601 time"),
    (["report", "daily", FLAG, "--window", "1w"], 2, "--window: expected a duration"),
    (["report", "daily", FLAG, "--metrics", "sqlite:///garbage.db"], 4, "events database garbage.db"),
    (["report", "daily", FLAG, "--metrics", "ftp://x"], 2, "unknown scheme 'ftp'"),
])
def test_cli_bad_input_and_failing_source(repo, args, code, message):
    (repo / "garbage.db").write_bytes(b"this is not a database" * 100)
    r = rollout(args + ["--store", "sqlite:///flags.db"], repo)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert message in r.stderr.strip().splitlines()[-1]
    assert "Traceback" not in r.stderr


def test_cli_report_after_a_drill(tmp_path_factory, tmp_path):
    """`rollout drill --store` then `rollout report` on that rehearsal: its own numbers
    (the run's shared rehearsal, tests/drill_cache.py)."""
    repo = make_repo(tmp_path)
    # the drill's default traffic: every minute holds requests, so the SLA's uptime is met
    done = drill(tmp_path_factory, "none", rate="2400")
    done.copy_to(repo)
    end = datetime.fromisoformat(done.summary["simulated"]["end"])
    r = rollout(["report", "final", FLAG, "--store", "sqlite:///drill.db", "--at", "latest",
                 "--output", "json"], repo)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["applied"] == 100 and got["verdict"] == "ALL DATA CRITERIA MET"
    assert datetime.fromisoformat(got["at"]) >= end - timedelta(minutes=15)
    db = sqlite3.connect(repo / "drill.db")
    start = datetime.fromisoformat(got["window"]["start"])
    at = datetime.fromisoformat(got["at"])
    n, fails = db.execute("SELECT count(*), sum(success = 0) FROM skill_events WHERE cohort = 'canary' "
                          "AND timestamp >= ? AND timestamp < ?",
                          (round(start.timestamp() * 1000), round(at.timestamp() * 1000))).fetchone()
    assert {l["key"]: l for l in got["items"]}["error_rate"]["value"] == pytest.approx(100 * fails / n)

"""The gate beside the pre-rollout baseline (issue 12 item 3): a passing `baseline` row of
the flag's history, recorded by the evaluation time, is shown beside "vs control" in the
table, the pull-request comment and the JSON; it decides nothing, and without one the
gate's outputs are exactly as before."""
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from rollout.core.baseline import baseline_evidence, baseline_event
from rollout.core.gate_render import BASELINE_COLUMN, render_json, render_markdown, render_table
from rollout.core.observations import CohortData, Observations
from rollout.core.state import APPLIED, Event
from rollout.flagfiles import load_flag
from rollout.gate_run import gate_result
from tests.cli import ROOT, make_repo, rollout, set_percentage
from tests.events import CONTROL as CONTROL_PROFILE
from tests.events import events, write_ndjson
from tests.test_gate import CATALOG, END, observe

FLAG = "skills_rollout"
STATE = replace(load_flag(ROOT / "rollout/flags/skills_rollout.yaml", "rev-1"), preflight=())
STEP_UP = END - timedelta(hours=80)          # the canary step began here: its soak is served
# what the control cohort did in the 7 days before the first step
BEFORE = {"skill_error_rate": 0.5, "skills_api_success": 99.5, "p95_response_time": 3000.0,
          "avg_response_time": 1800.0, "cost_per_request": 0.03, "cache_hit_rate": 30.0,
          "token_reduction": 0.0, "fallback_rate": 0.0, "timeout_rate": 0.2}


class Steady:
    """A metric source whose step is the gate tests' healthy canary."""

    def fetch(self, catalog, start, end):
        return observe()


def baseline_row(at, *, values=BEFORE, requests=5000, drop=()):
    """A `baseline` history row as `rollout baseline capture` records it: failed when it
    saw fewer than the catalog's min_requests; `drop` leaves metrics out of it (a
    baseline captured before the catalog measured them)."""
    window = Observations(at - timedelta(days=7), at,
                          {"canary": CohortData(0, {}), "control": CohortData(requests, values)}, {})
    evidence = baseline_evidence(CATALOG, window, None, days=7, source="newrelic://1234567")
    for name in drop:
        del evidence["values"][name]
    return baseline_event(STATE, evidence, at, commit="c0", actor="tester")


def history(*baselines):
    step_up = Event(FLAG, STEP_UP, APPLIED, 0, 5, ("step up",), "rev-1", "c1", "tester")
    return [*baselines, step_up]


def judged(rows):
    return gate_result(replace(STATE, percentage=5), 5, rows, Steady(), END, catalog=CATALOG)


PASSED = STEP_UP - timedelta(hours=1)
CASES = [
    # name, history, shown (p95's baseline, or None: no baseline), p95 cell
    ("none", history(), None, None),
    ("passing", history(baseline_row(PASSED)), 3000.0, "3,000 ms, +600 ms"),
    ("lacks the metric", history(baseline_row(PASSED, drop=["p95_response_time"])), None,
     "—"),
    ("failed only", history(baseline_row(PASSED, requests=10)), None, None),
    ("failed after a passing one", history(baseline_row(PASSED - timedelta(days=1)),
                                           baseline_row(PASSED, requests=10)),
     3000.0, "3,000 ms, +600 ms"),
    ("recorded after the evaluation", history(baseline_row(END + timedelta(hours=1))), None,
     None),
]


@pytest.mark.parametrize("name, rows, p95_base, p95_cell", CASES, ids=[c[0] for c in CASES])
def test_the_gate_beside_the_baseline(name, rows, p95_base, p95_cell):
    result = judged(rows)
    plain = judged(history())
    # it decides nothing: the same verdict and checks as without it
    assert (result.verdict, result.code, result.checks) == (plain.verdict, plain.code,
                                                            plain.checks)
    doc = json.loads(render_json(result))
    md, table = render_markdown(result, CATALOG), render_table(result, CATALOG)
    if p95_cell is None:                      # no passing baseline by then: nothing changes
        assert result.baseline is None
        assert (doc, md, table) == (json.loads(render_json(plain)),
                                    render_markdown(plain, CATALOG), render_table(plain, CATALOG))
        assert "baseline" not in json.dumps(doc) and BASELINE_COLUMN not in md + table
        return
    assert doc["baseline"]["description"].startswith("pre-rollout baseline: 7 days to ")
    assert doc["baseline"]["recorded_at"] < END.isoformat()
    checks = {c["name"]: c for c in doc["checks"]}
    assert all("baseline" in c for c in doc["checks"])
    p95 = checks["p95_response_time"]["baseline"]
    assert (p95 and p95["baseline"], p95 and p95["delta"]) == (
        (p95_base, 600.0) if p95_base else (None, None))
    # the canary of both checks of a metric, vs control and vs the baseline
    assert checks["skill_error_rate"]["baseline"] == checks["skill_error_rate vs control"][
        "baseline"] == {"metric": "skill_error_rate", "unit": "percent", "value": 0.6,
                        "baseline": 0.5, "delta": 0.1, "worse": True}
    # nothing to compare: the soak, a derived metric, the service-level ones
    for none in ("soak", "cost_savings", "memory_usage", "service_health"):
        assert checks[none]["baseline"] is None
    header = next(l for l in md.splitlines() if l.startswith("| Metric"))
    assert header == f"| Metric | Canary | Control | Δ | {BASELINE_COLUMN} | Target | " \
                     f"Threshold | Verdict |"
    row = next(l for l in md.splitlines() if l.startswith("| Response time (p95) "))
    assert row.split(" | ")[4] == p95_cell
    assert f"_{doc['baseline']['description']}_" in md
    assert BASELINE_COLUMN in table.splitlines()[3] and p95_cell in table
    assert table.splitlines()[1] == doc["baseline"]["description"]


def test_rollout_gate_shows_the_captured_baseline(tmp_path):
    """End to end on the embedded store: a capture over the day before the first step,
    then `rollout gate` in its three outputs."""
    repo = make_repo(tmp_path)
    first = "2026-11-17T01:00:00Z"
    rows = (events(600, "control", CONTROL_PROFILE, start=END - timedelta(days=4),
                   span=timedelta(hours=15), seed=2)
            + events(3000, "canary", start=END - timedelta(hours=1))
            + events(3000, "control", CONTROL_PROFILE, start=END - timedelta(hours=1)))
    assert rollout(["events", "import", str(write_ndjson(repo / "e.ndjson", rows))],
                   repo).returncode == 0
    cap = rollout(["baseline", "capture", FLAG, "--days", "1", "--at", first], repo,
                  {"ROLLOUT_NOW": first})
    assert cap.returncode == 0, cap.stderr
    assert rollout(["reconcile"], repo, {"ROLLOUT_NOW": first}).returncode == 0
    set_percentage(repo, 5)
    assert rollout(["reconcile"], repo, {"ROLLOUT_NOW": first}).returncode == 0

    at = ["gate", FLAG, "--at", END.isoformat()]
    r = rollout([*at, "-o", "json"], repo)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["baseline"]["description"].startswith("pre-rollout baseline: 1 day to "
                                                     "2026-11-17 01:00 UTC (control, 600 ")
    base = {c["name"]: c["baseline"] for c in doc["checks"]}["skill_error_rate"]
    assert base["value"] == {c["name"]: c["canary"] for c in doc["checks"]}["skill_error_rate"]
    assert base["delta"] == pytest.approx(base["value"] - base["baseline"], abs=1e-6)
    md = rollout([*at, "-o", "markdown"], repo).stdout
    assert f"| Δ | {BASELINE_COLUMN} |" in md and "_pre-rollout baseline: 1 day" in md
    assert BASELINE_COLUMN in rollout(at, repo).stdout


def test_the_status_page_shows_the_baseline_column_as_the_comment():
    """The page renders a gate's JSON (fresh, or recorded in an abort) through the comment's
    cells; a recorded comparison it cannot read shows as '—', never breaks the page."""
    from rollout.core.flag_view import build_view
    from rollout.core.state import Applied
    from rollout.serve.page_html import card

    rows = history(baseline_row(PASSED))
    doc = judged(rows).to_json()
    doc["checks"][2]["baseline"] = {"metric": "x", "unit": "ms", "value": "<b>", "delta": []}
    view = build_view(replace(STATE, percentage=5), Applied(FLAG, 5, True, 2), rows, END,
                      catalog=CATALOG, gate=doc)
    cells = {r.metric: r.baseline for r in view.gate.rows}
    assert cells["Response time (p95)"] == "3,000 ms, +600 ms" and cells["Soak"] == "—"
    assert cells["Skill error rate vs control"] == "—"
    assert view.to_json()["gate"]["baseline"] == doc["baseline"]["description"]
    html = card(view)
    assert f'<th scope="col">{BASELINE_COLUMN}</th>' in html and "<td>3,000 ms, +600 ms</td>" in html
    assert "&lt;b&gt;" not in html and "<b>" not in html
    assert "pre-rollout baseline: 7 days to " in html

    plain = build_view(replace(STATE, percentage=5), Applied(FLAG, 5, True, 2), history(), END,
                       catalog=CATALOG, gate=judged(history()).to_json())
    assert BASELINE_COLUMN not in card(plain) and "baseline" not in plain.to_json()["gate"]

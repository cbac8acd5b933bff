"""The guard never hides a blind spot: a live flag it could not judge makes the run exit 4
(a rollback elsewhere still wins with 3); a metric the source never measures is said
once and is not a failure; one invalid flag file does not stop the others being judged."""
import json
import os
import sqlite3
from datetime import timedelta

import numpy as np
import pytest

from rollout.drill import CANARY, FAULTY, generate_events
from tests.fakes.newrelic import API_KEY, FakeNerdGraph
from tests.faults.conftest import (FLAG, NOW, add_traffic, at, flag_row, here,
                                   rollout)
from tests.cli import git

NR_FAULTS = {
    # what New Relic answers -> (fake setup, words the one line must hold)
    "401": (lambda nr: nr.fail_next(401, times=9, body={"errors": [{"message": "Invalid API key"}]}),
            "API key was refused"),
    "graphql-errors": (lambda nr: nr.graphql_errors_next.extend(
        [[{"message": "Account not found", "extensions": {"errorClass": "NOT_FOUND"}}]] * 9),
        "Account not found"),
    "not-json": (lambda nr: nr.fail_next(200, times=9, body="<html>gateway</html>"),
                 "not JSON"),
    "json-null": (lambda nr: nr.fail_next(200, times=9, body="null",
                                          headers={"Content-Type": "application/json"}),
                  "JSON NoneType"),
    "json-list": (lambda nr: nr.fail_next(200, times=9, body=[]), "JSON list"),
    "results-not-a-list": (lambda nr: nr.fail_next(200, times=9, body={
        "data": {"actor": {"account": {"requests": {"results": 7}}}}}), "not a list of rows"),
}


SLOW_FAULTS = {"not-json", "json-list"}      # same paths as json-null; in make test-slow


@pytest.mark.parametrize("fault", [pytest.param(f, marks=pytest.mark.slow) if f in SLOW_FAULTS
                                   else f for f in NR_FAULTS])
def test_new_relic_failing_makes_the_guard_exit_4_never_green(live, fault):
    setup, words = NR_FAULTS[fault]
    with FakeNerdGraph() as nr:
        setup(nr)
        r = rollout(["guard", "--once", "--metrics", f"newrelic://{nr.account_id}", "-o", "json"],
                    live, {**at(NOW), "NEW_RELIC_API_KEY": API_KEY, "NEW_RELIC_API_URL": nr.url,
                           "ROLLOUT_HTTP_ATTEMPTS": "1"})
    assert r.returncode == 4, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    out = json.loads(r.stdout)[0]
    assert out["action"] == "held" and out["blind"] and words in out["blind_reason"]
    assert [l for l in r.stderr.splitlines() if "NOT JUDGED" in l] == \
        [f"  {FLAG}: NOT JUDGED (exit 4): {out['blind_reason']}"]
    assert flag_row(live / ".rollout/flags.db") == (5,)     # held, never rolled back


class ExtraNumbers(FakeNerdGraph):
    """Rows that carry other numbers before the aggregate (a numeric facet, a weight):
    read by position they gave `math domain error`; read by name they are harmless."""

    def handle(self, req):
        status, headers, body = super().handle(req)
        for answer in ((body.get("data") or {}).get("actor") or {}).get("account", {}).values():
            for row in (answer or {}).get("results") or []:
                row_items = list(row.items())
                row.clear()
                row.update({"weight": -3.5, "region": 2, **dict(row_items)})
        return status, headers, body


def test_values_are_read_by_aggregate_name_not_position(live):
    events = generate_events(np.random.default_rng(3), NOW - timedelta(hours=1),
                             timedelta(hours=1), 3000, 5, lambda c: CANARY)
    with ExtraNumbers(events) as nr:
        r = rollout(["guard", "--once", "--metrics", f"newrelic://{nr.account_id}", "-o", "json"],
                    live, {**at(NOW), "NEW_RELIC_API_KEY": API_KEY, "NEW_RELIC_API_URL": nr.url})
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)[0]
    assert out["action"] in ("healthy", "held") and not out["blind"], out


def test_a_metric_the_source_never_measures_is_said_once_not_a_failure(live):
    add_traffic(live / ".rollout/flags.db", CANARY)
    r = rollout(["guard", "--once"], live, at(NOW))
    assert r.returncode == 0, r.stdout + r.stderr
    notes = [l for l in r.stdout.splitlines() if "not judged:" in l]
    assert len(notes) == len(set(notes)) >= 1 and any("memory_usage" in l for l in notes)
    assert "NOT JUDGED" not in r.stderr


def second_flag(repo, name="other_flag"):
    text = (repo / "rollout/flags/skills_rollout.yaml").read_text()
    (repo / f"rollout/flags/{name}.yaml").write_text(text.replace("flag: skills_rollout",
                                                                  f"flag: {name}"))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", f"add {name}")


def test_a_store_failure_on_one_flag_is_4_but_a_rollback_on_another_is_3(live):
    second_flag(live)
    assert here(["reconcile"], live, at(NOW)) == 0           # other_flag goes live at 5 %
    db = live / ".rollout/flags.db"
    with sqlite3.connect(db) as c:                            # one damaged history row
        c.execute("INSERT INTO rollout_history (flag, at, kind, reasons, evidence) VALUES "
                  "('other_flag', '2026-11-05T09:00:00+00:00', 'held', '[broken', '{}')")
    add_traffic(db, FAULTY["error-rate"])
    r = rollout(["guard", "--once", "-o", "json"], live, at(NOW))
    assert r.returncode == 3, r.stdout + r.stderr                 # the rollback is the news
    out = {o["flag"]: o for o in json.loads(r.stdout)}
    assert out[FLAG]["action"] == "rolled_back"
    assert out["other_flag"]["action"] == "error" and out["other_flag"]["blind"]
    assert "history row" in out["other_flag"]["blind_reason"] and "field reasons: invalid JSON" \
        in out["other_flag"]["blind_reason"]
    assert flag_row(db) == (0,) and flag_row(db, "other_flag") == (5,)


def test_an_invalid_flag_file_is_reported_after_the_others_were_judged(live):
    flags = live / "rollout/flags"
    (flags / "new_flag.yaml").write_text("flag: new_flag\npercentage: 7\nladder: []\n")
    os.mkfifo(flags / "piped.yml")                 # would hang a reader forever
    add_traffic(live / ".rollout/flags.db", FAULTY["error-rate"])
    r = rollout(["guard", "--once", "-o", "json"], live, at(NOW))
    assert r.returncode == 3, r.stdout + r.stderr  # the rollback of the valid flag still happened
    assert [o["flag"] for o in json.loads(r.stdout)] == [FLAG]
    errors = [l for l in r.stderr.splitlines() if l.startswith("rollout guard:")]
    assert len(errors) == 2 and any("new_flag.yaml" in e for e in errors) \
        and any("piped.yml: is a FIFO" in e for e in errors)
    # with nothing to roll back, the invalid file makes the run exit 2, after judging
    r = rollout(["guard", "--once", "-o", "json"], live, at(NOW))
    assert r.returncode == 2, r.stdout + r.stderr
    assert json.loads(r.stdout)[0]["action"] == "skipped"

"""The readiness gate through the real commands: the committed flag file's `preflight:`
block holds the 0 -> 5 % pull request (`rollout validate --base`) and its apply
(`rollout reconcile`) until the evidence rows the commands write are in the store."""
import json
from datetime import timedelta
from pathlib import Path

from rollout.adapters.store import open_store
from rollout.core.catalog import load_catalog
from rollout.core.perfbudget import judge
from rollout.drill_staging import drill_event
from rollout.flagfiles import load_flag
from rollout.loadtest.record import loadtest_event
from tests.cli import git, make_repo, rollout, set_percentage, without_preflight
from tests.events import CONTROL, T0, events, write_ndjson

NOW = T0 + timedelta(days=8)
ENV = {"ROLLOUT_NOW": NOW.isoformat()}
FLAG = "skills_rollout"


def store(repo):
    return f"sqlite:///{repo}/prod.db"


def record_loadtest(repo, profile="seed", passed=True):
    state = load_flag(repo / "rollout/flags/skills_rollout.yaml")
    figures = {"requests": 1000, "failures": 0 if passed else 50, "no_answer": 0,
               "p50_ms": 800, "p95_ms": 3000, "p99_ms": 6000, "rps": 100.0,
               "error_rate": 0.0 if passed else 5.0, "success_rate": 100.0 if passed else 95.0}
    summary = {"profile": profile, "target": "https://staging.example.com", "overall": figures,
               "scenarios": {}, "started_at": "s", "ended_at": "e", "seconds": 1140.0}
    budget = load_catalog().performance_budget
    with open_store(store(repo)) as s:
        s.record(loadtest_event(state, summary, judge(budget, figures, {}), budget, Path("out"),
                                NOW - timedelta(days=1), commit="c", actor="ci"))


def record_drill(repo):
    state = load_flag(repo / "rollout/flags/skills_rollout.yaml")
    summary = {"fault": "error-rate", "rolled_back": True, "final_percentage": 0,
               "fault_to_rollback_minutes": 30, "guard_interval_minutes": 30,
               "detection_to_rollback_ms": 80.0, "simulated": {}}
    with open_store(store(repo)) as s:
        s.record(drill_event(state, summary, True, store_label="postgres://ro@staging/rollout",
                             drill_flag_name="skills_rollout__drill_x", at=NOW - timedelta(days=2),
                             commit="c", actor="ci", seed=7, rate=2400))


def capture_baseline(repo, tmp_path):
    write_ndjson(tmp_path / "e.ndjson", events(700, "control", CONTROL, start=T0,
                                               span=timedelta(days=7)))
    ev = f"sqlite:///{tmp_path}/events.db"
    assert rollout(["events", "import", str(tmp_path / "e.ndjson"), "--store", ev], repo).returncode == 0
    r = rollout(["baseline", "capture", FLAG, "--metrics", ev, "--store", store(repo),
                 "--at", (T0 + timedelta(days=7)).isoformat()], repo, ENV)
    assert r.returncode == 0, r.stderr


def test_the_first_step_waits_for_its_evidence(tmp_path):
    repo = make_repo(tmp_path, preflight=True)
    # `make run`: the committed 0 % needs no evidence
    assert rollout(["reconcile", "--store", store(repo)], repo, ENV).returncode == 0
    set_percentage(repo, 5)
    summary = tmp_path / "summary.md"

    v = rollout(["validate", "--base", "HEAD~1", "--store", store(repo)], repo,
                {**ENV, "GITHUB_STEP_SUMMARY": str(summary)})
    assert v.returncode == 1, v.stdout + v.stderr
    assert ": held: preflight loadtest missing: no load test (profile seed)" in v.stdout
    assert "preflight baseline missing" in v.stdout and "preflight drill missing" in v.stdout
    assert "| loadtest | ❌ missing |" in summary.read_text()

    for _ in range(2):          # the hold is recorded once, not once per run
        r = rollout(["reconcile", "--store", store(repo)], repo, ENV)
        assert r.returncode == 1 and "preflight drill missing" in r.stdout
    with open_store(store(repo)) as s:
        held = [e for e in s.history(FLAG) if e.kind == "held"]
        assert len(held) == 1 and (held[0].from_pct, held[0].to_pct) == (0, 5)
        assert s.read(FLAG).percentage == 0

    record_loadtest(repo, profile="smoke")          # not the profile the file asks for
    record_loadtest(repo, passed=False)
    capture_baseline(repo, tmp_path)
    record_drill(repo)
    v = rollout(["validate", "--base", "HEAD~1", "--store", store(repo)], repo, ENV)
    assert v.returncode == 1 and "preflight loadtest failed" in v.stdout
    assert "baseline" not in v.stdout and "drill" not in v.stdout    # those two pass

    record_loadtest(repo)
    v = rollout(["validate", "--base", "HEAD~1", "--store", store(repo)], repo, ENV)
    assert v.returncode == 0, v.stdout
    assert "ok: one step up 0% → 5% (canary); preflight evidence loadtest passing" in v.stdout
    r = rollout(["reconcile", "--store", store(repo), "-o", "json"], repo, ENV)
    assert r.returncode == 0, r.stdout
    (out,) = json.loads(r.stdout)["outcomes"]
    assert (out["action"], out["to"]) == ("apply", 5)
    assert any("preflight evidence loadtest passing" in x for x in out["reasons"])


def test_removing_the_block_in_the_same_pull_request_does_not_skip_it(tmp_path):
    repo = make_repo(tmp_path, preflight=True)
    path = repo / "rollout/flags/skills_rollout.yaml"
    path.write_text(without_preflight(path.read_text()))
    set_percentage(repo, 5)
    v = rollout(["validate", "--base", "HEAD~1", "--store", store(repo)], repo, ENV)
    assert v.returncode == 1 and "preflight loadtest missing" in v.stdout


def test_other_moves_do_not_open_the_store(tmp_path):
    repo = make_repo(tmp_path, preflight=True)
    git(repo, "commit", "-q", "--allow-empty", "-m", "nothing")
    bad = "postgres://nobody:pw@127.0.0.1:1/none"          # would fail if it were opened
    v = rollout(["validate", "--base", "HEAD~1", "--store", bad], repo, ENV)
    assert v.returncode == 0 and "percentage unchanged" in v.stdout

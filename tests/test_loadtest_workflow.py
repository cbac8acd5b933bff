""".github/workflows/preflight.yml, run locally: its steps' scripts, exactly as written,
with bash as GitHub runs them, each `${{ … }}` replaced by a local stand-in (the fake
skills service as staging, a real PostgreSQL as the staging store, SQLite as the
production store, a fake NerdGraph, a compressed profile for `inputs.profile`).

The generic workflow harness (tests/test_workflow_commands.py) leaves this workflow to
this file: the seed's profile takes 19 minutes against a service the runner lacks.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from datetime import datetime, timedelta, timezone

import yaml

from rollout.adapters.store import open_store
from rollout.core.state import BASELINE, DRILL, LOADTEST
from rollout.loadtest.profiles import PROFILES
from tests import pg
from tests.cli import ROOT
from tests.events import CONTROL, events
from tests.fakes.newrelic import API_KEY, FakeNerdGraph
from tests.fakes.skills_service import FakeSkillsService

WORKFLOW = ROOT / ".github/workflows/preflight.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
BIN = Path(sys.executable).parent      # where `pip install -e .` put `rollout`


def steps(job: str = "preflight") -> dict[str, dict]:
    found = yaml.safe_load(WORKFLOW.read_text())["jobs"][job]
    return {s.get("name", s.get("uses", "").split("@")[0]): s for s in found["steps"]}


def run_step(step: dict, stand_ins: dict, temp: Path, local: dict | None = None
             ) -> subprocess.CompletedProcess:
    """`local`: endpoints the runner would reach that a laptop must not (NEW_RELIC_API_URL)."""
    env = {}
    for key, value in (step.get("env") or {}).items():
        for expr in EXPRESSION.findall(str(value)):
            assert expr in stand_ins, f"no stand-in for ${{{{ {expr} }}}}"
        env[key] = EXPRESSION.sub(lambda m: stand_ins[m[1]], str(value))
    script = temp.parent / "step.sh"
    script.write_text(step["run"])
    runner = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp"),
              "RUNNER_TEMP": str(temp), "GITHUB_STEP_SUMMARY": str(temp / "step_summary"),
              "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "42", "GITHUB_REPOSITORY": "acme/ops",
              "GITHUB_SERVER_URL": "https://github.com", "LANG": "C.UTF-8"}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-u", str(script)],
                          cwd=ROOT, env={**runner, **(local or {}), **env}, capture_output=True,
                          text=True, timeout=120)


def test_preflight_is_manual_with_the_built_in_profiles():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    inputs = workflow[True]["workflow_dispatch"]["inputs"]      # PyYAML reads `on` as True
    assert set(workflow[True]) == {"workflow_dispatch"}
    assert inputs["profile"]["options"] == list(PROFILES) and inputs["profile"]["default"] == "seed"
    assert (inputs["baseline"]["type"], inputs["baseline"]["default"]) == ("boolean", True)
    assert inputs["flag"]["default"] == "skills_rollout"
    jobs = workflow["jobs"]
    assert jobs["baseline"]["if"] == "github.ref == 'refs/heads/main' && inputs.baseline"
    # the summary job runs after the others whatever they did, and only on main
    assert jobs["readiness"]["needs"] == ["preflight", "baseline"]
    assert jobs["readiness"]["if"] == "${{ !cancelled() && github.ref == 'refs/heads/main' }}"
    s = steps()
    upload = s["Keep the HTML report"]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["path"] == "${{ runner.temp }}/loadtest/"
    assert upload["if"] == "${{ !cancelled() }}"
    assert s["Rollback drill (staging store)"]["if"] == "${{ !cancelled() }}"
    assert "vars.STAGING_URL" in s["Load test (staging)"]["env"]["STAGING_URL"]


def test_the_load_test_step_runs_records_and_writes_the_job_summary(tmp_path):
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    prof = tmp_path / "ci.yaml"
    prof.write_text("name: ci\npacing: 1s\nphases: [{name: sustained, duration: 4s, rate: 10}]\n")
    store = f"sqlite:///{tmp_path}/prod.db"
    token = "Bearer staging-token-1234"
    with FakeSkillsService(latency=0.01, auth=token) as svc:
        stand_ins = {"vars.STAGING_URL": svc.base_url, "inputs.profile": str(prof),
                     "inputs.flag": "skills_rollout",
                     "secrets.ROLLOUT_STORE": store, "secrets.STAGING_AUTHORIZATION": token}
        r = run_step(steps()["Load test (staging)"], stand_ins, temp)
        answered = svc.count
    assert r.returncode == 0, r.stdout + r.stderr
    assert answered >= 30
    # what the upload step keeps, and what the job summary shows
    assert {p.name for p in (temp / "loadtest").iterdir()} >= {"report.html", "summary.json"}
    summary = (temp / "step_summary").read_text()
    assert "### ✅ Load test `ci`" in summary and "| compliance_check |" in summary
    with open_store(store) as s:
        [row] = s.history("skills_rollout")
    assert row.kind == LOADTEST and row.evidence["run_url"] == "https://github.com/acme/ops/actions/runs/42"
    assert token.split()[1] not in r.stdout + r.stderr + summary


def test_a_missing_variable_or_secret_stops_the_step_before_any_load(tmp_path):
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    stand_ins = {"vars.STAGING_URL": "", "inputs.profile": "smoke", "inputs.flag": "skills_rollout",
                 "secrets.ROLLOUT_STORE": f"sqlite:///{tmp_path}/prod.db",
                 "secrets.STAGING_AUTHORIZATION": ""}
    r = run_step(steps()["Load test (staging)"], stand_ins, temp)
    assert r.returncode != 0 and "STAGING_URL is not set" in r.stderr
    assert not (temp / "loadtest").exists()


def test_the_drill_step_runs_against_the_staging_store_and_records_in_production(tmp_path):
    cluster = pg.cluster()
    staging = cluster.create_database()
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    prod = f"sqlite:///{tmp_path}/prod.db"
    try:
        r = run_step(steps()["Rollback drill (staging store)"],
                     {"secrets.STAGING_ROLLOUT_STORE": staging, "secrets.ROLLOUT_STORE": prod,
                      "inputs.flag": "skills_rollout"}, temp)
    finally:
        cluster.drop_database(staging)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rolled back: True" in r.stdout and "as the playbook requires" in r.stdout
    assert "recorded as `drill` evidence of skills_rollout" in r.stdout
    assert pg.PASSWORD not in r.stdout + r.stderr
    with open_store(prod) as s:
        [row] = s.history("skills_rollout")
    assert (row.kind, row.evidence["verdict"], row.evidence["tests"]) == (DRILL, "pass", "rollback")
    assert row.evidence["run_url"] == "https://github.com/acme/ops/actions/runs/42"


def test_a_missing_staging_store_stops_the_drill_step(tmp_path):
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    r = run_step(steps()["Rollback drill (staging store)"],
                 {"secrets.STAGING_ROLLOUT_STORE": "", "inputs.flag": "skills_rollout",
                  "secrets.ROLLOUT_STORE": f"sqlite:///{tmp_path}/prod.db"}, temp)
    assert r.returncode != 0 and "STAGING_ROLLOUT_STORE is not set" in r.stderr


def test_the_baseline_job_records_from_new_relic_then_the_summary_says_what_is_missing(tmp_path):
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    prod = f"sqlite:///{tmp_path}/prod.db"
    week = dict(start=datetime.now(timezone.utc) - timedelta(days=7), span=timedelta(days=7))
    with FakeNerdGraph(events(300, "control", CONTROL, **week)) as fake:
        stand_ins = {"inputs.flag": "skills_rollout", "secrets.ROLLOUT_STORE": prod,
                     "secrets.ROLLOUT_STORE_READONLY": prod,
                     "vars.ROLLOUT_METRICS": f"newrelic://{fake.account_id}",
                     "secrets.NEW_RELIC_API_KEY_READONLY": API_KEY}
        r = run_step(steps("baseline")["Capture the baseline (one NerdGraph request)"], stand_ins,
                     temp, {"NEW_RELIC_API_URL": fake.url})
        assert len(fake.requests) == 1
    assert r.returncode == 0, r.stdout + r.stderr
    assert API_KEY not in r.stdout + r.stderr
    with open_store(prod) as s:
        [row] = s.history("skills_rollout")
    assert (row.kind, row.evidence["requests"]) == (BASELINE, 300)

    r = run_step(steps("readiness")["Readiness of the first step (job summary)"], stand_ins, temp)
    assert r.returncode == 0, r.stdout + r.stderr        # not ready is an answer
    summary = (temp / "step_summary").read_text()
    assert "### Preflight evidence of `skills_rollout`'s first step: ⏸ held" in summary
    assert "| baseline | ✅ passing |" in summary and "| loadtest | ❌ missing |" in summary

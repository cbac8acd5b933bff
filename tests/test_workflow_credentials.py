"""What the workflows hand to the rollout commands and to pull-request code: the metric
source from one repository variable, and read-only or environment-guarded credentials
wherever pull-request code runs (docs/workflows.md, "Pull-request credentials")."""
from __future__ import annotations

import re

from tests.test_workflows import DOCS, SECRET_BY_NAME, WORKFLOW_FILES, load, steps_using
from tests.trees import strings

# ---------------------------------------------------------------- the metric source

VAR_BY_NAME = re.compile(r"\$\{\{\s*vars\.([A-Z][A-Z0-9_]*)\s*\}\}")


def merged_env(workflow: dict, job: dict, step: dict) -> dict:
    return {**(workflow.get("env") or {}), **(job.get("env") or {}), **(step.get("env") or {})}


def test_the_metric_source_is_one_repository_variable():
    """newrelic://ACCOUNT_ID[?region=eu] lives in `vars.ROLLOUT_METRICS` once, so an EU
    account reaches the gate, reconcile and guard alike; no workflow names a source itself."""
    metric_steps = 0
    for path in WORKFLOW_FILES:
        workflow = load(path.name)
        for key_path, value in strings(workflow):
            if key_path[-1] == "ROLLOUT_METRICS":
                assert value == "${{ vars.ROLLOUT_METRICS }}", (path.name, key_path)
            code = "\n".join(l for l in value.splitlines() if not l.strip().startswith("#"))
            assert "--metrics newrelic" not in code and '--metrics "newrelic' not in code, path.name
        for _, job in workflow["jobs"].items():
            for step in job["steps"]:
                if "--metrics" in step.get("run", ""):
                    metric_steps += 1
                    assert "ROLLOUT_METRICS" in merged_env(workflow, job, step), (path.name, step)
                    assert '--metrics "$ROLLOUT_METRICS"' in step["run"]
    assert metric_steps == 5     # gate, validate --metrics, reconcile, guard, baseline capture


def test_every_variable_is_documented_with_gh_variable_set():
    used = {m for p in WORKFLOW_FILES for _, v in strings(load(p.name)) for m in VAR_BY_NAME.findall(v)}
    documented = set(re.findall(r"gh variable set ([A-Z][A-Z0-9_]*)", DOCS.read_text(encoding="utf-8")))
    assert used == {"ROLLOUT_METRICS", "STAGING_URL"} and used <= documented


# ---------------------------------------------------------------- pull-request credentials

def test_preview_runs_in_the_protected_preview_environment():
    pr = load("pull-request.yml")["jobs"]
    assert pr["preview"]["environment"] == "preview"
    assert [j for j, job in pr.items() if "environment" in job] == ["preview"]
    [step] = [s for s in pr["preview"]["steps"] if "pulumi preview" in s.get("run", "")]
    secrets = {k for k, v in step["env"].items() if SECRET_BY_NAME.search(v)}
    assert secrets == {"PULUMI_ACCESS_TOKEN", "NEW_RELIC_API_KEY", "RENDER_APIKEY"}
    assert not steps_using(pr["preview"], "pulumi/actions")[0].get("env")   # installs only
    docs = DOCS.read_text(encoding="utf-8")
    for name in ("PULUMI_ACCESS_TOKEN", "NEW_RELIC_API_KEY", "RENDER_API_KEY"):
        assert f"gh secret set {name} --env preview" in docs, name


def test_the_gate_reads_production_through_read_only_credentials():
    gate = load("pull-request.yml")["jobs"]["gate"]
    assert gate["env"]["ROLLOUT_STORE"] == "${{ secrets.ROLLOUT_STORE_READONLY }}"
    secrets = {m for _, v in strings(gate) for m in SECRET_BY_NAME.findall(v)}
    assert secrets == {"ROLLOUT_STORE_READONLY", "NEW_RELIC_API_KEY_READONLY", "GITHUB_TOKEN"}


def test_docs_say_what_a_fork_can_and_cannot_reach():
    docs = DOCS.read_text(encoding="utf-8")
    section = docs.split("### What a fork's pull request can reach", 1)[1].split("\n## ", 1)[0]
    for job in ("test", "gate", "preview"):
        assert f"**{job}**" in section, job
    assert "pull_request_target" in section

"""House rules of the GitHub workflows, checked on the YAML itself.

The schema lint catches what GitHub would reject; the structural checks catch
what GitHub would accept but we must not ship: broad permissions, unpinned
actions, secrets used other than by name, overlapping production writers.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.trees import strings
from tests.workflow_commands import extract_rollout_commands

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
DOCS = ROOT / "docs" / "workflows.md"
TEMPLATE = ROOT / ".github" / "pull_request_template.md"

PRODUCTION_GROUP = "production"


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def triggers(workflow: dict) -> dict:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True.
    on = workflow.get("on", workflow.get(True))
    return on if isinstance(on, dict) else {name: None for name in ([on] if isinstance(on, str) else on)}


def jobs(name: str):
    for job_id, job in load(name)["jobs"].items():
        yield job_id, job


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job.get("steps", []) if s.get("uses", "").split("@")[0] == action]


def test_the_workflows_exist():
    assert [p.name for p in WORKFLOW_FILES] == ["apply.yml", "drift.yml", "guard.yml", "preflight.yml",
                                                "pull-request.yml"]


def test_workflows_pass_the_github_workflow_schema():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *map(str, WORKFLOW_FILES)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


# ---------------------------------------------------------------- permissions

# Least privilege, job by job. A new job must be added here with what it needs.
EXPECTED_PERMISSIONS = {
    ("pull-request.yml", "test"): {"contents": "read"},
    ("pull-request.yml", "gate"): {"contents": "read", "pull-requests": "write"},
    ("pull-request.yml", "preview"): {"contents": "read", "pull-requests": "write"},
    ("apply.yml", "apply"): {"contents": "read"},
    ("guard.yml", "guard"): {"contents": "write", "pull-requests": "write"},
    ("drift.yml", "drift"): {"contents": "read", "issues": "write"},
    ("preflight.yml", "preflight"): {"contents": "read"},
    ("preflight.yml", "baseline"): {"contents": "read"},
    ("preflight.yml", "readiness"): {"contents": "read"},
}


def test_every_job_is_listed_with_its_permissions():
    found = {(path.name, job_id) for path in WORKFLOW_FILES for job_id, _ in jobs(path.name)}
    assert found == set(EXPECTED_PERMISSIONS)


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_grants_nothing_by_default(path):
    assert load(path.name)["permissions"] == {}


@pytest.mark.parametrize(("workflow", "job_id"), sorted(EXPECTED_PERMISSIONS))
def test_job_permissions_are_explicit_and_least(workflow, job_id):
    job = load(workflow)["jobs"][job_id]
    assert "permissions" in job, f"{workflow}: job {job_id} has no permissions"
    assert job["permissions"] not in ("write-all", "read-all")
    assert job["permissions"] == EXPECTED_PERMISSIONS[(workflow, job_id)]


# ---------------------------------------------------------------- pinned actions

PINNED_LINE = re.compile(r"uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40})\s+#\s*v\d+\.\d+\.\d+\s*$")


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_tag(path):
    uses = [value for key_path, value in strings(load(path.name)) if key_path[-1] == "uses"]
    assert uses, f"{path.name} uses no action"
    for ref in uses:
        assert not ref.startswith("./"), "no local actions expected"
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), \
            f"{path.name}: {ref} is not pinned to a commit"
    raw_uses = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    for line in raw_uses:
        assert PINNED_LINE.search(line), f"{path.name}: `{line}` lacks the `# vX.Y.Z` tag comment"


def test_each_action_is_pinned_to_the_same_commit_everywhere():
    pins: dict[str, set[str]] = {}
    for path in WORKFLOW_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = PINNED_LINE.search(line.strip())
            if match:
                pins.setdefault(match[1], set()).add(match[2])
    assert set(pins) == {"actions/checkout", "actions/setup-python", "actions/upload-artifact",
                         "pulumi/actions"}
    assert all(len(shas) == 1 for shas in pins.values()), pins


# ---------------------------------------------------------------- secrets

SECRET_BY_NAME = re.compile(r"\$\{\{\s*secrets\.([A-Z][A-Z0-9_]*)\s*\}\}")
ANY_SECRET_USE = re.compile(r"\bsecrets\s*[.\[)]|\(\s*secrets\b|\bsecrets\s*\}\}")


def secret_names(path: Path) -> set[str]:
    return {m for _, value in strings(load(path.name)) for m in SECRET_BY_NAME.findall(value)}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_secrets_are_referenced_only_by_name(path):
    workflow = load(path.name)
    for key_path, value in strings(workflow):
        leftover = SECRET_BY_NAME.sub("", value)
        assert not ANY_SECRET_USE.search(leftover), f"{path.name} {key_path}: secrets used other than by name"
        if "run" in key_path:  # into env first, never pasted into a script
            assert not SECRET_BY_NAME.search(value), f"{path.name} {key_path}: secret inside a script"
    for _, job in workflow["jobs"].items():
        assert "secrets" not in job, "no `secrets: inherit`"


def test_every_secret_is_documented_with_gh_secret_set():
    documented = set(re.findall(r"gh secret set ([A-Z][A-Z0-9_]*)", DOCS.read_text(encoding="utf-8")))
    used = set().union(*(secret_names(p) for p in WORKFLOW_FILES)) - {"GITHUB_TOKEN"}
    assert used and used <= documented, used - documented


# ---------------------------------------------------------------- triggers

def test_guard_runs_every_five_minutes_and_on_demand():
    on = triggers(load("guard.yml"))
    assert on["schedule"] == [{"cron": "*/5 * * * *"}]
    assert "workflow_dispatch" in on


def test_drift_runs_daily_and_on_demand():
    on = triggers(load("drift.yml"))
    [entry] = on["schedule"]
    minute, hour, day, month, weekday = entry["cron"].split()
    assert 0 <= int(minute) < 60 and 0 <= int(hour) < 24
    assert (day, month, weekday) == ("*", "*", "*")
    assert "workflow_dispatch" in on


def test_apply_runs_on_push_to_main_for_the_paths_that_matter():
    on = triggers(load("apply.yml"))
    assert on["push"]["branches"] == ["main"]
    assert {"rollout/**", "infra/**", "alerts/**", "dashboards/**", "__main__.py",
            "Pulumi.prod.yaml"} <= set(on["push"]["paths"])
    assert "workflow_dispatch" in on


def test_pull_request_workflow_runs_on_pull_requests():
    assert set(triggers(load("pull-request.yml"))) == {"pull_request"}


@pytest.mark.parametrize("name", ["apply.yml", "guard.yml", "drift.yml"])
def test_production_jobs_only_run_from_main(name):
    for _, job in jobs(name):
        assert job["if"] == "github.ref == 'refs/heads/main'"


# ---------------------------------------------------------------- concurrency

def concurrency_of(name: str, job: dict) -> dict | None:
    return job.get("concurrency") or load(name).get("concurrency")


@pytest.mark.parametrize("name", ["apply.yml", "guard.yml", "drift.yml"])
def test_production_writers_share_one_group_and_are_never_cancelled(name):
    for job_id, job in jobs(name):
        concurrency = concurrency_of(name, job)
        assert isinstance(concurrency, dict), f"{name}: {job_id} has no concurrency block"
        assert concurrency["group"] == PRODUCTION_GROUP  # literal: no expression can split it
        assert concurrency["cancel-in-progress"] is False
        assert concurrency["queue"] == "max"  # a newer pending run must not drop an older one


def test_no_other_workflow_can_cancel_the_production_group():
    for path in WORKFLOW_FILES:
        blocks = [load(path.name).get("concurrency")] + [j.get("concurrency") for _, j in jobs(path.name)]
        for block in filter(None, blocks):
            if block["group"] == PRODUCTION_GROUP:
                assert block["cancel-in-progress"] is False, path.name
            else:  # the read-only pull-request checks, and preflight (one load on staging
                # at a time, never behind the guard), have a group of their own
                assert path.name in ("pull-request.yml", "preflight.yml"), path.name


# ---------------------------------------------------------------- what each workflow runs

@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_job_installs_its_python_dependencies_first(path):
    for job_id, job in jobs(path.name):
        installed = False
        for step in job["steps"]:
            run = step.get("run", "")
            if run.startswith("pip install -e "):
                installed = True
            needs_install = ("rollout " in run or "make test" in run or "pulumi preview" in run
                             or step.get("uses", "").startswith("pulumi/"))
            assert installed or not needs_install, f"{path.name}: {job_id} runs before `pip install -e`"
        assert installed, f"{path.name}: {job_id} installs nothing"


def test_pull_request_validates_gates_and_previews():
    pr = load("pull-request.yml")["jobs"]
    commands = extract_rollout_commands(WORKFLOWS / "pull-request.yml")
    assert any(c.startswith('rollout validate --base "origin/$BASE_REF"') for c in commands)
    assert any(c.startswith('rollout changed --base "origin/$BASE_REF"') for c in commands)
    gate = 'rollout gate "$flag" --metrics "$ROLLOUT_METRICS" --output markdown'
    assert any(c.startswith(gate) for c in commands)
    assert 'rollout validate --base "origin/$BASE_REF" --metrics "$ROLLOUT_METRICS"' in commands
    assert "make test" in [s.get("run") for s in pr["test"]["steps"]]
    for job_id in ("test", "gate"):  # --base needs the target branch's history
        [checkout] = steps_using(pr[job_id], "actions/checkout")
        assert checkout["with"]["fetch-depth"] == 0
    for job_id in ("test", "gate", "preview"):
        [setup] = steps_using(pr[job_id], "actions/setup-python")
        assert setup["with"]["python-version"] == "3.11"
    steps = pr["preview"]["steps"]
    [install] = steps_using(pr["preview"], "pulumi/actions")
    assert "with" not in install          # no `command`: the action only installs the CLI
    preview = preview_step(pr["preview"])
    assert steps.index(install) < steps.index(preview)
    assert "pulumi preview --stack prod --diff" in preview["run"]
    assert preview["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"


def preview_step(job: dict) -> dict:
    [step] = [s for s in job["steps"] if "pulumi preview" in s.get("run", "")]
    return step


def test_the_preview_runs_the_policy_pack_and_posts_its_results_even_when_it_fails():
    job = load("pull-request.yml")["jobs"]["preview"]
    preview = preview_step(job)
    assert "--policy-pack policy --policy-pack-config policy/config/prod.json" in preview["run"]
    assert 'exit "$rc"' in preview["run"]           # a mandatory violation fails the check
    assert 'python policy/preview_report.py "$out" "$rc" "$HEAD_SHA"' in preview["run"]
    post = job["steps"][job["steps"].index(preview) + 1]
    assert post["if"] == "${{ !cancelled() }}"
    assert post["run"].startswith(".github/scripts/sticky-comment.sh ")
    assert "<!-- pulumi-preview-report -->" in post["run"]


def test_gate_table_is_posted_even_when_the_gate_fails():
    steps = load("pull-request.yml")["jobs"]["gate"]["steps"]
    names = [s.get("id") or s.get("name", "") for s in steps]
    gate_at = names.index("gate")
    post = steps[gate_at + 1]
    assert post["if"] == "${{ !cancelled() }}"
    assert "GITHUB_STEP_SUMMARY" in post["run"] and "<!-- rollout-gate-report -->" in post["run"]
    assert 'exit "$worst"' in steps[gate_at]["run"]  # the gate step itself still fails
    assert steps[-1]["if"] == "${{ !cancelled() }}" and '--metrics "$ROLLOUT_METRICS"' in steps[-1]["run"]


def test_apply_runs_pulumi_up_then_reconcile():
    [(_, job)] = jobs("apply.yml")
    [up] = steps_using(job, "pulumi/actions")
    assert up["with"]["command"] == "up" and up["with"]["stack-name"] == "prod"
    # The policy pack audits the update too (passed on as --policy-pack/--policy-pack-config).
    assert up["with"]["policyPacks"] == "policy"
    assert up["with"]["policyPackConfigs"] == "policy/config/prod.json"
    assert "policy/**" in triggers(load("apply.yml"))["push"]["paths"]
    assert extract_rollout_commands(WORKFLOWS / "apply.yml") == [
        'rollout reconcile --store "$ROLLOUT_STORE" --metrics "$ROLLOUT_METRICS"']
    reconcile = job["steps"][-1]
    assert job["steps"].index(up) < job["steps"].index(reconcile)
    assert reconcile["env"]["ROLLOUT_STORE"] == "${{ secrets.ROLLOUT_STORE }}"


def test_guard_runs_once_with_every_notifier_and_keeps_exit_3_red():
    [(_, job)] = jobs("guard.yml")
    assert extract_rollout_commands(WORKFLOWS / "guard.yml") == [
        'rollout guard --once --store "$ROLLOUT_STORE" --metrics "$ROLLOUT_METRICS" || rc=$?']
    step = job["steps"][-1]
    assert {"ROLLOUT_STORE", "SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY", "GITHUB_TOKEN",
            "NEW_RELIC_API_KEY", "ROLLOUT_METRICS"} <= set(step["env"])
    assert 'exit "$rc"' in step["run"] and "Exit 3 = a rollback HAPPENED" in step["run"]


def test_drift_previews_with_refresh_and_opens_one_issue():
    [(_, job)] = jobs("drift.yml")
    [preview] = steps_using(job, "pulumi/actions")
    assert preview["with"]["command"] == "preview" and preview["with"]["stack-name"] == "prod"
    assert preview["with"]["expect-no-changes"] is True and preview["with"]["refresh"] is True
    issue = job["steps"][-1]
    assert "failure()" in issue["if"]
    assert "gh issue list" in issue["run"] and "--label drift" in issue["run"]
    assert "Infrastructure drift detected in prod" in issue["run"]


# ---------------------------------------------------------------- extract_rollout_commands

def write_workflow(tmp_path: Path, *scripts: str) -> Path:
    steps = [{"run": s} for s in scripts]
    path = tmp_path / "w.yml"
    path.write_text(yaml.safe_dump({"on": "push", "jobs": {"j": {"runs-on": "x", "steps": steps}}}))
    return path


@pytest.mark.parametrize(("script", "expected"), [
    ("rollout validate", ["rollout validate"]),
    ("rollout status --output json", ["rollout status --output json"]),
    ("rollout reconcile \\\n  --store \"$S\" \\\n  --dry-run", ['rollout reconcile --store "$S" --dry-run']),
    ("set -e\n  rollout gate f || rc=$?\necho done", ["rollout gate f || rc=$?"]),
    ("flags=$(rollout changed --base origin/main)", ["flags=$(rollout changed --base origin/main)"]),
    ("if rollout validate; then echo ok; fi", ["if rollout validate; then echo ok; fi"]),
    ("ROLLOUT_STORE=sqlite:///x rollout status", ["ROLLOUT_STORE=sqlite:///x rollout status"]),
    ("make test && rollout validate", ["make test && rollout validate"]),
    ('echo "rollout gate is next"', []),
    ("# rollout guard --once", []),
    ("cat rollout/flags/skills_rollout.yaml", []),
    ("printf '<!-- rollout-gate-report -->'", []),
    ("pip install -e .", []),
])
def test_extract_rollout_commands_cases(tmp_path, script, expected):
    assert extract_rollout_commands(write_workflow(tmp_path, script)) == expected


def test_extract_rollout_commands_keeps_step_order_and_skips_uses(tmp_path):
    path = tmp_path / "w.yml"
    path.write_text(yaml.safe_dump({"on": "push", "jobs": {
        "a": {"runs-on": "x", "steps": [{"uses": "actions/checkout@v0"}, {"run": "rollout one"}]},
        "b": {"runs-on": "x", "steps": [{"run": "rollout two\nrollout three"}]},
    }}))
    assert extract_rollout_commands(path) == ["rollout one", "rollout two", "rollout three"]


def test_extract_finds_every_command_the_workflows_run():
    found = {p.name: extract_rollout_commands(p) for p in WORKFLOW_FILES}
    assert found == {
        "apply.yml": ['rollout reconcile --store "$ROLLOUT_STORE" --metrics "$ROLLOUT_METRICS"'],
        "drift.yml": [],
        "guard.yml": ['rollout guard --once --store "$ROLLOUT_STORE" --metrics "$ROLLOUT_METRICS" || rc=$?'],
        "preflight.yml": [
            'rollout loadtest --target "$STAGING_URL" --profile "$PROFILE" --flag "$FLAG" '
            '--out "$RUNNER_TEMP/loadtest" --store "$ROLLOUT_STORE" --progress 30',
            'rollout drill --store "$STAGING_ROLLOUT_STORE" --fault error-rate --flag "$FLAG" '
            '--record-in "$ROLLOUT_STORE"',
            'rollout baseline capture "$FLAG" --days 7 --metrics "$ROLLOUT_METRICS" --store "$ROLLOUT_STORE"',
            'rollout preflight "$FLAG" --store "$ROLLOUT_STORE" --output markdown > '
            '"$RUNNER_TEMP/readiness.md" || rc=$?',
        ],
        "pull-request.yml": [
            'rollout validate --base "origin/$BASE_REF"',
            'rollout changed --base "origin/$BASE_REF" > "$changed" 2> "$RUNNER_TEMP/changed.err" || rc=$?',
            'rollout gate "$flag" --metrics "$ROLLOUT_METRICS" --output markdown > "$out" 2> "$err" || rc=$?',
            'rollout validate --base "origin/$BASE_REF" --metrics "$ROLLOUT_METRICS"',
        ],
    }

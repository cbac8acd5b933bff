"""Every `rollout` command the GitHub workflows run, run locally to prove it is real.

The commands are read out of the YAML (tests/workflow_commands.py), never copied here,
and run with bash in a throwaway git repository: a bare `origin` holding `main`, and a
pull-request branch that moves the flag one ladder step (tests/workflow_runner.py). Each
`${{ ... }}` of the step's env (workflow, job and step level) is replaced by a local
stand-in: the embedded SQLite store, and fake New Relic (NerdGraph), Slack, PagerDuty and
GitHub servers on 127.0.0.1.
The command line itself runs exactly as written; only the endpoints the runner cannot
reach are redirected (NEW_RELIC_API_URL, PAGERDUTY_EVENTS_URL, GITHUB_API_URL) and the
clock is pinned (ROLLOUT_NOW) so the canary's soak is served.

A command is real when argparse accepts it (no usage error, exit 2), bash finds every
variable it names (`set -u`), its exit code is one the workflow's script treats as a
verdict, and it prints what the script and the docs expect.
"""
from __future__ import annotations

import os
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from rollout.drill import FAULTY
from tests.cli import ROOT
from tests.workflow_commands import _logical_lines, extract_rollout_commands
from tests.workflow_runner import (FLAG, STATE_PATH, Scenario, Step, build_template,
                                    command_script, execute)

WORKFLOWS = ROOT / ".github" / "workflows"
DOCS = ROOT / "docs" / "workflows.md"

# Exit codes each workflow's script treats as an answer (anything else is a broken command):
# the gate step's `case` names 0/1/3/4; the guard step 0 (quiet) and 3 (rollback happened);
# apply's reconcile 0, 1 (held) and 3 (the gate says roll back), the last two red on purpose; validate 1 = a refused move and, with
# --metrics, the gate's 1/3/4; `changed` must succeed or the gate step stops.
ACCEPTED = {
    "validate": {0, 1},
    "validate --metrics": {0, 1, 3, 4},
    "changed": {0},
    "gate": {0, 1, 3, 4},
    "reconcile": {0, 1, 3},     # 3: the gate says roll back (the step up is refused)
    "guard": {0, 3},
}

# What each command prints (stdout, or the file the script redirects it to).
SHAPE = {
    "validate": rf"(?m)^{STATE_PATH}: (ok|refused|held): ",
    "validate --metrics": rf"(?m)^{STATE_PATH}: (ok|refused|held): ",
    "changed": rf"(?m)\A{FLAG}\n\Z",
    "gate": rf"(?s)### .* Rollout gate: `{FLAG}` .*\| Metric \| Canary \| Control \| Δ \| Target "
            rf"\| Threshold \| Verdict \|\n\|---",
    "reconcile": rf"(?m)^flag +action +from +to +reasons\n-+.*\n{FLAG} +\w+ ",
    "guard": rf"(?m)^flag +action +at +severity +reasons\n-+.*\n{FLAG} +\w+ ",
}

USAGE_ERRORS = re.compile(r"usage: rollout|invalid choice|unrecognized arguments|arguments are "
                          r"required|unbound variable|command not found|Traceback")


SCENARIOS = {
    # The first step: nothing is live yet, so no metric is read; step off has no soak.
    "first-step": Scenario(0, 5, None, {
        "validate": 0, "validate --metrics": 0, "changed": 0, "gate": 0, "reconcile": 0,
        "guard": 0}),
    # The canary served its soak but its error rate is past the rollback criterion, as
    # New Relic reports it: the gates say rollback, reconcile refuses the step up, the
    # guard rolls back and tells Slack, PagerDuty and GitHub.
    "breach": Scenario(5, 25, FAULTY["error-rate"], {
        "validate": 0, "validate --metrics": 3, "changed": 0, "gate": 3, "reconcile": 3,
        "guard": 3}),
}


# ---------------------------------------------------------------- the workflows' steps

# Workflows whose commands a harness of their own runs: preflight's load test takes
# minutes against a service this runner does not have (tests/test_loadtest_workflow.py).
OWN_HARNESS = {"preflight.yml"}


def rollout_steps() -> tuple[list[Step], dict[str, list[str]]]:
    """The run: steps that invoke rollout, and any extracted command no step claimed."""
    steps, unclaimed = [], {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        if path.name in OWN_HARNESS:
            continue
        extracted = extract_rollout_commands(path)
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        for job_id, job in workflow["jobs"].items():
            for index, step in enumerate(job.get("steps") or []):
                if not isinstance(step.get("run"), str):
                    continue
                lines = _logical_lines(step["run"])
                mine = []
                # extract_rollout_commands walks jobs and steps in this same order
                while extracted and extracted[0] in lines:
                    mine.append(extracted.pop(0))
                if mine:
                    env = {**(workflow.get("env") or {}), **(job.get("env") or {}),
                           **(step.get("env") or {})}
                    steps.append(Step(path.name, job_id, step.get("name", f"step {index}"),
                                      step["run"], env, tuple(mine)))
        if extracted:
            unclaimed[path.name] = extracted
    return steps, unclaimed


STEPS, UNCLAIMED = rollout_steps()
COMMANDS = [(step, command) for step in STEPS for command in step.commands]


def kind(command: str) -> str:
    sub = re.search(r"\brollout\s+([a-z][a-z-]*)", command)[1]
    return f"{sub} --metrics" if sub == "validate" and "--metrics" in command else sub


COMMAND_IDS = [f"{s.workflow}:{s.job}:{kind(c).replace(' ', '')}" for s, c in COMMANDS]


def step_of(workflow: str, sub: str) -> Step:
    return next(s for s in STEPS if s.workflow == workflow
                and any(re.search(rf"\brollout {sub}\b", c) for c in s.commands))


def test_every_extracted_command_belongs_to_a_run_step():
    assert UNCLAIMED == {}
    assert {s.workflow for s in STEPS} == {"apply.yml", "guard.yml", "pull-request.yml"}


def test_every_command_kind_has_an_expectation():
    for step, command in COMMANDS:
        assert kind(command) in ACCEPTED, f"{step.workflow}: add `{kind(command)}` to ACCEPTED"
        for name, scenario in SCENARIOS.items():
            assert scenario.outcome.get(kind(command)) in ACCEPTED[kind(command)], name


# Whole steps, where the script around the commands matters: (step, scenario, checkout).
GATE_STEP = step_of("pull-request.yml", "gate")
GUARD_STEP = step_of("guard.yml", "guard")
WHOLE_STEPS = {
    "gate-breach": (GATE_STEP, "breach", None),
    "gate-no-change": (GATE_STEP, "first-step", "main"),   # a pull request that moves no flag
    "guard-breach": (GUARD_STEP, "breach", None),
    "guard-quiet": (GUARD_STEP, "first-step", None),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every run this module asserts on, started at once: each metric command spends most
    of its second or two importing scipy, so running them side by side keeps this fast."""
    templates = {}
    for s in SCENARIOS.values():
        if (s.base, s.head) not in templates:
            templates[(s.base, s.head)] = build_template(
                tmp_path_factory.mktemp(f"template-{s.base}-{s.head}"), s.base, s.head)
    jobs = {}
    for name, s in SCENARIOS.items():
        for step, command in COMMANDS:
            jobs[(name, step.workflow, step.name, command)] = (
                templates[(s.base, s.head)], s, step, command_script(step, command), ("-u",))
    for key, (step, name, checkout) in WHOLE_STEPS.items():
        s = SCENARIOS[name]
        jobs[key] = (templates[(s.base, s.head)], s, step, step.script, (), checkout)
    roots = {key: tmp_path_factory.mktemp("run") for key in jobs}
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {key: pool.submit(execute, roots[key], *job) for key, job in jobs.items()}
        yield futures


# ---------------------------------------------------------------- each command, on its own

@pytest.mark.parametrize("scenario_name", SCENARIOS)
@pytest.mark.parametrize(("step", "command"), COMMANDS, ids=COMMAND_IDS)
def test_workflow_command_is_a_real_command(runs, step, command, scenario_name):
    scenario = SCENARIOS[scenario_name]
    run = runs[(scenario_name, step.workflow, step.name, command)].result()
    label = kind(command)
    context = f"{step.workflow} / {step.name}: {command}\n{run}"

    # `-u` made a variable that neither the step's env nor its script defines fail here;
    # on the runner it would silently expand to "" (`--store ""`: a throwaway SQLite file).
    assert not USAGE_ERRORS.search(str(run)), context
    assert run.result.returncode in ACCEPTED[label], context
    assert run.result.returncode == scenario.outcome[label], context
    assert re.search(SHAPE[label], run.printed), context

    # The metric commands asked New Relic with the workflow's key and account, and got data.
    live = scenario.base > 0 and label in ("gate", "validate --metrics", "reconcile", "guard")
    nerdgraph = run.runner.nerdgraph
    assert bool(nerdgraph.queries) == live, context
    assert all(q.status == 200 for q in nerdgraph.requests), context
    if live and label in ("gate", "validate --metrics"):   # the markdown's verdict column
        assert not re.search(r"\| ⚠️ (error|inconclusive) \|", run.printed), context
    # Only a rollback tells people; then every channel the workflow configures is reached.
    told = [len(run.runner.slack.messages), len(run.runner.pagerduty.events),
            len(run.runner.github.open_pulls())]
    assert told == ([1, 1, 1] if run.result.returncode == 3 and label == "guard" else [0, 0, 0]), context


def test_apply_records_the_runners_commit(runs):
    step = step_of("apply.yml", "reconcile")
    run = runs[("first-step", step.workflow, step.name, step.commands[0])].result()
    db = sqlite3.connect(run.runner.repo / ".rollout/flags.db")
    assert db.execute("SELECT percentage FROM feature_flags WHERE name = ?", (FLAG,)).fetchone() == (5,)
    last = db.execute("SELECT git_commit FROM rollout_history WHERE flag = ? ORDER BY id DESC "
                      "LIMIT 1", (FLAG,)).fetchone()
    assert last == (run.runner.head(),)


# ---------------------------------------------------------------- the scripts around them

def test_gate_step_writes_the_sticky_report(runs):
    run = runs["gate-breach"].result()
    assert run.result.returncode == 3, run   # the worst verdict fails the check
    report = run.runner.output("gate-report.md")
    assert report.startswith("<!-- rollout-gate-report -->\n## Rollout gate against `origin/main`\n"), run
    assert f"| Flag | Exit | Verdict |\n|---|---|---|\n| `{FLAG}` | 3 | 🚨 rollback |\n" in report
    assert f"\n### `{FLAG}`\n" in report and "| Metric | Canary | Control |" in report
    assert report.endswith(f"Commit {run.runner.head()}.</sub>\n")
    assert run.files["_runner_file_commands/output"] == "changed=1\n"


def test_gate_step_without_a_percentage_change_says_so(runs):
    run = runs["gate-no-change"].result()
    assert run.result.returncode == 0, run
    assert run.runner.output("gate-report.md").endswith(
        "No flag percentage changes against `origin/main`.\n"), run
    assert run.files["_runner_file_commands/output"] == "changed=0\n"


def test_guard_step_stays_red_after_a_rollback(runs):
    run = runs["guard-breach"].result()
    assert run.result.returncode == 3, run
    assert "::error title=Rollback performed::" in run.result.stdout
    db = sqlite3.connect(run.runner.repo / ".rollout/flags.db")
    assert db.execute("SELECT percentage FROM feature_flags WHERE name = ?", (FLAG,)).fetchone() == (0,)
    pulls = run.runner.github.open_pulls()
    assert len(pulls) == 1
    assert "percentage: 0\n" in run.runner.github.file(STATE_PATH, pulls[0]["head"]["ref"])


def test_guard_step_is_green_when_quiet(runs):
    run = runs["guard-quiet"].result()
    assert run.result.returncode == 0, run
    assert "::error" not in run.result.stdout


# ---------------------------------------------------------------- the docs

@pytest.mark.parametrize(("step", "command"), COMMANDS, ids=COMMAND_IDS)
def test_docs_quote_each_workflow_command(step, command):
    # the command itself, without the script's redirections and `|| rc=$?`
    core = re.split(r"\s+(?:\d?>|\|\|)\s*", command)[0]
    assert core in DOCS.read_text(encoding="utf-8"), f"docs/workflows.md does not quote `{core}`"

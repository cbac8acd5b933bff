"""Every `rollout` command the GitHub workflows run, run locally to prove it is real.

The commands are read out of the YAML (tests/workflow_commands.py), never copied here,
and run with bash in a throwaway git repository: a bare `origin` holding `main`, and a
pull-request branch that moves the flag one ladder step. Each `${{ ... }}` of the step's
env (workflow, job and step level) is replaced by a local stand-in: the embedded SQLite
store, and fake New Relic (NerdGraph), Slack, PagerDuty and GitHub servers on 127.0.0.1.
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
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import yaml

from rollout.drill import CONTROL, FAULTY, generate_events
from tests.cli import ROOT, git, make_repo, rollout, set_percentage
from tests.fakes.github import FakeGitHub
from tests.fakes.newrelic import API_KEY, FakeNerdGraph
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.workflow_commands import _logical_lines, extract_rollout_commands

WORKFLOWS = ROOT / ".github" / "workflows"
DOCS = ROOT / "docs" / "workflows.md"
# `pip install -e .` put the `rollout` console script beside this interpreter, as the
# workflows' Install step does on the runner.
BIN = Path(sys.executable).parent

FLAG = "skills_rollout"
STATE_PATH = f"rollout/flags/{FLAG}.yaml"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)   # the base step was applied then
NOW = T0 + timedelta(hours=80)                          # canary soak (72 h) served
ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"         # 32 characters, as PagerDuty wants

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

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
USAGE_ERRORS = re.compile(r"usage: rollout|invalid choice|unrecognized arguments|arguments are "
                          r"required|unbound variable|command not found|Traceback")


@dataclass(frozen=True)
class Scenario:
    base: int                  # percentage on origin/main, applied in the store since T0
    head: int                  # percentage the pull request commits
    canary: object | None      # drill Behaviour of the canary's last hour in New Relic; None: no traffic
    # The exact exit code of each command here (a subset of ACCEPTED).
    outcome: dict


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

@dataclass(frozen=True)
class Step:
    workflow: str
    job: str
    name: str
    script: str
    env: dict              # workflow, job and step env merged, `${{ }}` not yet evaluated
    commands: tuple        # the extracted rollout command lines of this step


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


# ---------------------------------------------------------------- a local runner

def traffic(behaviour) -> list[dict]:
    """The last hour before NOW: 5 % canary, the rest control, as New Relic stores it."""
    return generate_events(np.random.default_rng(7), NOW - timedelta(hours=1),
                           timedelta(hours=1), 4000, 5, lambda c: behaviour if c else CONTROL)


def build_template(root: Path, base: int, head: int) -> Path:
    """main at `base` % (applied in the store since T0) pushed to a bare origin, and the
    pull-request branch committing `head` %."""
    repo = make_repo(root)
    for pct in (0, base) if base else (0,):
        if pct:
            set_percentage(repo, pct)
        r = rollout(["reconcile"], repo, {"ROLLOUT_NOW": T0.isoformat()})
        assert r.returncode == 0, r.stdout + r.stderr
    git(root, "init", "-q", "--bare", "-b", "main", "origin.git")
    git(repo, "remote", "add", "origin", str(root / "origin.git"))
    git(repo, "push", "-q", "origin", "main")
    git(repo, "checkout", "-qb", "pull-request")
    set_percentage(repo, head)
    return repo


@dataclass
class Runner:
    """A checkout, the fakes, and how GitHub Actions would run a step in it."""

    repo: Path
    temp: Path               # RUNNER_TEMP
    nerdgraph: FakeNerdGraph
    slack: FakeSlack
    pagerduty: FakePagerDuty
    github: FakeGitHub

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.repo}/.rollout/flags.db"

    @property
    def file_commands(self) -> Path:
        return self.temp / "_runner_file_commands"

    def head(self) -> str:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=self.repo, check=True,
                              capture_output=True, text=True).stdout.strip()

    def stand_ins(self) -> dict[str, str]:
        """What each `${{ }}` of a rollout step evaluates to here."""
        return {
            "github.base_ref": "main",
            "github.event.pull_request.head.sha": self.head(),
            "secrets.ROLLOUT_STORE": self.store_url,
            "secrets.ROLLOUT_STORE_READONLY": self.store_url,
            "secrets.NEW_RELIC_API_KEY": API_KEY,
            "secrets.NEW_RELIC_API_KEY_READONLY": API_KEY,
            "secrets.NEW_RELIC_ACCOUNT_ID": str(self.nerdgraph.account_id),
            "vars.ROLLOUT_METRICS": f"newrelic://{self.nerdgraph.account_id}",
            "secrets.SLACK_WEBHOOK_URL": self.slack.url,
            "secrets.PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "secrets.GITHUB_TOKEN": self.github.token,
        }

    def env(self, step: Step) -> dict[str, str]:
        stand_ins = self.stand_ins()
        missing = {expr for value in step.env.values()
                   for expr in EXPRESSION.findall(str(value))} - set(stand_ins)
        assert not missing, (f"{step.workflow} / {step.name}: no local stand-in for "
                             f"{sorted(missing)}; add one to Runner.stand_ins")
        evaluated = {key: EXPRESSION.sub(lambda m: stand_ins[m[1]], str(value))
                     for key, value in step.env.items()}
        self.file_commands.mkdir(parents=True, exist_ok=True)
        runner = {   # what the runner itself sets
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8", "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octocat",
            "GITHUB_SHA": self.head(), "GITHUB_REPOSITORY": self.github.repository,
            "GITHUB_API_URL": self.github.url, "GITHUB_WORKSPACE": str(self.repo),
            "RUNNER_TEMP": str(self.temp), "GITHUB_OUTPUT": str(self.file_commands / "output"),
            "GITHUB_STEP_SUMMARY": str(self.file_commands / "step_summary"),
        }
        local = {    # endpoints a laptop must not call, and the pinned clock
            "NEW_RELIC_API_URL": self.nerdgraph.url, "PAGERDUTY_EVENTS_URL": self.pagerduty.url,
            "ROLLOUT_NOW": NOW.isoformat(),
        }
        return {**runner, **local, **evaluated}

    def bash(self, script: str, step: Step, *flags: str) -> subprocess.CompletedProcess:
        # GitHub runs `shell: bash` as `bash --noprofile --norc -eo pipefail {0}`.
        path = self.temp.parent / "step.sh"
        path.write_text(script, encoding="utf-8")
        return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", *flags, str(path)],
                              cwd=self.repo, env=self.env(step), capture_output=True, text=True,
                              timeout=120)

    def output(self, name: str) -> str:
        """A file the step wrote into RUNNER_TEMP ('' when it wrote none)."""
        path = self.temp / name
        return path.read_text(encoding="utf-8") if path.exists() else ""


@dataclass
class Run:
    runner: Runner
    result: subprocess.CompletedProcess
    files: dict[str, str]     # RUNNER_TEMP's files after the run, by relative path

    @property
    def printed(self) -> str:
        """stdout, wherever the script sent it: the terminal or a file in RUNNER_TEMP
        (not the .err files, not the runner's own file commands)."""
        return self.result.stdout + "".join(
            text for name, text in self.files.items() if not name.endswith(".err") and "/" not in name)

    def __str__(self) -> str:   # the context of a failed assertion
        files = "".join(f"\n--- {name}\n{text}" for name, text in self.files.items())
        return (f"exit {self.result.returncode}\n--- stdout\n{self.result.stdout}"
                f"\n--- stderr\n{self.result.stderr}{files}")


def execute(root: Path, template: Path, scenario: Scenario, step: Step, script: str,
            flags: tuple = (), checkout: str | None = None) -> Run:
    """Run `script` as `step` of its workflow in a fresh copy of `template`."""
    repo = root / "repo"
    shutil.copytree(template, repo, symlinks=True)
    if step.workflow != "pull-request.yml":   # apply and guard run on main after the merge
        git(repo, "checkout", "-q", "main")
        git(repo, "merge", "-q", "--ff-only", "pull-request")
    if checkout:
        git(repo, "checkout", "-q", checkout)
    temp = root / "runner-temp"
    temp.mkdir()
    state = (repo / STATE_PATH).read_text(encoding="utf-8")
    runner = Runner(repo, temp, FakeNerdGraph(traffic(scenario.canary) if scenario.canary else []),
                    FakeSlack(), FakePagerDuty(), FakeGitHub(files={STATE_PATH: state}))
    with runner.nerdgraph, runner.slack, runner.pagerduty, runner.github:
        result = runner.bash(script, step, *flags)
    files = {str(p.relative_to(temp)): p.read_text(encoding="utf-8")
             for p in sorted(temp.rglob("*")) if p.is_file()}
    return Run(runner, result, files)


def step_locals(script: str) -> str:
    """The step's own plain variables (`out="$RUNNER_TEMP/gate-one.md"`) and its loop
    variable bound to the flag, so a line lifted out of the script means what it did in it."""
    lines = [line for line in _logical_lines(script)
             if re.fullmatch(r'[a-z_][a-z0-9_]*="[^"`]*"', line) and "$(" not in line]
    lines += [f"{name}={FLAG}" for name in re.findall(r"^\s*for ([a-z_]\w*) in ", script, re.M)]
    return "\n".join(lines)


def command_script(step: Step, command: str) -> str:
    return f'rc=0\n{step_locals(step.script)}\n{command}\nexit "$rc"\n'


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

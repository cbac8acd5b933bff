"""A local GitHub Actions runner for the workflows' `rollout` steps
(tests/test_workflow_commands.py): a throwaway checkout with a bare `origin`, fake New
Relic, Slack, PagerDuty and GitHub servers on 127.0.0.1, each `${{ ... }}` of a step's env
replaced by a local stand-in, and bash run as Actions runs `shell: bash`.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from rollout.drill import CONTROL, generate_events
from tests.cli import git, make_repo, rollout, set_percentage
from tests.fakes.github import FakeGitHub
from tests.fakes.newrelic import API_KEY, FakeNerdGraph
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.workflow_commands import _logical_lines

# `pip install -e .` put the `rollout` console script beside this interpreter, as the
# workflows' Install step does on the runner.
BIN = Path(sys.executable).parent

FLAG = "skills_rollout"
STATE_PATH = f"rollout/flags/{FLAG}.yaml"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)   # the base step was applied then
NOW = T0 + timedelta(hours=80)                          # canary soak (72 h) served
ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"         # 32 characters, as PagerDuty wants

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass(frozen=True)
class Scenario:
    base: int                  # percentage on origin/main, applied in the store since T0
    head: int                  # percentage the pull request commits
    canary: object | None      # drill Behaviour of the canary's last hour in New Relic; None: no traffic
    # The exact exit code of each command here (a subset of ACCEPTED).
    outcome: dict


@dataclass(frozen=True)
class Step:
    workflow: str
    job: str
    name: str
    script: str
    env: dict              # workflow, job and step env merged, `${{ }}` not yet evaluated
    commands: tuple        # the extracted rollout command lines of this step


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

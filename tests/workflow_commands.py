"""The `rollout` command lines a GitHub workflow runs, so tests can run them locally.

Workflows are the one place where our CLI meets CI; reading the commands out of
the YAML (instead of copying them into tests) keeps the two from drifting apart.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

# `rollout` used as a command word: at the start of a line, after a shell operator
# or keyword, or after `VAR=value` prefixes. Not `echo "rollout ..."`, not a path
# such as rollout/flags, not the `rollout-gate-report` marker. Backtick command
# substitution is not recognised: backticks in our scripts are markdown.
_INVOKES_ROLLOUT = re.compile(
    r"""(?:^|[;&|(]|\b(?:then|do|else|if|elif|while|until|time|exec)\s|!\s)
        \s*(?:[A-Za-z_]\w*=\S*\s+)*
        rollout(?:\s|$)""",
    re.VERBOSE,
)


def _logical_lines(script: str) -> list[str]:
    """The script's lines with backslash-newline continuations joined by one space."""
    lines: list[str] = []
    pending: list[str] = []
    for raw in script.splitlines():
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            pending.append(raw[:-1].strip())
            continue
        pending.append(raw.strip())
        lines.append(" ".join(part for part in pending if part))
        pending = []
    if pending:  # a script that ends in a dangling backslash
        lines.append(" ".join(part for part in pending if part))
    return lines


def extract_rollout_commands(workflow_path: str | Path) -> list[str]:
    """Every shell line of the workflow's `run:` steps that invokes `rollout `,
    stripped, continuations joined, in file order (jobs, then steps)."""
    workflow = yaml.safe_load(Path(workflow_path).read_text(encoding="utf-8")) or {}
    commands: list[str] = []
    for job in (workflow.get("jobs") or {}).values():
        for step in job.get("steps") or []:
            script = step.get("run")
            if not isinstance(script, str):
                continue
            for line in _logical_lines(script):
                if line.startswith("#"):
                    continue
                if _INVOKES_ROLLOUT.search(line):
                    commands.append(line)
    return commands

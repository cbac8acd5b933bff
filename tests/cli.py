"""Run the real `rollout` command in a subprocess, in a throwaway git repository."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rollout(args, cwd, env=None, input=None):
    full_env = {**os.environ, "ROLLOUT_ACTOR": "tester", **(env or {})}
    full_env.pop("ROLLOUT_STORE", None) if "ROLLOUT_STORE" not in (env or {}) else None
    full_env.pop("GITHUB_STEP_SUMMARY", None) if "GITHUB_STEP_SUMMARY" not in (env or {}) else None
    return subprocess.run([sys.executable, "-m", "rollout", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, input=input, timeout=120)


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"})


def without_preflight(text: str) -> str:
    """The flag file's text without its `preflight:` block and the comment right above it."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, l in enumerate(lines) if l.startswith("preflight:"))
    end = start + 1
    while end < len(lines) and lines[end].startswith((" ", "\t")):
        end += 1
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    return "".join(lines[:start] + lines[end:])


def make_repo(tmp_path: Path, preflight: bool = False) -> Path:
    """A git repository holding the real skills_rollout.yaml. Its `preflight:` block holds
    the first step up until evidence is recorded (tests/test_readiness*.py); tests of the
    other rules start from the file without it unless they ask for it."""
    repo = tmp_path / "repo"
    (repo / "rollout" / "flags").mkdir(parents=True)
    real = (ROOT / "rollout/flags/skills_rollout.yaml").read_text()
    (repo / "rollout/flags/skills_rollout.yaml").write_text(
        real if preflight else without_preflight(real))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "initial state")
    return repo


def set_percentage(repo: Path, pct: int, flag="skills_rollout", commit=True):
    from rollout.flagfiles import with_percentage

    path = repo / "rollout/flags" / f"{flag}.yaml"
    path.write_text(with_percentage(path.read_text(), pct))
    if commit:
        git(repo, "commit", "-qam", f"{flag} to {pct}%")

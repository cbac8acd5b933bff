"""What `rollout serve` checks before it starts: the committed state must be read from a
full git checkout.

An abort is keyed by the revision of the flag file (the last commit that changed it), and
`rollout reconcile` in CI honours it only for the same revision. Outside git the revision
falls back to a content hash, and in a shallow clone every file seems changed by the
newest commit: either way the service's aborts would not match CI's revisions and the
next reconcile would re-apply the aborted step. So the service refuses to start there.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from rollout.errors import UserError
from rollout.serve.logs import log


def _git(directory: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=directory, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.decode("utf-8", "replace").strip() if out.returncode == 0 else None


def check_revisions(flags_dir: Path) -> None:
    from rollout.flagfiles import load_flags

    states = load_flags(flags_dir)          # a bad flag file: one line, exit 2
    where = flags_dir.resolve()
    if _git(where, "rev-parse", "--is-inside-work-tree") != "true":
        raise UserError(f"--flags {flags_dir}: not inside a git checkout; rollout serve keys "
                        f"aborts by the commit that last changed each flag file, as CI does")
    if _git(where, "rev-parse", "--is-shallow-repository") == "true":
        raise UserError(f"--flags {flags_dir}: the git checkout is shallow, so flag file "
                        f"revisions would differ from CI's; fetch the history first "
                        f"(git fetch --unshallow)")
    for s in states:
        if s.revision.startswith("sha256:"):
            log("uncommitted_flag_file", level=30, flag=s.flag, path=s.path,
                note="its aborts are keyed by content until it is committed")

"""Committed state on disk and in git: flag files, their revisions, the current commit."""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from rollout.core.state import FlagState, build_flag, check_flag_name
from rollout.errors import UserError
from rollout.localfile import check_regular_file, read_regular_file
from rollout.yamlfile import MAX_BYTES, load_yaml, parse_yaml

DEFAULT_DIR = Path("rollout/flags")


def _git(args: list[str], cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.decode("utf-8", "replace") if out.returncode == 0 else None


def current_commit() -> str:
    """The commit being reconciled: GITHUB_SHA in Actions, else HEAD, else ''."""
    sha = os.environ.get("GITHUB_SHA")
    if sha:
        return sha
    out = _git(["rev-parse", "HEAD"])
    return out.strip() if out else ""


def file_revisions(paths: list[Path]) -> dict[Path, str]:
    """The last commit that changed each file, in one git call; uncommitted or non-git
    files get a content hash, so an abort is still keyed by what was applied."""
    found: dict[Path, str] = {}
    resolved = {p.resolve(): p for p in paths}
    if paths:
        top = _git(["rev-parse", "--show-toplevel"], cwd=paths[0].parent)
        # git runs in the files' repository, wherever the command was started from: the
        # revision an abort is keyed by must not depend on the working directory
        top_path = Path(top.strip()) if top else None
        absolute = [str(p.resolve()) for p in paths]
        dirty = _git(["status", "--porcelain", "--", *absolute], cwd=top_path) if top else None
        dirty_paths = set()
        if top and dirty is not None:
            for line in dirty.splitlines():
                dirty_paths.add((top_path / line[3:].strip()).resolve())
            log = _git(["log", "--format=%x00%H", "--name-only", "--", *absolute], cwd=top_path)
            commit = ""
            for line in (log or "").splitlines():
                if line.startswith("\x00"):
                    commit = line[1:]
                elif line.strip():
                    p = (top_path / line.strip()).resolve()
                    if p in resolved and resolved[p] not in found and p not in dirty_paths:
                        found[resolved[p]] = commit
    for p in paths:
        if p not in found:
            found[p] = "sha256:" + hashlib.sha256(read_regular_file(p, MAX_BYTES)).hexdigest()[:40]
    return found


def with_percentage(text: str, percentage: int) -> str:
    """The flag file's text with only its `percentage:` line changed (comments kept)."""
    out, done = [], False
    for line in text.splitlines(keepends=True):
        if not done and line.startswith("percentage:"):
            comment = line[line.index("#"):].rstrip("\n") if "#" in line else ""
            line = f"percentage: {percentage}" + (f"  {comment}" if comment else "") + "\n"
            done = True
        out.append(line)
    if not done:
        raise UserError("flag file has no top-level `percentage:` line to change")
    return "".join(out)


def flag_paths(directory: Path = DEFAULT_DIR) -> list[Path]:
    if not directory.is_dir():
        raise UserError(f"{directory}: no such directory; run from the repository root "
                        f"or pass --flags DIR")
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))


def load_flag(path: Path, revision: str = "") -> FlagState:
    stem = path.stem
    try:
        check_flag_name(stem)
    except UserError:
        raise UserError(f"{path}: file name {stem!r} is not a plain identifier, "
                        f"expected [a-z][a-z0-9_]*.yaml") from None
    return build_flag(load_yaml(path), str(path), expected_flag=stem, revision=revision)


def load_flags(directory: Path = DEFAULT_DIR, *, with_revisions: bool = True) -> list[FlagState]:
    """Every flag file of the directory; the first invalid one raises UserError."""
    states, errors = load_flags_lenient(directory, with_revisions=with_revisions)
    if errors:
        raise errors[0]
    return states


def load_flags_lenient(directory: Path = DEFAULT_DIR, *, with_revisions: bool = True
                       ) -> tuple[list[FlagState], list[UserError]]:
    """(the valid flags, one UserError per invalid file). The guard judges every valid
    flag even when another flag's file is broken: a typo in a new flag's file must not
    blind it for the live ones."""
    paths = flag_paths(directory)
    errors: list[UserError] = []
    readable = []
    for p in paths:
        try:
            check_regular_file(p)
            readable.append(p)
        except UserError as exc:
            errors.append(exc)
    revs = file_revisions(readable) if with_revisions else {}
    states = []
    for p in readable:
        try:
            states.append(load_flag(p, revs.get(p, "")))
        except UserError as exc:
            errors.append(exc)
    return states, errors


def read_flag_text(path: str | Path) -> str:
    """A committed flag file's text (for the revert pull request), read the safe way."""
    data = read_regular_file(Path(path), MAX_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def find_flag(name: str, directory: Path = DEFAULT_DIR) -> FlagState:
    check_flag_name(name)
    for ext in (".yaml", ".yml"):
        path = directory / f"{name}{ext}"
        if path.exists():
            check_regular_file(path)
            return load_flag(path, file_revisions([path])[path])
    raise UserError(f"flag {name!r}: no file {directory / (name + '.yaml')}")


def flag_at_ref(path: Path, ref: str) -> FlagState | None:
    """The file's content at git revision `ref`; None when it did not exist there."""
    if _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"]) is None:
        raise UserError(f"--base {ref!r}: not a git revision here (fetch it first, "
                        f"e.g. git fetch origin main)")
    top = _git(["rev-parse", "--show-toplevel"])
    try:
        rel = path.resolve().relative_to(Path(top.strip()).resolve()) if top else path
    except ValueError:
        raise UserError(f"{path}: not inside this git repository, so --base cannot "
                        f"read its earlier version") from None
    try:
        out = subprocess.run(["git", "show", f"{ref}:{rel.as_posix()}"], capture_output=True,
                             timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        raise UserError("git is not available to read --base") from None
    if out.returncode != 0:
        return None
    return build_flag(parse_yaml(out.stdout, f"{ref}:{rel.as_posix()}"),
                      f"{ref}:{rel.as_posix()}", expected_flag=path.stem)

"""The seeds (shared/seeds/ beside the repository in this project's workspace), for the
tests that check the repository against their exact words.

Where they are not at hand (a fork, a laptop, a GitHub runner) those tests skip; under
this project's CI (.ci/run sets ROLLOUT_REQUIRE_SEEDS, and its machines keep the seeds
beside the checkout) they fail instead, so that run can never pass by silently skipping
them. GitHub Actions' own CI=true is not the signal: a fork's runners have no seeds. A fork
points ROLLOUT_SEEDS_DIR at its own copy.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = Path(os.environ.get("ROLLOUT_SEEDS_DIR", ROOT.parent / "shared" / "seeds"))


def under_ci() -> bool:
    return os.environ.get("ROLLOUT_REQUIRE_SEEDS", "").strip().lower() not in ("", "0", "false", "no")


def seed(prefix: str) -> Path:
    """The seed file `<prefix>_*` (e.g. "003": the playbook); skips, or fails under CI,
    when it is missing."""
    found = sorted(SEEDS.glob(f"{prefix}_*")) if SEEDS.is_dir() else []
    if found:
        return found[0]
    message = f"seed {prefix}_* not found under {SEEDS} (set ROLLOUT_SEEDS_DIR)"
    if under_ci():
        pytest.fail(f"{message}; ROLLOUT_REQUIRE_SEEDS is set, so this must not be skipped")
    pytest.skip(message)

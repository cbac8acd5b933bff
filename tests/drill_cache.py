"""One `rollout drill` per (fault, seed, rate, clock) for the whole test run.

A drill walks eleven simulated days and is the most expensive thing the suite runs; the
drill tests, the golden files and the report tests read the same rehearsals. The first
test that asks for one runs it (the real command, in a subprocess, from the repository
root so the committed flag file is the one rehearsed); every other test, in any xdist
worker, copies the finished store. Tests never write to the cached file itself.
"""
from __future__ import annotations

import fcntl
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.cli import ROOT, rollout

PINNED = "2026-11-30T06:00:00Z"         # the drills' simulated time ends here
SEED, RATE = "7", "600"                 # 600 requests per simulated hour walk the ladder


@dataclass(frozen=True)
class Drill:
    store: Path                         # the drill's SQLite file: copy it, never write it
    summary: dict                       # what `rollout drill --output json` printed

    def copy_to(self, directory: Path, name: str = "drill.db") -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / name
        shutil.copyfile(self.store, target)
        return target


def _shared_dir(tmp_path_factory) -> Path:
    """A directory every xdist worker of this run sees (and no other run)."""
    base = tmp_path_factory.getbasetemp()
    # under xdist each worker's basetemp is <run>/popen-gwN; without it, <run> itself
    shared = base.parent if base.name.startswith("popen-gw") else base
    path = shared / "drills"
    path.mkdir(exist_ok=True)
    return path


def drill(tmp_path_factory, fault: str, *, seed: str = SEED, rate: str = RATE,
          pinned: str = PINNED) -> Drill:
    key = f"{fault}-{seed}-{rate}-{pinned.replace(':', '')}"
    home = _shared_dir(tmp_path_factory) / key
    with open(home.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # one worker runs it, the others wait
        done = home / "summary.json"
        if not done.exists():
            home.mkdir(exist_ok=True)
            store = f"sqlite:///{home / 'drill.db'}"
            r = rollout(["drill", "--fault", fault, "--seed", seed, "--rate", rate,
                         "--store", store, "--output", "json"], ROOT, {"ROLLOUT_NOW": pinned})
            assert r.returncode == 0, r.stdout[-2000:] + r.stderr
            done.write_text(r.stdout)               # last: its presence says "finished"
    return Drill(home / "drill.db", json.loads(done.read_text()))

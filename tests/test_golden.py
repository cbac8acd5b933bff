"""Golden files: the reports and the pull-request comment, byte for byte.

Three drills with a fixed seed on a pinned clock (ROLLOUT_NOW) fill three stores; the
real command line (`rollout.cli.main.main`, in process: one interpreter, one drill per
store) renders every report kind as Markdown and JSON, the timeline SVG, the gate's
pull-request comment (markdown, json, table) and the history table. Each output must
equal its file under tests/golden/<drill>/ byte for byte, so a refactoring proves it
changed no behaviour. After a deliberate change of an output:

    .venv/bin/python -m pytest tests/test_golden.py --update-golden -n 0

rewrites the files; review `git diff tests/golden` before committing it.

One test per drill, so that under xdist each drill still runs once.
"""
from __future__ import annotations

import contextlib
import difflib
import io
import os
from pathlib import Path

import pytest

from rollout.cli.main import main
from tests.cli import ROOT
from tests.drill_cache import drill

GOLDEN = Path(__file__).resolve().parent / "golden"
FLAG = "skills_rollout"
PINNED = "2026-11-30T06:00:00Z"         # the drills' simulated time ends here
RATE = "600"                            # requests per simulated hour: enough to walk the ladder
# Environment the outputs may not depend on: a developer's or CI's own settings.
UNSET = ("ROLLOUT_STORE", "ROLLOUT_METRICS", "ROLLOUT_HISTORY", "GITHUB_STEP_SUMMARY",
         "NEW_RELIC_API_KEY", "NEW_RELIC_ACCOUNT_ID")

AFTER_ABORT = "2026-11-17T11:30Z"
STORE = ["--store", "sqlite:///drill.db", "--flags", str(ROOT / "rollout" / "flags")]

# drill fault -> [(golden file, command line, expected exit code, chart file or None)]
CASES = {
    "none": [
        *[(f"report-{kind}.md", ["report", kind, FLAG, *STORE, "--at", at, "--chart", f"{kind}.svg"],
           0, f"{kind}.svg")
          for kind, at in (("daily", "2026-11-18T09:00Z"), ("sla", "latest"), ("cost", "latest"),
                           ("final", "latest"), ("review", "latest"))],
        *[(f"report-{kind}.json", ["report", kind, FLAG, *STORE, "--at", at, "--output", "json"], 0, None)
          for kind, at in (("daily", "2026-11-18T09:00Z"), ("sla", "latest"), ("cost", "latest"),
                           ("final", "latest"), ("review", "latest"))],
        # half an hour before beta's 168 h soak is served: a HOLD on the soak alone
        *[(f"gate.{ext}", ["gate", FLAG, *STORE, "--at", "2026-11-26T05:30Z", "--output", out],
           1, None) for ext, out in (("md", "markdown"), ("json", "json"), ("txt", "table"))],
    ],
    "error-rate": [            # the guard rolled back at 2026-11-17 09:30; two hours later:
        ("report-daily.md", ["report", "daily", FLAG, *STORE, "--at", AFTER_ABORT], 0, None),
        ("report-final.md", ["report", "final", FLAG, *STORE, "--at", AFTER_ABORT], 0, None),
        ("report-review.md", ["report", "review", FLAG, *STORE, "--at", AFTER_ABORT, "--chart",
                              "review.svg"], 0, "review.svg"),
        ("report-review.json", ["report", "review", FLAG, *STORE, "--at", AFTER_ABORT, "-o", "json"],
         0, None),
        # the step's evidence just before the guard rolled back: ROLLBACK
        ("gate.md", ["gate", FLAG, *STORE, "--at", "2026-11-17T09:29:59Z", "--output", "markdown"],
         3, None),
    ],
    "provider-outage": [
        ("report-daily.md", ["report", "daily", FLAG, *STORE, "--at", "latest"], 0, None),
        ("report-cost.md", ["report", "cost", FLAG, *STORE, "--at", "latest"], 0, None),
        ("report-sla.json", ["report", "sla", FLAG, *STORE, "--at", "latest", "-o", "json"], 0, None),
        ("report-review.md", ["report", "review", FLAG, *STORE, "--at", "latest"], 0, None),
        ("history.txt", ["history", FLAG, "--store", "sqlite:///drill.db"], 0, None),
    ],
}


@contextlib.contextmanager
def _cli_env(cwd: Path):
    saved = dict(os.environ)
    for name in UNSET:
        os.environ.pop(name, None)
    os.environ.update(ROLLOUT_NOW=PINNED, ROLLOUT_ACTOR="golden")
    try:
        with contextlib.chdir(cwd):
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cli(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """`rollout ARGS` in `cwd`, in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with _cli_env(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def drills(tmp_path_factory):
    """One store per fault, each filled by one `rollout drill` (shared by the whole run:
    tests/drill_cache.py), copied into a directory of this module's own."""
    made = {}

    def get(fault: str) -> Path:
        if fault not in made:
            cwd = tmp_path_factory.mktemp(f"drill-{fault}")
            drill(tmp_path_factory, fault, seed="7", rate=RATE, pinned=PINNED).copy_to(cwd)
            made[fault] = cwd
        return made[fault]

    return get


def _compare(path: Path, text: str, update: bool) -> str | None:
    """None when `text` equals the golden file byte for byte, else a short diff."""
    data = text.encode("utf-8")
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return None
    if not path.exists():
        return f"{path.relative_to(ROOT)}: missing (run with --update-golden)"
    want = path.read_bytes()
    if want == data:
        return None
    diff = difflib.unified_diff(want.decode("utf-8", "replace").splitlines(), text.splitlines(),
                                "golden", "now", lineterm="", n=1)
    return f"{path.relative_to(ROOT)} differs:\n" + "\n".join(list(diff)[:40])


@pytest.mark.parametrize("fault", list(CASES))
def test_outputs_equal_the_golden_files(drills, fault, request):
    update = request.config.getoption("--update-golden")
    cwd = drills(fault)
    problems = []
    for name, args, code, chart in CASES[fault]:
        got, out, err = cli(args, cwd)
        if got != code:
            problems.append(f"{name}: `rollout {' '.join(args)}` exited {got}, expected {code}: {err}")
            continue
        problems.append(_compare(GOLDEN / fault / name, out, update))
        if chart:
            svg = (cwd / chart).read_text(encoding="utf-8")
            problems.append(_compare(GOLDEN / fault / f"chart-{Path(name).stem}.svg", svg, update))
    problems = [p for p in problems if p]
    assert not problems, "\n\n".join(problems)

"""What `rollout validate` may load. It runs on every pull request and must start fast
(bench/cli_startup.py measures it): heavy libraries load lazily, inside the commands that
need them. The Pulumi half of this rule is tests/test_pulumi_program.py
(test_rollout_commands_do_not_import_pulumi).

validate legitimately needs PyYAML (the flag files) and jsonschema (rollout/schema/
flag.schema.json, checked on every file); nothing below.
"""
from __future__ import annotations

import re
import subprocess
import sys

from tests.cli import ROOT

HEAVY = {"numpy", "scipy", "requests", "urllib3", "psycopg", "psycopg_binary", "pulumi",
         "pulumi_newrelic", "pulumi_render", "locust", "starlette", "uvicorn", "playwright",
         "infra", "alerts", "dashboards"}

PROBE = """\
import sys
from rollout.cli.main import main
codes = [main(["validate"]), main(["validate", "--base", "HEAD"])]
print(codes)
print(",".join(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_validate_loads_no_heavy_library():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    *_, codes, modules = out.stdout.strip().splitlines()
    assert codes == "[0, 0]", out.stdout
    loaded = set(modules.split(","))
    assert "rollout" in loaded and "yaml" in loaded          # the probe saw the real run
    assert not loaded & HEAVY, f"rollout validate imported {sorted(loaded & HEAVY)}"


def test_no_test_skips_when_the_project_fails_to_import():
    """An import error of our own code must fail a test, not skip it."""
    own = re.compile(r"importorskip\(\s*[\"'](rollout|tests|infra|alerts|dashboards)\b")
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "tests").rglob("*.py"))
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if own.search(line)]
    assert offenders == []

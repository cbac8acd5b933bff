"""The dependency direction of docs/architecture.md, enforced on every import in rollout/
(those inside functions too):

    cli  ->  orchestration (rollout/*.py, serve/, loadtest/)  ->  adapters  ->  core
    and all of them -> the shared base (errors, redact, localfile, yamlfile)

The core loads no I/O library; no command module imports another command module.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.cli import ROOT

PACKAGE = ROOT / "rollout"
BASE = {"rollout.errors", "rollout.redact", "rollout.localfile", "rollout.yamlfile"}
# Libraries that talk to the outside world (network, databases, processes, files by
# descriptor) or run it (web servers, load generators, Pulumi): never in the pure core.
IO_LIBRARIES = {"requests", "urllib3", "http", "socket", "ssl", "psycopg", "sqlite3", "fcntl",
                "subprocess", "threading", "multiprocessing", "asyncio", "starlette", "uvicorn",
                "locust", "gevent", "pulumi", "pulumi_newrelic", "pulumi_render", "playwright"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    """cli | orchestration | adapters | core | base | entry, for a module of rollout."""
    if module in BASE:
        return "base"
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return "entry"
    return parts[1] if parts[1] in ("cli", "adapters", "core") else "orchestration"


def imports() -> list[tuple[str, str, int]]:
    """(importing module, imported module, line) for every import in rollout/."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        me = module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [(me, a.name, node.lineno) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found += [(me, node.module, node.lineno)]
                # `from rollout.adapters import http` imports the module rollout.adapters.http
                found += [(me, f"{node.module}.{a.name}", node.lineno) for a in node.names
                          if (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/")
                              ).with_suffix(".py").exists()]
    return found


IMPORTS = imports()
ALLOWED = {   # layer -> the layers of rollout it may import
    "base": {"base"},
    "core": {"core", "base"},
    "adapters": {"adapters", "core", "base"},
    "orchestration": {"orchestration", "adapters", "core", "base"},
    "cli": {"cli", "orchestration", "adapters", "core", "base"},
    "entry": {"cli"},
}


def test_the_scan_sees_imports_inside_functions_and_of_modules_by_name():
    pairs = {(a, b) for a, b, _ in IMPORTS}
    assert ("rollout.cli.cmd_gate", "rollout.gate_run") in pairs          # inside run()
    assert ("rollout.adapters.health", "rollout.adapters.http") in pairs  # from ... import http
    assert layer("rollout.cli.cmd_gate") == "cli" and layer("rollout.guard") == "orchestration"
    assert layer("rollout.serve.app") == "orchestration" and layer("rollout.errors") == "base"


@pytest.mark.parametrize("source", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(source):
    wrong = [f"{a}:{n} imports {b} ({layer(b)})" for a, b, n in IMPORTS
             if layer(a) == source and b.split(".")[0] == "rollout" and layer(b) not in ALLOWED[source]]
    assert wrong == []


def test_the_core_loads_no_io_library():
    wrong = [f"{a}:{n} imports {b}" for a, b, n in IMPORTS
             if layer(a) == "core" and b.split(".")[0] in IO_LIBRARIES]
    assert wrong == []


def test_no_command_module_imports_another():
    def command(module):
        return module.startswith("rollout.cli.cmd_")

    wrong = [f"{a}:{n} imports {b}" for a, b, n in IMPORTS if command(a) and command(b) and a != b]
    assert wrong == []

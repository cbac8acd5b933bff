"""The command line's side of the load test: probe the target, start the worker process,
relay its progress, and hand back its summary. Imports neither Locust nor gevent.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit

from rollout.errors import ExternalError
from rollout.loadtest.profiles import Profile
from rollout.loadtest.target import AUTH_ENV, public_url, redactor

HEALTH_PATH = "/health"        # seed 002: the service's health check endpoint
STARTUP_S = 60.0               # the worker's imports and the HTML report, on a slow machine


def _auth(target: str) -> dict:
    """requests keyword arguments carrying the target's credentials (never in the URL, so
    an error message that names the URL names no secret)."""
    parts = urlsplit(target)
    kwargs = {}
    if parts.username is not None:
        kwargs["auth"] = (unquote(parts.username), unquote(parts.password or ""))
    if os.environ.get(AUTH_ENV):
        kwargs["headers"] = {"Authorization": os.environ[AUTH_ENV]}
    return kwargs


def probe(target: str) -> int:
    """GET <target>/health once or twice, before minutes of load: any HTTP answer (even
    503) shows the target is there; no answer at all is an ExternalError (exit 4)."""
    from rollout.adapters.http import RetryPolicy, request

    resp = request("GET", public_url(target) + HEALTH_PATH,
                   what=f"load test target {public_url(target)} is unreachable",
                   policy=RetryPolicy(attempts=2, timeout=5.0, backoff=0.5),
                   retry_on=frozenset(), **_auth(target))
    return resp.status_code


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()
                 if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def run_worker(target: str, profile: Profile, out: Path,
               on_progress: Callable[[dict], None], *, every: float = 5.0) -> dict:
    """Run the profile against `target` in a child process; the summary it wrote.

    The child's stderr (Locust's own log) goes to out/worker.log. A child that dies, or
    outlives the profile by more than STARTUP_S, is an ExternalError naming that log."""
    job = {"target": target, "profile": profile.to_json(), "out": str(out), "progress": every}
    log_path = out / "worker.log"
    redact = redactor(target)
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "rollout.loadtest.worker"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                text=True, encoding="utf-8")
        limit = profile.seconds + STARTUP_S + 30
        timer = threading.Timer(limit, proc.kill)
        timer.start()
        started = time.monotonic()
        try:
            proc.stdin.write(json.dumps(job))
            proc.stdin.close()
            for line in proc.stdout:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue          # a stray print of a library; the log has the rest
                if msg.get("event") == "progress":
                    on_progress(msg)
            rc = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    summary = out / "summary.json"
    if rc != 0 or not summary.exists():
        why = (f"stopped after {time.monotonic() - started:.0f}s, past its time limit"
               if time.monotonic() - started >= limit else f"exit {rc}")
        raise ExternalError(f"load generator failed ({why}): "
                            f"{redact(_last_line(log_path)) or 'no message'}; see {log_path}")
    return json.loads(summary.read_text(encoding="utf-8"))

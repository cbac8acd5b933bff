"""`rollout serve` as a real process on 127.0.0.1, for the tests and bench/hook_latency.py.

    with Served(repo, env, "--interval", "30") as srv:      # --port 0: any free port
        srv.wait_until(lambda h: h["last_evaluation"])      # polls GET /healthz
        status, body = srv.post_hook({"flags": ["skills_rollout"]})

The port comes from the service's own first log line ({"event": "listening", "port": N}),
so parallel test workers never race for a port. Logs (JSON lines on stderr) go to a
file; `.events("evaluation")` parses them.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

HOOK_TOKEN = "test-hook-token-" + "0123456789abcdef" * 3      # >= 32 characters


class Fakes:
    """NerdGraph (serving `traffic(now)`), Slack, PagerDuty and GitHub (holding the flag
    file of `repo`) on 127.0.0.1, and the environment that points the guard at them with
    its clock pinned at `now`."""

    def __init__(self, repo: Path, now, flag: str = "skills_rollout"):
        from tests.fakes.newrelic import FakeNerdGraph
        from tests.fakes.pagerduty import FakePagerDuty
        from tests.fakes.slack import FakeSlack
        from tests.receivers import flag_github, receivers_env

        self.nr = FakeNerdGraph(traffic(now)).start()
        self.slack, self.pd = FakeSlack().start(), FakePagerDuty().start()
        self.gh = flag_github(repo, flag).start()
        self.env = {**receivers_env(self.slack, self.pd, self.gh, self.nr),
                    "ROLLOUT_NOW": now.isoformat()}
        self.metrics = f"newrelic://{self.nr.account_id}"

    def notifications(self) -> tuple[int, int, int]:
        """(open revert pull requests, Slack messages, PagerDuty triggers)"""
        return (len(self.gh.open_pulls()), len(self.slack.messages),
                sum(e["event_action"] == "trigger" for e in self.pd.events))

    def close(self) -> None:
        for fake in (self.nr, self.slack, self.pd, self.gh):
            fake.stop()


class Served:
    def __init__(self, cwd: Path, env: dict, *args: str, log: Path | None = None,
                 token: str | None = HOOK_TOKEN):
        self.cwd, self.args = Path(cwd), list(args)
        self.env = {**os.environ, "ROLLOUT_ACTOR": "tester", **env}
        for var in ("ROLLOUT_STORE", "ROLLOUT_HOOK_TOKEN", "GITHUB_STEP_SUMMARY"):
            if var not in env:
                self.env.pop(var, None)
        if token:
            self.env["ROLLOUT_HOOK_TOKEN"] = token
        self.token = token
        self.log = log or self.cwd / f"serve-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.http = requests.Session()

    # -- life -----------------------------------------------------------------------------
    def start(self, timeout: float = 30) -> "Served":
        self.log.write_text("")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rollout", "serve", "--port", "0", *self.args],
            cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL,
            stderr=self.log.open("a"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events("listening")
            if found:
                self.port = found[0]["port"]
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"rollout serve exited {self.proc.returncode}: "
                                     f"{self.log.read_text()[-2000:]}")
            time.sleep(0.02)
        raise AssertionError(f"rollout serve did not listen: {self.log.read_text()[-2000:]}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            self.stop(timeout=20)         # orderly: the lease is released for the next one
        except subprocess.TimeoutExpired:
            pass
        self.kill()
        self.http.close()

    # -- HTTP -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str):
        r = self.http.get(self.url + path, timeout=10)
        return r.status_code, r.json()

    def health(self) -> dict:
        return self.get("/healthz")[1]

    def post_hook(self, payload=None, *, token: str | None = "default", data: bytes | None = None,
                  content_type: str = "application/json", headers: dict | None = None):
        hdrs = {"Content-Type": content_type, **(headers or {})}
        token = self.token if token == "default" else token
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        body = data if data is not None else json.dumps(payload or {}).encode()
        r = self.http.post(self.url + "/hooks/newrelic", data=body, headers=hdrs, timeout=10)
        return r.status_code, r.json(), r.headers

    def wait_until(self, predicate, timeout: float = 20, every: float = 0.05) -> dict:
        """Poll /healthz until predicate(document) is true; returns that document."""
        deadline = time.monotonic() + timeout
        doc = None
        while time.monotonic() < deadline:
            doc = self.health()
            if predicate(doc):
                return doc
            time.sleep(every)
        raise AssertionError(f"timed out; last /healthz: {json.dumps(doc)[:1500]}")

    # -- logs -----------------------------------------------------------------------------
    def events(self, name: str | None = None) -> list[dict]:
        out = []
        for line in self.log.read_text().splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if name is None or e.get("event") == name:
                out.append(e)
        return out


# -- a repository whose flag is live at 5 %, and its traffic ----------------------------------


def live_repo(tmp: Path, *store_args: str):
    """A git repository whose skills_rollout flag was applied at 5 % 80 h before NOW."""
    from datetime import datetime, timedelta, timezone

    from tests.cli import make_repo, rollout, set_percentage

    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    repo = make_repo(tmp)
    for pct in (None, 5):
        if pct:
            set_percentage(repo, pct)
        r = rollout(["reconcile", *store_args], repo, {"ROLLOUT_NOW": t0.isoformat()})
        assert r.returncode == 0, r.stdout + r.stderr
    return repo, t0 + timedelta(hours=80)


def traffic(now, faulty: bool = False, n: int = 300, seed: int = 1) -> list[dict]:
    """An hour of SkillExecution events before `now`, both cohorts; a faulty canary fails
    a fifth of its requests (the rollback criterion is > 5 %)."""
    from datetime import timedelta

    from tests.events import CONTROL, Profile, events

    start, span = now - timedelta(hours=1), timedelta(hours=1)
    canary = Profile(error_rate=0.2) if faulty else Profile()
    return (events(n, "canary", canary, start=start, span=span, seed=seed)
            + events(n, "control", CONTROL, start=start, span=span, seed=seed))

"""The load generator: Locust through its library API, headless, in a process of its own.

    python -m rollout.loadtest.worker < job.json

The job (JSON on stdin, so a URL with credentials never shows in `ps`): target, profile
(as profiles.Profile.to_json), out (a directory), progress (seconds between lines).
Writes one JSON line per progress tick to stdout, then report.html and summary.json into
`out`, then a last line {"event": "done"}. Importing Locust monkey-patches this process
with gevent, which is why `rollout loadtest` starts it instead of importing it.
"""
from __future__ import annotations

# What importing Locust does anyway, done first and in plain sight: gevent patches
# socket, ssl, time... before any other module holds on to the unpatched ones.
from gevent import monkey

monkey.patch_all()

import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import gevent
from locust import FastHttpUser, LoadTestShape, task
from locust.env import Environment
from locust.html import get_html_report
from locust.runners import STATE_STOPPED
from locust.stats import stats_history

from rollout.loadtest.figures import Tracker, entry_figures, error_list, phase_figures
from rollout.loadtest.profiles import Profile, profile_from_data
from rollout.loadtest.scenarios import SCENARIOS, weighted_order
from rollout.loadtest.target import AUTH_ENV, public_url, redactor

# A user still waiting for its answer when the profile ends gets this long to finish, so
# the run's last requests are counted instead of cut off (the seed's p99 budget: 10 s).
STOP_GRACE_S = 10.0
CONNECT_TIMEOUT_S = 10.0
ANSWER_TIMEOUT_S = 60.0       # slower than this is a failure, not a response time
GOLDEN = 0.6180339887498949   # spreads users' first requests evenly over one pacing


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class ProfileShape(LoadTestShape):
    """The profile's rate at each second as a number of paced users; stops at the end of
    the last phase or once `max_requests` requests completed."""

    def __init__(self, profile: Profile):
        super().__init__()
        self.profile = profile

    def tick(self):
        t = self.get_run_time()
        cap = self.profile.max_requests
        if cap and self.runner.stats.total.num_requests >= cap:
            return None
        rate = self.profile.rate_at(t)
        if rate is None:
            return None
        users = self.profile.users_for(rate)
        before = self.profile.users_for(self.profile.rate_at(max(t - 1, 0)) or 0)
        # Runner.start() blocks until the change is done: make every change take a second.
        return users, float(max(users, before, 1))


def user_class(target: str, profile: Profile, tracker: Tracker):
    order = weighted_order(SCENARIOS)
    turns = {s.name: 0 for s in SCENARIOS}
    spawned = [0]
    headers = {"User-Agent": "rollout-loadtest (Locust)", "Accept": "application/json"}
    if os.environ.get(AUTH_ENV):
        headers["Authorization"] = os.environ[AUTH_ENV]

    class SkillUser(FastHttpUser):
        host = target
        connection_timeout = CONNECT_TIMEOUT_S
        network_timeout = ANSWER_TIMEOUT_S
        default_headers = headers
        last_start = 0.0

        def on_start(self):
            # Users spawned together would send together, every pacing, for ever: each
            # starts at its own offset instead (the golden ratio spreads any count evenly).
            spawned[0] += 1
            gevent.sleep((spawned[0] * GOLDEN) % 1.0 * profile.pacing)

        def wait_time(self):
            # One request every `pacing` seconds from the start of the last, not from the
            # user's creation as Locust's constant_pacing counts, which would undo the offset.
            return max(0.0, self.last_start + profile.pacing - time.monotonic())

        @task
        def skill(self):
            self.last_start = time.monotonic()
            scenario = next(order)
            payload = scenario.payloads[turns[scenario.name] % len(scenario.payloads)]
            turns[scenario.name] += 1
            tracker.begin()
            try:
                self.client.post(scenario.path, json=payload, name=scenario.name)
            finally:
                tracker.end()

    return SkillUser


def run(job: dict) -> dict:
    profile = profile_from_data(job["profile"], "job")
    target, out = job["target"], Path(job["out"])
    tracker = Tracker(profile)
    env = Environment(user_classes=[user_class(target, profile, tracker)],
                      shape_class=ProfileShape(profile), stop_timeout=STOP_GRACE_S)
    env.events.request.add_listener(tracker.on_request)
    runner = env.create_local_runner()
    gevent.spawn(stats_history, runner)
    started = datetime.now(timezone.utc)
    tracker.started = time.time()
    runner.start_shape()
    deadline = time.monotonic() + profile.seconds + STOP_GRACE_S + 30
    next_tick = time.monotonic()
    while (runner.state != STATE_STOPPED or runner.shape_greenlet) and time.monotonic() < deadline:
        if time.monotonic() >= next_tick:
            next_tick += job.get("progress", 5)
            emit(progress(runner, profile, tracker))
        gevent.sleep(0.2)
    unfinished = tracker.in_flight
    runner.quit()
    ended = datetime.now(timezone.utc)
    emit(progress(runner, profile, tracker))

    seconds = max((ended - started).total_seconds(), 1e-6)
    redact = redactor(target)
    stats = runner.stats
    env.host = public_url(target)   # what the HTML report shows
    (out / "report.html").write_text(redact(get_html_report(env, show_download_link=False)),
                                     encoding="utf-8")
    return {
        "profile": profile.name, "target": public_url(target),
        "started_at": started.isoformat(), "ended_at": ended.isoformat(),
        "seconds": round(seconds, 3),
        "overall": entry_figures(stats.total, seconds, sum(tracker.no_answer.values())),
        "scenarios": {s.name: {"title": s.title, "path": s.path, "weight": s.weight,
                               **entry_figures(stats.get(s.name, "POST"), seconds,
                                               tracker.no_answer.get(s.name, 0))}
                      for s in SCENARIOS},
        "phases": phase_figures(profile, tracker),
        "errors": error_list(stats, redact),
        "generator": {"pid": os.getpid(), "peak_users": profile.peak_users,
                      "max_in_flight": tracker.max_in_flight, "unfinished": unfinished,
                      "cpu_warning": bool(runner.cpu_warning_emitted),
                      "capped": bool(profile.max_requests
                                     and stats.total.num_requests >= profile.max_requests)},
        "reports": {"html": "report.html", "json": "summary.json"},
    }


def progress(runner, profile: Profile, tracker: Tracker) -> dict:
    total = runner.stats.total
    found = profile.at(time.time() - tracker.started)
    return {"event": "progress", "t": round(time.time() - tracker.started, 1),
            "phase": found[1].name if found else "stopping", "users": runner.user_count,
            "in_flight": tracker.in_flight, "rps": round(total.current_rps or 0, 1),
            "p95_ms": total.get_current_response_time_percentile(0.95),
            "requests": total.num_requests, "failures": total.num_failures}


def main() -> int:
    job = json.loads(sys.stdin.read())
    summary = run(job)
    path = Path(job["out"]) / "summary.json"
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    emit({"event": "done", "summary": str(path)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

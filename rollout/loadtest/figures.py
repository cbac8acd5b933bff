"""What the worker measures beside Locust's own statistics, and the summary's figures.

Locust counts requests, failures and response times per request name (here: per
scenario). It does not say which failures never got an HTTP answer (the target is down,
not slow), how many requests each phase of the profile actually got, or how many were in
flight; the Tracker hears every request and keeps those.

Imported by the worker only (it reads Locust's StatsEntry objects), never by the CLI.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rollout.loadtest.profiles import Profile

TOP_ERRORS = 20     # the summary lists the most frequent distinct errors, not all of them


@dataclass
class Tracker:
    profile: Profile
    started: float = 0.0                            # time.time() of the shape's start
    in_flight: int = 0
    max_in_flight: int = 0
    phase_requests: list = field(default_factory=list)
    no_answer: dict = field(default_factory=dict)    # scenario -> requests without an HTTP answer

    def __post_init__(self):
        self.phase_requests = [0] * len(self.profile.phases)

    def begin(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self) -> None:
        self.in_flight -= 1

    def on_request(self, name, start_time=None, exception=None, response=None, **_kw) -> None:
        """Locust's `request` event: one call per completed request."""
        found = self.profile.at((start_time or self.started) - self.started)
        self.phase_requests[found[0] if found else -1] += 1
        if exception is not None and not getattr(response, "status_code", 0):
            self.no_answer[name] = self.no_answer.get(name, 0) + 1


def entry_figures(entry, seconds: float, no_answer: int) -> dict:
    """One Locust StatsEntry (a scenario, or the total) as the summary's figures.

    Locust's percentiles come from response times rounded to two significant digits
    above 100 ms (3,172 ms counts as 3,200 ms): fine for a budget of 5,000 ms."""
    n, failed = entry.num_requests, entry.num_failures
    pct = (lambda p: entry.get_response_time_percentile(p)) if n else (lambda p: None)
    return {
        "requests": n,
        "failures": failed,
        "no_answer": no_answer,
        "error_rate": round(failed / n * 100, 4) if n else None,
        "success_rate": round((n - failed) / n * 100, 4) if n else None,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": round(entry.avg_response_time, 1) if n else None,
        "max_ms": round(entry.max_response_time, 1) if n else None,
        "rps": round(n / seconds, 3) if seconds > 0 else None,
    }


def phase_figures(profile: Profile, tracker: Tracker) -> list[dict]:
    return [{**p.to_json(), "target_requests": round(p.requests), "requests": count,
             "rps": round(count / p.seconds, 3), "target_rps": round(p.requests / p.seconds, 3)}
            for p, count in zip(profile.phases, tracker.phase_requests)]


def error_list(stats, redact) -> list[dict]:
    """The most frequent distinct failures, as Locust groups them (scenario, error)."""
    errors = sorted(stats.errors.values(), key=lambda e: -e.occurrences)[:TOP_ERRORS]
    return [{"scenario": e.name, "error": redact(str(e.error))[:300], "count": e.occurrences}
            for e in errors]

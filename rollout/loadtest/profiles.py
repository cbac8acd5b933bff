"""Load profiles: a table of phases, each a duration and an arrival rate.

A rate is requests per second, as in the seed's Artillery phases (an arrival there is a
virtual user that sends one request). Locust is closed-loop (a user waits for its
answer), so a rate becomes users that each start one request every `pacing` seconds:
users = rate x pacing. With the seed's 5 s pacing (its p95 budget) a user keeps its pace
as long as its answers come within the budget; a slower target gets fewer requests than
the phase asks, which the summary shows as the achieved rate beside the target rate.

Pure data and arithmetic; the worker turns a Profile into a Locust LoadTestShape.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from rollout.core.state import parse_duration
from rollout.errors import UserError


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    rate: float                       # requests per second at the phase's start
    ramp_to: float | None = None      # ... rising (or falling) linearly to this at its end

    def rate_at(self, t: float) -> float:
        if self.ramp_to is None or self.seconds <= 0:
            return self.rate
        return self.rate + (self.ramp_to - self.rate) * min(max(t / self.seconds, 0.0), 1.0)

    @property
    def requests(self) -> float:
        """Requests the phase asks for (the area under its rate)."""
        end = self.rate if self.ramp_to is None else self.ramp_to
        return (self.rate + end) / 2 * self.seconds

    def to_json(self) -> dict:
        d = {"name": self.name, "seconds": self.seconds, "rate": self.rate}
        return d if self.ramp_to is None else {**d, "ramp_to": self.ramp_to}


@dataclass(frozen=True)
class Profile:
    name: str
    phases: tuple[Phase, ...]
    pacing: float = 5.0               # seconds between the starts of one user's requests
    max_requests: int | None = None   # stop early once this many requests completed
    description: str = ""

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)

    def at(self, t: float) -> tuple[int, Phase, float] | None:
        """(index, phase, seconds into it) at `t` seconds from the start; None after the end."""
        start = 0.0
        for i, p in enumerate(self.phases):
            if t < start + p.seconds:
                return i, p, t - start
            start += p.seconds
        return None

    def rate_at(self, t: float) -> float | None:
        found = self.at(t)
        return None if found is None else found[1].rate_at(found[2])

    def users_for(self, rate: float) -> int:
        return max(1, math.ceil(rate * self.pacing - 1e-9)) if rate > 0 else 0

    @property
    def peak_rate(self) -> float:
        return max(max(p.rate, p.ramp_to or 0) for p in self.phases)

    @property
    def peak_users(self) -> int:
        return self.users_for(self.peak_rate)

    @property
    def requests(self) -> int:
        return round(sum(p.requests for p in self.phases))

    def to_json(self) -> dict:
        return {"name": self.name, "pacing": self.pacing, "max_requests": self.max_requests,
                "phases": [p.to_json() for p in self.phases]}


# Seed 002 Task 1 (its Artillery config): warm-up, ramp-up, sustained load, spike,
# cool-down. Note the seed's own comment calls the sustained 100/s "1000 requests/minute";
# 100 arrivals a second are 6,000 a minute. The phases are the stricter figure, and they
# are what runs (docs/loadtest.md).
SEED = Profile("seed", (
    Phase("warm-up", 60, 10),
    Phase("ramp-up", 300, 10, 100),
    Phase("sustained", 600, 100),
    Phase("spike", 60, 200),
    Phase("cool-down", 120, 10),
), pacing=5.0, description="seed 002 Task 1: 19 minutes, 100/s sustained, 200/s spike")

# A short look at a fresh deployment: every scenario runs, nothing is stressed.
SMOKE = Profile("smoke", (
    Phase("warm-up", 5, 2),
    Phase("sustained", 20, 5),
    Phase("cool-down", 5, 2),
), pacing=2.0, max_requests=500, description="30 seconds at up to 5/s")

PROFILES = {p.name: p for p in (SEED, SMOKE)}


def _number(value, where: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (positive and value == 0):
        raise UserError(f"{where}: expected a {'positive' if positive else 'non-negative'} "
                        f"number, got {value!r}")
    return float(value)


def _seconds(value, where: str) -> float:
    if isinstance(value, str):
        try:
            value = parse_duration(value).total_seconds()
        except ValueError as exc:
            raise UserError(f"{where}: {exc}") from None
    return _number(value, where, positive=True)


_PHASE_KEYS = {"name", "seconds", "duration", "rate", "ramp_to"}
_PROFILE_KEYS = {"name", "description", "pacing", "max_requests", "phases"}


def _phase(d, where: str) -> Phase:
    if not isinstance(d, dict):
        raise UserError(f"{where}: expected a mapping with name, duration and rate")
    extra = sorted(set(d) - _PHASE_KEYS)
    if extra:
        raise UserError(f"{where}: unknown key {extra[0]!r}, expected name, duration, rate, ramp_to")
    for key in ("name", "rate"):
        if key not in d:
            raise UserError(f"{where}: missing {key!r}")
    if "duration" not in d and "seconds" not in d:
        raise UserError(f"{where}: missing 'duration' (e.g. 60s or 5m)")
    ramp = d.get("ramp_to")
    return Phase(str(d["name"]), _seconds(d.get("duration", d.get("seconds")), f"{where}.duration"),
                 _number(d["rate"], f"{where}.rate"),
                 None if ramp is None else _number(ramp, f"{where}.ramp_to"))


def profile_from_data(data, source: str) -> Profile:
    """A profile from parsed YAML/JSON (a file of your own, or the worker's job); a bad
    one is a one-line UserError naming `source` and the field."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping with phases: [...]")
    extra = sorted(set(data) - _PROFILE_KEYS)
    if extra:
        raise UserError(f"{source}: unknown key {extra[0]!r}, expected one of "
                        f"{', '.join(sorted(_PROFILE_KEYS))}")
    phases = data.get("phases")
    if not isinstance(phases, list) or not phases:
        raise UserError(f"{source}: field phases: expected a non-empty list of phases")
    profile = Profile(
        name=str(data.get("name") or source),
        phases=tuple(_phase(p, f"{source}: field phases[{i}]") for i, p in enumerate(phases)),
        pacing=_seconds(data.get("pacing", 5), f"{source}: field pacing"),
        max_requests=(None if data.get("max_requests") is None else
                      int(_number(data["max_requests"], f"{source}: field max_requests",
                                  positive=True))),
        description=str(data.get("description") or ""))
    if profile.peak_rate <= 0:
        raise UserError(f"{source}: field phases: every rate is 0, nothing would be sent")
    return profile

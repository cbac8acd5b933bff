"""`rollout drill`: the whole playbook rehearsed on this machine in compressed time.

A traffic generator writes SkillExecution events for users bucketed by the real
bucketing function; the real reconcile, gate and guard code walks the ladder
0 -> 5 -> 25 -> 100 on a simulated clock (each step's real soak time, in seconds of
wall time). A fault makes the canary misbehave (error-rate, latency) or makes the
metric provider unavailable (provider-outage): the first two must roll back by
themselves, the last must hold — neither proceed nor roll back on missing data.
This is the seeds' "rollback procedures tested", made repeatable.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import lru_cache
from datetime import datetime, timedelta, timezone

import numpy as np

from rollout.core.bucketing import bucket
from rollout.core.state import FlagState
from rollout.errors import ExternalError

FAULTS = ("none", "error-rate", "latency", "provider-outage")
HOLD_EXTENSION = timedelta(hours=48)   # playbook: "If HOLD: extend canary monitoring for 48 more hours"
PADDING = timedelta(hours=48)          # simulated time after the ladder's soaks, for holds
MODELS = (("claude-haiku", 0.55), ("claude-sonnet", 0.40), ("claude-opus", 0.05))


@dataclass(frozen=True)
class Behaviour:
    """How one cohort behaves. Healthy numbers sit inside the playbook's targets."""

    error_rate: float           # share of failed executions
    latency_median_ms: float    # log-normal execution time
    latency_sigma: float
    cost_usd: float             # mean cost per request
    cache_hit: float
    token_savings: float        # percent of tokens saved
    fallback: float
    timeout: float


CONTROL = Behaviour(0.006, 1700, 0.45, 0.030, 0.30, 0.0, 0.0, 0.002)   # no skills (baseline ~$0.03)
CANARY = Behaviour(0.006, 1500, 0.45, 0.018, 0.50, 75.0, 0.02, 0.002)  # skills: ~40 % cheaper
FAULTY = {
    "error-rate": replace(CANARY, error_rate=0.12),            # > 5 %: rollback
    "latency": replace(CANARY, latency_median_ms=9000),        # p95 > 10 s: rollback
}


@dataclass
class DrillConfig:
    fault: str = "none"
    speed: float = 0.0                   # simulated seconds per real second; 0 = as fast as possible
    requests_per_hour: int = 2400        # at 5 %, 120 canary requests an hour
    tick: timedelta = timedelta(minutes=30)          # guard interval (simulated)
    fault_after: timedelta = timedelta(hours=24)     # into the canary step
    seed: int = 7


class _OutageSource:
    """The metric provider, unavailable from `since` (simulated time) on."""

    def __init__(self, source, since: datetime):
        self.source, self.since = source, since

    def fetch(self, catalog, start, end):
        if end > self.since:
            raise ExternalError("New Relic NerdGraph: POST https://api.newrelic.com/graphql "
                                "failed after 4 attempts: HTTP 503 (drill: provider outage)")
        return self.source.fetch(catalog, start, end)


USERS = 50_000


@lru_cache(maxsize=1)
def _buckets() -> np.ndarray:
    """The real bucket of every simulated user, computed once."""
    return np.array([bucket(f"user-{i}") for i in range(USERS)], dtype=np.int16)


def generate_columns(rng: np.random.Generator, start: datetime, tick: timedelta, n: int,
                     pct: int, behaviour_for) -> dict:
    """`n` SkillExecution events over [start, start + tick), column-wise. Users whose
    bucket is <= pct are the canary cohort, as the application routes them."""
    idx = rng.integers(0, USERS, n)
    canary = _buckets()[idx] <= pct
    can, ctl = behaviour_for(True), behaviour_for(False)
    pick = lambda attr: np.where(canary, getattr(can, attr), getattr(ctl, attr))
    names = [m for m, _ in MODELS]
    start_ms = start.timestamp() * 1000
    return {
        "timestamp": np.sort(start_ms + rng.random(n) * tick.total_seconds() * 1000).round(),
        "cohort": np.where(canary, "canary", "control"),
        "userId": [f"user-{i}" for i in idx.tolist()],
        "skillId": [f"skill-{i}" for i in rng.integers(0, 12, n).tolist()],
        "model": rng.choice(names, n, p=[w for _, w in MODELS]),
        "executionTime": (np.exp(rng.normal(0, pick("latency_sigma"))) *
                          pick("latency_median_ms")).round(1),
        "success": rng.random(n) >= pick("error_rate"),
        "cost": (pick("cost_usd") * np.exp(rng.normal(-0.045, 0.3, n))).round(6),
        "tokenSavings": np.where(canary, np.maximum(0, rng.normal(pick("token_savings"), 5)),
                                 0.0).round(2),
        "cacheHit": rng.random(n) < pick("cache_hit"),
        "timedOut": rng.random(n) < pick("timeout"),
        "fallback": rng.random(n) < pick("fallback"),
    }


def generate_events(rng: np.random.Generator, start: datetime, tick: timedelta, n: int,
                    pct: int, behaviour_for) -> list[dict]:
    """The same traffic as JSON-ready SkillExecution objects (for `rollout events import`)."""
    cols = generate_columns(rng, start, tick, n, pct, behaviour_for)
    out = []
    for i in range(n):
        row = {k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in cols.items()}
        row["timestamp"] = datetime.fromtimestamp(row["timestamp"] / 1000, timezone.utc).isoformat()
        out.append(row)
    return out


def run_drill(base: FlagState, store, store_url: str, cfg: DrillConfig, *, actor: str = "drill",
              clock=time.perf_counter, ends_by: datetime | None = None,
              events_url: str | None = None) -> dict:
    """Walk the ladder of `base` on a simulated clock; returns the drill's JSON summary.
    The simulated time ends around `ends_by` (default: now), so a pinned clock
    (ROLLOUT_NOW) makes the whole rehearsal repeatable to the byte. The generated events
    go into the sqlite store itself, or into `events_url` (a drill against a staging
    database store); `store_url` is shown, so it must carry no password."""
    if cfg.fault not in FAULTS:
        raise ValueError(cfg.fault)
    # The rehearsal is itself phase-0 evidence; it walks the ladder without asking for it.
    base = replace(base, preflight=())
    total = sum((s.soak or timedelta(0) for s in base.ladder.steps), timedelta(0)) + PADDING
    t0 = ((ends_by or datetime.now(timezone.utc)) - total).replace(minute=0, second=0,
                                                                    microsecond=0)
    walk = _Rehearsal(base, store, store_url, events_url or store_url, cfg, actor, t0)
    walk.reconcile_now()                          # create the flag at 0 %
    walk.commit_next()                            # the canary pull request
    end = t0 + total + timedelta(hours=48)
    while walk.now < end and walk.tick(clock):
        pass
    return walk.summary()


class _Rehearsal:
    """One drill's walk: the simulated clock, the committed state git would hold, the
    decisions seen so far, and the real reconcile and guard run against the store."""

    def __init__(self, base: FlagState, store, store_url: str, events_url: str,
                 cfg: DrillConfig, actor: str, t0: datetime):
        from rollout.adapters.metrics import open_source
        from rollout.adapters.store.sqlite import sqlite_path
        from rollout.guard import Notifiers

        self.base, self.store, self.store_url, self.cfg, self.actor = (
            base, store, store_url, cfg, actor)
        self.rng = np.random.default_rng(cfg.seed)
        self.ladder = base.ladder
        self.t0 = self.now = t0
        self.db = sqlite_path(events_url)
        self.source = open_source(events_url, events_url)   # the rehearsal's own events, always
        self.fault_at: datetime | None = None
        self.decisions: list[dict] = []
        self.notifiers = Notifiers()                        # a rehearsal pages nobody
        self.step_index, self.state = 0, replace(base, percentage=0, revision="drill-0")
        self.detection_ms: float | None = None
        self.rolled_back = False
        self.held_since: datetime | None = None
        self.per_tick = max(1, round(cfg.requests_per_hour * cfg.tick.total_seconds() / 3600))
        self.first_live = next(s.percentage for s in self.ladder.steps if s.percentage > 0)

    def note(self, by: str, action: str, frm, to, reasons) -> None:
        last = self.decisions[-1] if self.decisions else {}
        if (last.get("by"), last.get("action"), last.get("from"), last.get("to")) == \
                (by, action, frm, to):
            return                                # the same hold, tick after tick
        self.decisions.append({"at": self.now.isoformat(), "by": by, "action": action,
                               "from": frm, "to": to, "reasons": list(reasons)})

    def step_age(self, pct: int) -> timedelta | None:
        """How long the store has held `pct` (the soak clock the rules use)."""
        from rollout.core.rules import applied_since

        since = applied_since(self.store.history(self.state.flag), self.state.flag, pct)
        return None if since is None else self.now - since

    def commit_next(self) -> None:
        self.step_index += 1
        nxt = self.ladder.steps[self.step_index]
        self.state = replace(self.base, percentage=nxt.percentage,
                             revision=f"drill-{self.step_index}")
        self.note("git", "commit", self.ladder.steps[self.step_index - 1].percentage,
                  nxt.percentage, [f"phase change pull request merged: {nxt.name}"])

    def reconcile_now(self):
        from rollout.gate_run import make_gate
        from rollout.reconcile import reconcile_flag

        out = reconcile_flag(self.state, self.store, self.now, commit=self.state.revision,
                             actor=self.actor,
                             gate=make_gate(None, self.store_url, self.store, source=self.source))
        d = out.decision
        if d.action != "noop":
            self.note("reconcile", d.action, d.from_pct, d.to_pct, d.reasons)
        return d

    def tick(self, clock) -> bool:
        """One guard interval of traffic, then the guard and git; False when it is over."""
        applied = self.store.read(self.state.flag)
        applied_pct = applied.percentage if applied else 0
        if applied_pct == 0 and self.state.percentage > 0:
            if self.reconcile_now().action == "refuse":
                return False                      # aborted revision: the drill is over
        self.inject_fault(applied_pct)
        self.traffic(applied_pct)
        self.now += self.cfg.tick
        if self.cfg.speed:
            time.sleep(self.cfg.tick.total_seconds() / self.cfg.speed)
        if self.guard(clock):
            return False
        return self.advance(applied_pct)

    def inject_fault(self, applied_pct: int) -> None:
        """The fault starts `fault_after` into the canary step, once."""
        cfg = self.cfg
        if cfg.fault == "none" or self.fault_at is not None or applied_pct == 0 or \
                self.ladder.step(applied_pct).name != self.ladder.steps[1].name:
            return
        age = self.step_age(applied_pct)
        if age is not None and age >= cfg.fault_after:
            self.fault_at = self.now
            self.note("drill", "fault", applied_pct, applied_pct,
                      [f"fault injected: {cfg.fault}"])
            if cfg.fault == "provider-outage":
                self.source = _OutageSource(self.source, self.fault_at)

    def traffic(self, pct: int) -> None:
        """One tick of events at `pct`, written where the metric source reads them."""
        from rollout.adapters.metrics.sqlite_events import insert_columns

        faulty = FAULTY.get(self.cfg.fault) if self.fault_at else None
        # The full rate where the canary is thinnest (5 %: 120 canary requests an hour);
        # a quarter of it at later steps, which still gives each cohort more. The drill
        # rehearses decisions, not load.
        share = max(0.25, self.first_live / pct) if pct else 1.0
        n = max(1, round(self.per_tick * min(1.0, share)))
        insert_columns(self.db, generate_columns(
            self.rng, self.now, self.cfg.tick, n, pct,
            lambda canary: (faulty or CANARY) if canary else CONTROL))

    def guard(self, clock) -> bool:
        """The guard's run at the end of the tick; True when it rolled back."""
        from rollout.guard import guard_flag

        started = clock()
        out = guard_flag(self.state, self.store, self.source, self.notifiers, self.now,
                         commit=self.state.revision, actor=self.actor)
        if out.action != "rolled_back":
            return False
        self.detection_ms = round((clock() - started) * 1000, 1)
        self.note("guard", "rollback", out.from_pct, 0, out.reasons)
        self.rolled_back = True
        return True

    def advance(self, applied_pct: int) -> bool:
        """Merge the next step's pull request once the soak is done, and reconcile toward
        it; False when a hold outlasts the playbook's extension or the ladder is done."""
        ladder = self.ladder
        if self.state.percentage == applied_pct and self.step_index + 1 < len(ladder.steps):
            soak = ladder.step(applied_pct).soak or timedelta(0)
            age = self.step_age(applied_pct)
            if age is not None and age >= soak:
                self.commit_next()
        if self.state.percentage != applied_pct:
            d = self.reconcile_now()
            self.held_since = (self.held_since or self.now) if d.action == "hold" else None
            if self.held_since and self.now - self.held_since >= HOLD_EXTENSION:
                self.note("drill", "stop", applied_pct, self.state.percentage,
                          [f"held for {HOLD_EXTENSION.total_seconds() / 3600:g} h past the "
                           f"soak, as the playbook's extended monitoring; a person decides now"])
                return False
        return not (applied_pct == 100 and (self.step_age(100) or timedelta(0)) >=
                    (ladder.step(100).soak or timedelta(0)))

    def summary(self) -> dict:
        final = self.store.read(self.state.flag)
        now, t0, fault_at = self.now, self.t0, self.fault_at
        return {
            "fault": self.cfg.fault,
            "final_percentage": final.percentage if final else 0,
            "rolled_back": self.rolled_back,
            "detection_to_rollback_ms": self.detection_ms,
            "fault_to_rollback_minutes": (round((now - fault_at).total_seconds() / 60)
                                          if self.rolled_back and fault_at else None),
            "guard_interval_minutes": round(self.cfg.tick.total_seconds() / 60),
            "simulated": {"start": t0.isoformat(), "end": now.isoformat(),
                          "hours": round((now - t0).total_seconds() / 3600, 1)},
            "store": self.store_url,
            "decisions": self.decisions,
        }

"""The guard loop of `rollout serve`: one thread that runs every evaluation of this process,
one at a time.

Every `interval` it looks at the lease (take it, renew it, or see who holds it); the
holder evaluates every live flag. Requests from the webhook wake it at once on any
instance, leader or not; requests that arrive while an evaluation runs are merged into
one next evaluation (that one reads the metrics after the alert, the running one may
not have). Nothing here can stop the loop: an outside failure is recorded as the
evaluation's outcome, shown by /healthz, and the next look tries again.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from rollout.errors import RolloutError
from rollout.guard_run import run_guard
from rollout.serve.config import LEASE_NAME, ServeConfig
from rollout.serve.hook import ALL
from rollout.serve.logs import log

SHUTDOWN_GRACE = 45.0      # seconds SIGTERM waits for the evaluation in flight
_NOTHING = object()


def wall() -> datetime:
    """Real time, for leases and ages (ROLLOUT_NOW pins only the decisions' clock)."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Evaluation:
    at: datetime
    trigger: str                    # loop | hook | loop+hook
    duration_ms: float
    outcomes: tuple = ()
    error: str | None = None        # the run failed as a whole (store down)
    invalid: tuple = ()             # flag files that could not be read: those flags not judged

    @property
    def blind(self) -> bool:
        """An outside system failed so that a live flag could not be judged."""
        return self.error is not None or any(o.blind for o in self.outcomes)

    def to_json(self, now: datetime) -> dict:
        return {"at": self.at.isoformat(), "age_seconds": round((now - self.at).total_seconds(), 1),
                "trigger": self.trigger, "duration_ms": round(self.duration_ms, 1),
                "blind": self.blind, "error": self.error, "invalid": list(self.invalid),
                "outcomes": [{"flag": o.flag, "action": o.action, "blind": o.blind,
                              "reasons": o.reasons} for o in self.outcomes]}


@dataclass(frozen=True)
class Probe:
    """The last look at the store (the lease tick)."""
    at: datetime
    error: str | None = None


@dataclass
class GuardLoop:
    cfg: ServeConfig
    run: Callable = run_guard            # tests and benches may count calls
    evaluations: int = 0
    last: Evaluation | None = None
    probe: Probe | None = None
    lease: object = None                 # service_tables.Lease as last seen
    leader: bool = False
    evaluating_since: float | None = None
    _pending: object = field(default=_NOTHING, repr=False)

    def __post_init__(self):
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name="guard-loop", daemon=True)

    # -- control ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def request(self, flags) -> None:
        """Ask for an evaluation of `flags` (a set of names, or ALL) as soon as possible."""
        with self._cond:
            if self._pending is _NOTHING:
                self._pending = flags
            elif ALL in (self._pending, flags):
                self._pending = ALL
            else:
                self._pending = self._pending | flags
            self._cond.notify()

    def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Let the evaluation in flight finish, then give the lease up."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(grace)
        if self._thread.is_alive():
            log("shutdown_with_evaluation_running", level=30, grace_seconds=grace)
            self._release()           # the loop thread would have done it after its run

    # -- health ----------------------------------------------------------------------------
    def health(self) -> tuple[int, dict]:
        """(HTTP status, document) for /healthz: 503 when the store is out of reach, the
        loop is stuck or stopped, or a recent evaluation was blind."""
        now, cfg = wall(), self.cfg
        problems = []
        if not self.alive:
            problems.append("the guard loop has stopped")
        if self.probe is not None and self.probe.error:
            problems.append(f"store unreachable: {self.probe.error}")
        running = time.monotonic() - self.evaluating_since if self.evaluating_since else 0
        if running > max(3 * cfg.interval, 120):
            problems.append(f"an evaluation has been running for {running:.0f} s")
        last = self.last
        # a standby's evaluations are rare (webhook calls): an old blind one ages out
        if last is not None and last.blind and \
                (now - last.at).total_seconds() <= cfg.interval + cfg.lease_ttl:
            blind = [o.flag for o in last.outcomes if o.blind]
            problems.append("the last evaluation was blind: " + (
                last.error or f"the metric source failed for {', '.join(blind)}"))
        if last is not None and last.invalid:
            # a typo in one flag file must not pass unseen: the others were still judged
            problems.append("invalid flag files, not judged: " + "; ".join(last.invalid))
        doc = {
            "status": "unhealthy" if problems else ("starting" if self.probe is None else "ok"),
            "problems": problems,
            "instance": cfg.instance,
            "role": "leader" if self.leader else "standby",
            "lease": self.lease.to_json() if self.lease is not None else None,
            "store": None if self.probe is None else {
                "reachable": self.probe.error is None, "checked_at": self.probe.at.isoformat()},
            "last_evaluation": last.to_json(now) if last is not None else None,
            "evaluations": self.evaluations,
            "evaluating": self.evaluating_since is not None,
            "interval_seconds": cfg.interval,
            "lease_ttl_seconds": cfg.lease_ttl,
            "hook": "enabled" if cfg.hook_problem is None else f"disabled: {cfg.hook_problem}",
        }
        return (503 if problems else 200), doc

    # -- the thread ------------------------------------------------------------------------
    def _main(self) -> None:
        next_tick = time.monotonic()
        while True:
            with self._cond:
                while not self._stopping and self._pending is _NOTHING \
                        and time.monotonic() < next_tick:
                    self._cond.wait(max(0.0, next_tick - time.monotonic()))
                if self._stopping:
                    break
                job, self._pending = self._pending, _NOTHING
            trigger = "hook"
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self.cfg.interval
                if self._tick():
                    trigger = "loop" if job is _NOTHING else "loop+hook"
                    job = ALL
            if job is not _NOTHING:
                self._evaluate(job, trigger)
        self._release()

    def _tables(self, fn):
        from rollout.adapters.store import open_store
        from rollout.adapters.store.service_tables import ServiceTables

        with open_store(self.cfg.store_url, self.cfg.history_url) as store:
            return fn(ServiceTables(store))

    def _tick(self) -> bool:
        """Take or renew the lease; True when this instance leads the timed loop."""
        now = wall()
        try:
            lease = self._tables(lambda t: t.acquire(
                LEASE_NAME, self.cfg.instance, timedelta(seconds=self.cfg.lease_ttl), now))
        except Exception as exc:          # store down or a bug: report, keep looping
            self.probe = Probe(now, _text(exc))
            self.leader = False
            log("lease_failed", level=40, error=_text(exc))
            return False
        self.probe = Probe(now)
        was, self.leader, self.lease = self.leader, lease.holder == self.cfg.instance, lease
        if was != self.leader:
            log("leader" if self.leader else "standby", term=lease.term, holder=lease.holder)
        return self.leader

    def _release(self) -> None:
        if not self.leader:
            return
        try:
            released = self._tables(lambda t: t.release(LEASE_NAME, self.cfg.instance, wall()))
            self.leader = False
            log("lease_released", released=released)
        except Exception as exc:
            log("lease_release_failed", level=40, error=_text(exc))

    def _evaluate(self, job, trigger: str) -> None:
        from rollout.flagfiles import current_commit, load_flags_lenient

        start = time.monotonic()
        self.evaluating_since = start
        outcomes, error, invalid = [], None, ()
        try:
            states, bad = load_flags_lenient(self.cfg.flags_dir)
            invalid = tuple(_text(e) for e in bad)
            for text in invalid:
                log("invalid_flag_file", level=40, error=text)
            if job is not ALL:
                states = [s for s in states if s.flag in job]
            # an alert fired on its last minutes: judge those, not the hour they end
            window = self.cfg.window if trigger == "loop" else self.cfg.hook_window
            outcomes = self.run(states, self.cfg.store_url, self.cfg.history_url,
                                self.cfg.metrics_url, window=window,
                                clock=self.cfg.clock, commit=current_commit(),
                                actor=f"{self.cfg.actor} (rollout serve, {trigger})",
                                notify_deadline=self.cfg.notify_deadline)
        except Exception as exc:       # RolloutError: an outside failure; others: a bug
            error = _text(exc)
            log("evaluation_failed", level=40, trigger=trigger, error=error,
                bug=not isinstance(exc, RolloutError))
        ms = (time.monotonic() - start) * 1000
        self.last = Evaluation(wall(), trigger, ms, tuple(outcomes), error, invalid)
        self.evaluations += 1
        self.evaluating_since = None
        for o in outcomes:
            log("evaluation", trigger=trigger, flag=o.flag, action=o.action, severity=o.severity,
                blind=o.blind, reasons=o.reasons, deliveries=o.deliveries,
                duration_ms=round(ms, 1))


def _text(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, RolloutError) else f"{exc.__class__.__name__}: {text}"

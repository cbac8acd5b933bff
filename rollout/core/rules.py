"""Transition rules: may the store move from the applied value to the committed one?

decide() is a pure function of (committed state, observed state, history, clock).
Every rule here is a row in tests/test_rules.py.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from rollout.core.readiness import first_step_readiness
from rollout.core.state import (ABORTED, CHANGES, RETRY, Applied, Event, FlagState,
                                format_duration)

APPLY, NOOP, HOLD, REFUSE = "apply", "noop", "hold", "refuse"


@dataclass(frozen=True)
class Decision:
    flag: str
    action: str                     # apply | noop | hold | refuse
    from_pct: int
    to_pct: int
    reasons: tuple[str, ...]
    needs_gate: bool = False        # a step up from a live step: the metrics must agree

    @property
    def step_up(self) -> bool:
        return self.to_pct > self.from_pct

    def to_json(self) -> dict:
        return {"flag": self.flag, "action": self.action, "from": self.from_pct,
                "to": self.to_pct, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Soak:
    """How long the applied step has run against how long it must."""

    step: str
    since: datetime | None          # None: no record of when it was applied
    required: timedelta | None      # None: the step has no soak
    now: datetime

    @property
    def served(self) -> timedelta | None:
        return None if self.since is None else self.now - self.since

    @property
    def remaining(self) -> timedelta | None:
        if self.required is None:
            return timedelta(0)
        if self.since is None:
            return None
        return max(self.required - self.served, timedelta(0))

    @property
    def done(self) -> bool:
        return self.remaining == timedelta(0)

    def describe(self) -> str:
        if self.required is None:
            return f"step {self.step} has no soak time"
        if self.since is None:
            return (f"no record of when step {self.step} was applied, so its "
                    f"{format_duration(self.required)} soak cannot be verified")
        if self.done:
            return (f"soak of step {self.step} served: {format_duration(self.served)} "
                    f"of {format_duration(self.required)}")
        return (f"soak of step {self.step}: {format_duration(self.served)} of "
                f"{format_duration(self.required)} served, {format_duration(self.remaining)} remaining")


def applied_since(history: list[Event], flag: str, percentage: int) -> datetime | None:
    """When the store last changed to `percentage` (history is oldest first)."""
    for e in reversed(history):
        if e.flag == flag and e.kind in CHANGES and e.from_pct != e.to_pct:
            return e.at if e.to_pct == percentage else None
    return None


def soak_status(committed: FlagState, observed_pct: int, history: list[Event],
                now: datetime) -> Soak:
    step = committed.ladder.step(observed_pct)
    name = step.name if step else f"{observed_pct}%"
    required = step.soak if step else None
    since = applied_since(history, committed.flag, observed_pct)
    if observed_pct == 0 and since is None:
        required = None             # never rolled out: nothing to soak
    return Soak(name, since, required, now)


def active_abort(history: list[Event], flag: str, revision: str) -> Event | None:
    """The abort recorded against this revision, unless a retry cleared it since."""
    for e in reversed(history):
        if e.flag != flag or e.revision != revision:
            continue
        if e.kind == RETRY:
            return None
        if e.kind == ABORTED:
            return e
    return None


def _retry_grant(history: list[Event], flag: str, revision: str, pct: int) -> Event | None:
    """A retry after an abort, with no change since, lets the revision climb again."""
    for e in reversed(history):
        if e.flag != flag:
            continue
        if e.kind == RETRY and e.revision == revision and e.to_pct == pct:
            return e
        if e.kind in CHANGES:
            return None
    return None


def _skipped(ladder, have: int, want: int) -> str | None:
    """Why a step up is not exactly one ladder step, or None when it is."""
    lo, hi = ladder.index(have), ladder.index(want)
    if hi - lo <= 1:
        return None
    names = [s.name for s in ladder.steps[lo + 1:hi]]
    return (f"{have}% → {want}% skips step {', '.join(names)}; "
            f"raise the percentage one step at a time")


def judge_move(old: FlagState | None, new: FlagState) -> Decision:
    """A pull request's change of the committed state, judged by the ladder alone
    (soak and gate need the store and the metrics; reconcile and gate check those)."""
    have = old.percentage if old else 0
    want = new.percentage
    d = lambda action, why: Decision(new.flag, action, have, want, (why,), want > have > 0)
    if want == have:
        return d(NOOP, f"percentage unchanged at {want}%")
    if want < have:
        return d(APPLY, f"step down {have}% → {want}%: a rollback is always allowed")
    if new.ladder.index(have) is None:
        return d(REFUSE, f"the base percentage {have}% is not on the new ladder")
    skipped = _skipped(new.ladder, have, want)
    if skipped:
        return d(REFUSE, skipped)
    return d(APPLY, f"one step up {have}% → {want}% ({new.ladder.step(want).name})")


def decide(committed: FlagState, observed: Applied | None, history: list[Event],
           now: datetime) -> Decision:
    flag, want = committed.flag, committed.percentage
    have = observed.percentage if observed else 0
    ladder = committed.ladder

    def d(action, *reasons, gate=False):
        return Decision(flag, action, have, want, tuple(reasons), gate)

    if observed is not None and have == want:
        return d(NOOP, f"already at {want}%")
    if want < have:
        return d(APPLY, f"step down {have}% → {want}%: a rollback is always allowed")
    if observed is None and want == 0:
        return d(APPLY, "create the flag at 0%")

    abort = active_abort(history, flag, committed.revision)
    if abort is not None:
        why = "; ".join(abort.reasons) or "no reason recorded"
        return d(REFUSE, f"revision {committed.revision[:12] or '?'} was aborted at "
                         f"{abort.at.isoformat(timespec='seconds')} ({why}); commit a new state "
                         f"file or run `rollout retry {flag} --reason ...`")
    if ladder.index(have) is None:
        return d(REFUSE, f"applied {have}% is not on the ladder "
                         f"({', '.join(map(str, ladder.percentages))}); commit a step down first")
    if _retry_grant(history, flag, committed.revision, want):
        # the aborted revision climbs again from where the abort left it, one step at a
        # time: each step's soak and gate apply as on the first climb
        nxt = ladder.next(have)
        ready = first_step_readiness(committed, have, nxt.percentage, history, now)
        if ready is not None and not ready.ready:
            return Decision(flag, HOLD, have, nxt.percentage, ready.reasons())
        return Decision(flag, APPLY, have, nxt.percentage,
                        (f"resume after `rollout retry`: climbing the ladder again one step at "
                         f"a time, {have}% → {nxt.percentage}% ({nxt.name}), toward the "
                         f"committed {want}%",
                         *((ready.summary(),) if ready is not None else ())), have > 0)
    skipped = _skipped(committed.ladder, have, want)
    if skipped:
        return d(REFUSE, skipped)
    # Phase 0 of the playbook: the first step up waits for its evidence, as a later step
    # waits for its soak (a hold, applied by itself once the evidence is recorded).
    ready = first_step_readiness(committed, have, want, history, now)
    if ready is not None and not ready.ready:
        return d(HOLD, *ready.reasons())
    soak = soak_status(committed, have, history, now)
    if not soak.done:
        return d(HOLD, soak.describe())
    return d(APPLY, f"step up {have}% → {want}% ({ladder.step(want).name}); {soak.describe()}",
             *((ready.summary(),) if ready is not None else ()), gate=have > 0)


def with_gate(decision: Decision, verdict: str, reasons: list[str]) -> Decision:
    """Fold the gate's verdict into a step-up decision."""
    if not decision.needs_gate or decision.action != APPLY:
        return decision
    if verdict == "proceed":
        return replace(decision, reasons=decision.reasons + ("gate: proceed",))
    action = "refuse" if verdict == "rollback" else "hold"
    return replace(decision, action=action,
                   reasons=decision.reasons + tuple(f"gate {verdict}: {r}" for r in reasons))

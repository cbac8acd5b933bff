"""The readiness gate of the first step up: phase 0 of the playbook, enforced.

Seed 003's pre-deployment checklist ("Load tests executed successfully", "Rollback
procedures tested in staging", "Baseline Metrics Captured" over 7 days) becomes evidence
rows in the history (kinds loadtest, drill, baseline). A flag file's `preflight:` block
says which of them the move 0 % -> first live step needs and how fresh; this module
judges each one from the history and the clock:

    missing   no row of that kind (matching the profile, for a load test) at all
    failed    the newest such row says it did not pass (budget missed, drill did not roll
              back, baseline too short or without data)
    stale     the newest such row passed, but longer ago than `within`
    passing   recorded, passing and fresh

The newest row decides: a failed load test after a passing one means the system is not
ready now. Pure: no I/O, no clock of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from rollout.core.evidence import latest_evidence
from rollout.core.tables import markdown_table
from rollout.core.state import (BASELINE, DRILL, LOADTEST, Event, FlagState, Requirement,
                                format_duration, format_span, format_utc)

MISSING, FAILED, STALE, PASSING = "missing", "failed", "stale", "passing"
MARK = {MISSING: "❌", FAILED: "❌", STALE: "⚠️", PASSING: "✅"}
PASS = "pass"               # the verdict every evidence row carries when it passed

# How each kind is proven: the command that records it (docs/preflight.md).
HOW = {
    LOADTEST: "rollout loadtest --target STAGING_URL --profile {profile} --store PRODUCTION_STORE",
    BASELINE: "rollout baseline capture {flag} --days {days} --metrics newrelic://ACCOUNT_ID "
              "--store PRODUCTION_STORE",
    DRILL: "rollout drill --store STAGING_STORE --fault error-rate --record-in PRODUCTION_STORE",
}
NOUN = {LOADTEST: "load test", BASELINE: "baseline", DRILL: "rollback drill"}


@dataclass(frozen=True)
class EvidenceCheck:
    requirement: Requirement
    status: str                     # missing | failed | stale | passing
    reason: str
    event: Event | None = None

    @property
    def kind(self) -> str:
        return self.requirement.kind

    def to_json(self) -> dict:
        return {"kind": self.kind, "status": self.status, "reason": self.reason,
                "requires": self.requirement.describe(),
                "event_id": self.event.id if self.event else None,
                "at": self.event.at.isoformat() if self.event else None}


@dataclass(frozen=True)
class Readiness:
    checks: tuple[EvidenceCheck, ...]

    @property
    def ready(self) -> bool:
        return all(c.status == PASSING for c in self.checks)

    @property
    def blocking(self) -> tuple[EvidenceCheck, ...]:
        return tuple(c for c in self.checks if c.status != PASSING)

    def reasons(self) -> tuple[str, ...]:
        """One line per piece of evidence that is not there yet, naming it."""
        return tuple(f"preflight {c.kind} {c.status}: {c.reason}" for c in self.blocking)

    def summary(self) -> str:
        """One line for the record of an applied first step: which evidence let it pass."""
        return "preflight evidence " + "; ".join(
            f"{c.kind} {c.status}" + (f" ({format_utc(c.event.at)})" if c.event else "")
            for c in self.checks)

    def to_markdown(self, flag: str) -> str:
        """The table a pull request's check shows (GITHUB_STEP_SUMMARY)."""
        head = "✅ ready" if self.ready else "⏸ held"
        rows = [[c.kind, f"{MARK[c.status]} {c.status}", c.requirement.describe(), c.reason]
                for c in self.checks]
        return "\n".join([f"### Preflight evidence of `{flag}`'s first step: {head}", "",
                          *markdown_table(["Evidence", "Status", "Required", "Detail"], rows),
                          ""])

    def to_json(self) -> dict:
        return {"ready": self.ready, "checks": [c.to_json() for c in self.checks]}


def is_first_step(from_pct: int, to_pct: int) -> bool:
    """The move the readiness gate guards: from 0 % (never live, or rolled back) up."""
    return from_pct == 0 and to_pct > 0


def _where(req: Requirement) -> dict:
    if req.kind == LOADTEST and req.profile:
        return {"profile": req.profile}
    if req.kind == DRILL:
        return {"tests": "rollback"}        # a drill whose fault must end in a rollback
    return {}


def _label(req: Requirement) -> str:
    if req.kind == LOADTEST and req.profile:
        return f"load test (profile {req.profile})"
    return NOUN[req.kind]


def _failure(req: Requirement, e: Event) -> str | None:
    """Why the newest row does not count as passing, or None when it passes."""
    ev = e.evidence
    if ev.get("verdict") != PASS:
        detail = "; ".join(str(r) for r in e.reasons[:3]) or f"verdict {ev.get('verdict')!r}"
        return detail
    if req.kind == BASELINE and req.days and (ev.get("days") or 0) < req.days:
        return f"it covers {ev.get('days')} days, the flag file asks for {req.days}"
    return None


def check(req: Requirement, history: Iterable[Event], now: datetime, flag: str) -> EvidenceCheck:
    """One requirement judged against the newest matching evidence row as of `now`."""
    e = latest_evidence(history, req.kind, now, flag=flag, where=_where(req))
    label = _label(req)
    if e is None:
        how = HOW[req.kind].format(flag=flag, profile=req.profile or "seed",
                                   days=req.days or 7)
        return EvidenceCheck(req, MISSING, f"no {label} recorded for {flag}; record one with "
                                           f"`{how}`")
    measured = _measured_at(e)
    age = now - measured
    of = "of the days up to " if measured != e.at else ""
    when = f"the newest {label}, {of}{format_utc(measured)} ({_age(age)} ago)"
    failure = _failure(req, e)
    if failure is not None:
        return EvidenceCheck(req, FAILED, f"{when}, did not pass: {failure}", e)
    if age > req.within:
        return EvidenceCheck(req, STALE, f"{when}, is older than the {format_span(req.within)} "
                                         f"the flag file allows; record a new one", e)
    return EvidenceCheck(req, PASSING, f"{when}, passed", e)


def _measured_at(e: Event) -> datetime:
    """When the evidence's data ends: a baseline's window end (a capture of old days made
    today is old data), else when the row was recorded."""
    end = (e.evidence.get("window") or {}).get("end") if e.kind == BASELINE else None
    try:
        return min(datetime.fromisoformat(end), e.at) if isinstance(end, str) else e.at
    except ValueError:
        return e.at


def _age(td) -> str:
    """An age as people say it: days when a day or more, else hours and minutes."""
    days = int(td.total_seconds() // 86400)
    return f"{days}d" if days >= 1 else format_duration(td)


def judge_readiness(requirements: Iterable[Requirement], history: Iterable[Event],
                    now: datetime, flag: str) -> Readiness:
    history = list(history)
    return Readiness(tuple(check(r, history, now, flag) for r in requirements))


def merged(*states: FlagState | None) -> tuple[Requirement, ...]:
    """Every requirement of the given flag files, once each: a pull request that moves
    0 -> 5 and deletes the preflight block in the same change is still held to the
    requirements of its base."""
    out: list[Requirement] = []
    for s in states:
        for r in (s.preflight if s else ()):
            if r not in out:
                out.append(r)
    return tuple(out)


def first_step_readiness(state: FlagState, from_pct: int, to_pct: int,
                         history: Iterable[Event], now: datetime) -> Readiness | None:
    """The readiness gate of a move of `state`'s flag, or None when it does not apply
    (not 0 -> up, or the flag file asks for no evidence)."""
    if not state.preflight or not is_first_step(from_pct, to_pct):
        return None
    return judge_readiness(state.preflight, history, now, state.flag)

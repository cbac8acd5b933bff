"""One flag as people watch it: the typed view model of the status page.

Built from what the committed file, the store's history and deliveries, the gate and the
guard say, as of a given time; both the HTML page and its JSON are rendered from it, so
they cannot disagree. Pure: the adapters in rollout/serve/page_data.py read the store,
the metric source and the guard loop, then call build_view().

    flag_status(state, applied, history, at) -> FlagStatus   the `rollout status` row
    build_view(state, applied, history, at, ...) -> FlagView  everything the page shows
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from rollout.core.rules import active_abort, soak_status
from rollout.core.state import (ABORTED, CHANGES, HELD, REFUSED, Applied, Event, FlagState,
                                format_duration)

HISTORY_ROWS = 20
OFF, SOAKING, READY, FULL, HELD_STATE, ABORTED_STATE, DRIFT, NEW = (
    "off", "soaking", "ready", "full", "held", "aborted", "drift", "not applied")


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _seconds(td: timedelta | None) -> float | None:
    return None if td is None else td.total_seconds()


@dataclass(frozen=True)
class FlagStatus:
    """Desired against applied: one row of `rollout status` (and of GET /status)."""

    flag: str
    desired: int
    applied: int | None
    step: str
    time_in_step: str | None
    soak_remaining: str | None
    revision: str
    aborted: Event | None
    last: Event | None
    # the store serves another value than the history's last change (rollout/core/drift.py)
    drift: str | None = None

    @property
    def in_sync(self) -> bool:
        return self.applied == self.desired

    def to_json(self) -> dict:
        a, last = self.aborted, self.last
        return {
            "flag": self.flag, "desired": self.desired, "applied": self.applied,
            "in_sync": self.in_sync, "step": self.step, "time_in_step": self.time_in_step,
            "soak_remaining": self.soak_remaining, "revision": self.revision,
            "aborted": {"at": a.at.isoformat(), "reasons": list(a.reasons)} if a else None,
            "last_decision": ({"at": last.at.isoformat(), "kind": last.kind, "from": last.from_pct,
                               "to": last.to_pct, "reasons": list(last.reasons)} if last else None),
            "drift": self.drift,
        }


def flag_status(state: FlagState, applied: Applied | None, history: list[Event],
                at: datetime) -> FlagStatus:
    from rollout.core.drift import find_drift

    have = applied.percentage if applied else None
    soak = soak_status(state, have or 0, history, at)
    step = state.ladder.step(have) if have is not None else None
    drift = find_drift(applied, history, state.flag)
    return FlagStatus(
        flag=state.flag, desired=state.percentage, applied=have,
        step=step.name if step else (f"{have}% (off ladder)" if have is not None else "not applied"),
        time_in_step=format_duration(soak.served) if soak.served is not None else None,
        soak_remaining=format_duration(soak.remaining) if soak.remaining is not None else None,
        revision=state.revision,
        aborted=active_abort(history, state.flag, state.revision),
        last=history[-1] if history else None, drift=drift.reason if drift else None)


# -- the parts of the page -------------------------------------------------------------------

@dataclass(frozen=True)
class Rung:
    """One step of the ladder."""

    percentage: int
    name: str
    soak: str | None
    applied: bool                   # the store holds this step now
    committed: bool                 # the flag file asks for this step
    passed: bool                    # below the applied step

    def to_json(self) -> dict:
        return {"percentage": self.percentage, "step": self.name, "soak": self.soak,
                "applied": self.applied, "committed": self.committed, "passed": self.passed}


@dataclass(frozen=True)
class SoakView:
    step: str
    since: datetime | None
    served: timedelta | None
    required: timedelta | None      # None: the step has no soak
    remaining: timedelta | None
    description: str

    @property
    def fraction(self) -> float | None:
        if self.required is None or self.served is None or not self.required:
            return None
        return min(self.served / self.required, 1.0)

    @property
    def ends(self) -> datetime | None:
        return self.since + self.required if self.since and self.required else None

    def to_json(self) -> dict:
        return {"step": self.step, "since": _iso(self.since),
                "served_seconds": _seconds(self.served), "required_seconds": _seconds(self.required),
                "remaining_seconds": _seconds(self.remaining), "ends": _iso(self.ends),
                "fraction": self.fraction, "description": self.description}


@dataclass(frozen=True)
class GateRow:
    """One check, with the cells of the pull-request comment's table."""

    metric: str                     # the comment's first column
    canary: str
    control: str
    delta: str
    target: str
    threshold: str
    verdict: str
    reason: str
    code: str | None                # the judge's reason code, where it gives one
    check: dict                     # the check as the gate's JSON has it
    baseline: str | None = None     # vs the pre-rollout baseline, when the gate had one

    def to_json(self) -> dict:
        return {**self.check, "cells": [self.metric, self.canary, self.control, self.delta,
                                        self.target, self.threshold, self.verdict]}


@dataclass(frozen=True)
class GateView:
    verdict: str                    # proceed | hold | rollback
    step: str
    next_step: str | None
    at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    rows: tuple[GateRow, ...]
    omitted: tuple[str, ...]
    origin: str                     # "current" (judged for the page) or "abort" (recorded)
    baseline: str | None = None     # where the pre-rollout baseline beside it came from

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "step": self.step, "next_step": self.next_step,
                "at": _iso(self.at), "window": {"start": _iso(self.window_start),
                                                "end": _iso(self.window_end)},
                "origin": self.origin, "checks": [r.to_json() for r in self.rows],
                "omitted": list(self.omitted),
                **({"baseline": self.baseline} if self.baseline else {})}


@dataclass(frozen=True)
class Delivery:
    channel: str                    # slack | pagerduty | github | pagerduty-resolve
    status: str                     # sending | sent | failed
    attempts: int
    detail: str
    link: str | None                # the revert pull request, when the detail is its URL

    def to_json(self) -> dict:
        return {"channel": self.channel, "status": self.status, "attempts": self.attempts,
                "detail": self.detail, "link": self.link}


@dataclass(frozen=True)
class AbortView:
    event: Event
    standing: bool                  # reconcile will not re-apply this revision
    severity: str
    deliveries: tuple[Delivery, ...]
    gate: GateView | None           # the verdict that rolled it back, as recorded

    @property
    def revert_pr(self) -> str | None:
        return next((d.link for d in self.deliveries if d.channel == "github" and d.link), None)

    def to_json(self) -> dict:
        return {"at": self.event.at.isoformat(), "from": self.event.from_pct,
                "reasons": list(self.event.reasons), "revision": self.event.revision,
                "actor": self.event.actor, "standing": self.standing, "severity": self.severity,
                "revert_pull_request": self.revert_pr,
                "deliveries": [d.to_json() for d in self.deliveries],
                "gate": self.gate.to_json() if self.gate else None}


@dataclass(frozen=True)
class GuardView:
    """What this `rollout serve` instance knows of its last guard evaluation."""

    role: str                       # leader | standby
    at: datetime | None             # wall clock; None: no evaluation yet
    age_seconds: float | None
    trigger: str | None
    action: str | None              # the outcome for this flag (healthy, held, ...)
    reasons: tuple[str, ...] = ()
    blind: bool = False
    error: str | None = None        # the evaluation failed as a whole
    leader: str | None = None       # the lease's holder, as this instance last saw it
    leader_renewed_seconds: float | None = None   # how long ago the leader renewed it

    def to_json(self) -> dict:
        return {"role": self.role, "at": _iso(self.at), "age_seconds": self.age_seconds,
                "trigger": self.trigger, "action": self.action, "reasons": list(self.reasons),
                "blind": self.blind, "error": self.error, "leader": self.leader,
                "leader_renewed_seconds": self.leader_renewed_seconds}


@dataclass(frozen=True)
class FlagView:
    status: FlagStatus
    at: datetime                    # the decisions' clock the view is computed at
    state: str                      # off | soaking | ready | full | held | aborted | drift | not applied
    summary: str                    # one line saying why
    description: str
    owner: str
    ladder: tuple[Rung, ...]
    soak: SoakView | None
    hold: Event | None              # the move held or refused since the last change
    abort: AbortView | None         # the latest abort, standing or not
    gate: GateView | None
    gate_error: str | None
    guard: GuardView | None
    history: tuple[Event, ...]      # newest first, at most HISTORY_ROWS
    history_total: int
    chart: str | None               # the reports' SVG timeline
    chart_note: str | None          # why there is no chart

    @property
    def flag(self) -> str:
        return self.status.flag

    def to_json(self) -> dict:
        return {
            "flag": self.flag, "at": self.at.isoformat(), "state": self.state,
            "summary": self.summary, "description": self.description, "owner": self.owner,
            "status": self.status.to_json(),
            "ladder": [r.to_json() for r in self.ladder],
            "soak": self.soak.to_json() if self.soak else None,
            "hold": ({"at": self.hold.at.isoformat(), "kind": self.hold.kind,
                      "from": self.hold.from_pct, "to": self.hold.to_pct,
                      "reasons": list(self.hold.reasons)} if self.hold else None),
            "abort": self.abort.to_json() if self.abort else None,
            "gate": self.gate.to_json() if self.gate else None, "gate_error": self.gate_error,
            "guard": self.guard.to_json() if self.guard else None,
            "history": [e.to_json() for e in self.history], "history_total": self.history_total,
            "chart": {"available": self.chart is not None, "note": self.chart_note},
        }


# -- building it -----------------------------------------------------------------------------

def gate_view(doc: dict, catalog, origin: str) -> GateView:
    """A GateView from a gate's JSON (GateResult.to_json(), fresh or recorded in an abort's
    evidence), with the pull-request comment's own cells."""
    from rollout.core.baseline import BaselineComparison
    from rollout.core.gate import Check
    from rollout.core.gate_render import baseline_cell, row_cells

    names = {f.name for f in fields(Check)}
    base = doc.get("baseline") if isinstance(doc.get("baseline"), dict) else None
    rows = []
    for c in doc.get("checks") or []:
        if not isinstance(c, dict):
            continue
        check = Check(**{**_CHECK_DEFAULTS, **{k: v for k, v in c.items() if k in names}})
        cells = row_cells(check, catalog)
        vs_base = baseline_cell(BaselineComparison.from_json(c.get("baseline"))) if base else None
        rows.append(GateRow(*cells, reason=str(check.reason), code=c.get("code"), check=c,
                            baseline=vs_base))
    window = doc.get("window") or {}
    return GateView(doc.get("verdict", "hold"), doc.get("step", ""), doc.get("next_step"),
                    _time(doc.get("at")), _time(window.get("start")), _time(window.get("end")),
                    tuple(rows), tuple(str(o.get("reason", "")) for o in doc.get("omitted") or []
                                       if isinstance(o, dict)), origin,
                    str(base.get("description", "pre-rollout baseline")) if base else None)


# a check recorded by an older judge may lack a field the current one has
_CHECK_DEFAULTS = {"name": "check", "verdict": "hold", "canary": None, "control": None,
                   "threshold": "—", "reason": ""}


def _time(text) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
        return None


def _ladder(state: FlagState, have: int | None) -> tuple[Rung, ...]:
    return tuple(Rung(s.percentage, s.name, format_duration(s.soak) if s.soak else None,
                      s.percentage == have, s.percentage == state.percentage,
                      have is not None and s.percentage < have) for s in state.ladder.steps)


def current_hold(history: list[Event]) -> Event | None:
    """The last held or refused move, unless the store changed since."""
    for e in reversed(history):
        if e.kind in CHANGES:
            return None
        if e.kind in (HELD, REFUSED):
            return e
    return None


def _abort(state, history, deliveries, catalog) -> AbortView | None:
    last = next((e for e in reversed(history) if e.kind == ABORTED), None)
    if last is None:
        return None
    standing = active_abort(history, state.flag, state.revision)
    out = []
    for channel, (status, attempts, detail) in sorted((deliveries or {}).items()):
        link = detail if channel == "github" and status == "sent" and \
            detail.startswith(("https://", "http://")) and " " not in detail else None
        out.append(Delivery(channel, status, attempts, detail, link))
    recorded = (last.evidence or {}).get("gate")
    gate = gate_view(recorded, catalog, "abort") if isinstance(recorded, dict) else None
    return AbortView(last, standing is not None and standing.id == last.id,
                     (last.evidence or {}).get("severity", "SEV2"), tuple(out), gate)


def _first(reasons) -> str:
    """The first of distinct reasons, and how many more there are."""
    distinct = list(dict.fromkeys(reasons))
    if not distinct:
        return "no reason recorded"
    return distinct[0] + (f" (and {len(distinct) - 1} more)" if len(distinct) > 1 else "")


def _state(st: FlagStatus, soak, hold, abort, last_step: bool) -> tuple[str, str]:
    """(one word, one line) for the card's headline."""
    if abort is not None and abort.standing:
        return ABORTED_STATE, f"rolled back from {abort.event.from_pct}% to 0%: " + \
            _first(abort.event.reasons)
    if st.applied is None:
        return NEW, f"not in the store yet: reconcile creates it at {st.desired}%"
    if hold is not None and not st.in_sync:
        return HELD_STATE, f"{hold.kind} at {st.applied}% (committed {st.desired}%): " + \
            _first(hold.reasons)
    if not st.in_sync:
        return DRIFT, (f"applied {st.applied}% differs from committed {st.desired}%: "
                       f"reconcile has not applied it (run `rollout reconcile`)")
    if st.applied == 0:
        return OFF, "off: no user gets the feature"
    if soak is not None and soak.remaining:
        return SOAKING, soak.description
    if last_step:
        return FULL, f"every user at {st.applied}%; " + (soak.description if soak else "")
    return READY, (soak.description if soak else "") + \
        "; the next step may be proposed (its gate decides)"


def build_view(state: FlagState, applied: Applied | None, history: list[Event], at: datetime,
               *, catalog, deliveries: dict | None = None, gate: dict | None = None,
               gate_error: str | None = None, guard: GuardView | None = None,
               chart: str | None = None, chart_note: str | None = None) -> FlagView:
    """`history`: the flag's rows, oldest first; `deliveries`: those of its latest abort
    (store.deliveries); `gate`: the gate's JSON as of `at`."""
    st = flag_status(state, applied, history, at)
    soak = None
    if applied is not None:
        s = soak_status(state, applied.percentage, history, at)
        soak = SoakView(s.step, s.since, s.served, s.required, s.remaining, s.describe())
    hold = current_hold(history)
    abort = _abort(state, history, deliveries, catalog)
    last_step = applied is not None and state.ladder.next(applied.percentage) is None
    word, line = _state(st, soak, hold, abort, last_step)
    if abort is not None and abort.standing:
        # at 0 % the gate only has a soak to judge: its "proceed" would read as leave to
        # climb again, which the standing abort refuses
        gate, gate_error = None, ("not judged while the abort stands; the verdict that "
                                  "rolled it back is under Abort")
    return FlagView(
        status=st, at=at, state=word, summary=line, description=state.description,
        owner=state.owner, ladder=_ladder(state, st.applied), soak=soak, hold=hold, abort=abort,
        gate=gate_view(gate, catalog, "current") if gate else None, gate_error=gate_error,
        guard=guard, history=tuple(reversed(history[-HISTORY_ROWS:])),
        history_total=len(history), chart=chart, chart_note=chart_note)

"""Apply the committed state of every flag to the store, when the rules allow it.

Thin orchestration around the pure core: read, decide, then write the change and
its history row in one transaction (or record the held/refused decision). A store that
contradicts the history (drift) is put back in line first, so the decision is taken on
what the history says is served, never "already at 5 %" while an abort's 0 % stands.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable

from rollout.adapters.store.base import FlagStore
from rollout.core.rules import APPLY, HOLD, NOOP, REFUSE, Decision, decide, with_gate
from rollout.core.state import APPLIED, HELD, REFUSED, Event, FlagState
from rollout.drift import settle_drift
from rollout.errors import ConflictError

# (flag state, applied step percentage, now) -> (verdict, reasons, the metric source failed)
GateFn = Callable[[FlagState, int, datetime], tuple[str, list[str], bool]]


@dataclass(frozen=True)
class ReconcileOutcome:
    decision: Decision
    written: bool          # a change or a history row was written
    conflict: bool = False
    gate: str | None = None        # the gate's verdict, when a step up asked it
    source_failed: bool = False    # ... and the metric source could not answer
    drift: str = ""                # the store contradicted the history: what was done
    deliveries: tuple[tuple[str, str], ...] = ()   # notifications sent or retried now

    def to_json(self) -> dict:
        return {**self.decision.to_json(), "written": self.written, "conflict": self.conflict,
                "gate": self.gate, "source_failed": self.source_failed,
                "drift": self.drift or None, "deliveries": dict(self.deliveries)}


def reconcile_flag(state: FlagState, store: FlagStore, now: datetime, *, commit: str,
                   actor: str, dry_run: bool = False, gate: GateFn | None = None,
                   notifiers=None) -> ReconcileOutcome:
    observed = store.read(state.flag)
    history = store.history(state.flag)
    observed, repair = settle_drift(state, store, observed, history, now, commit=commit,
                                    actor=actor, notifiers=notifiers, dry_run=dry_run)
    owed = {}
    if repair is not None and repair.event is not None:
        history = store.history(state.flag)
        owed = {f"{c} (drift)": what for c, what in repair.alerts.items()}
    if notifiers is not None and not dry_run:
        from rollout.deliveries import pending_deliveries
        owed = {**pending_deliveries(state, store, notifiers, now), **owed}
    outcome = _decide_and_write(state, store, observed, history, now, commit=commit,
                                actor=actor, dry_run=dry_run, gate=gate)
    return replace(outcome, drift=repair.describe() if repair else "",
                   deliveries=tuple(owed.items()))


def _decide_and_write(state, store, observed, history, now, *, commit, actor, dry_run,
                      gate) -> ReconcileOutcome:
    decision = decide(state, observed, history, now)
    verdict, failed = None, False
    if decision.needs_gate and gate is not None:
        verdict, reasons, failed = gate(state, decision.from_pct, now)
        decision = with_gate(decision, verdict, reasons)
    if dry_run or decision.action == NOOP:
        return ReconcileOutcome(decision, False, gate=verdict, source_failed=failed)
    kind = {APPLY: APPLIED, HOLD: HELD, REFUSE: REFUSED}[decision.action]
    event = Event(flag=state.flag, at=now, kind=kind,
                  from_pct=decision.from_pct if observed else None,
                  to_pct=decision.to_pct, reasons=decision.reasons, revision=state.revision,
                  commit=commit, actor=actor)
    if decision.action != APPLY:
        return ReconcileOutcome(decision, store.record(event), gate=verdict, source_failed=failed)
    try:
        store.apply(state.flag, decision.to_pct, observed.version if observed else None, event)
    except ConflictError as exc:
        return ReconcileOutcome(Decision(state.flag, HOLD, decision.from_pct, decision.to_pct,
                                (str(exc),)), False, conflict=True)
    return ReconcileOutcome(decision, True, gate=verdict)


def reconcile(states: list[FlagState], store: FlagStore, now: datetime, **kwargs) -> list[ReconcileOutcome]:
    return [reconcile_flag(s, store, now, **kwargs) for s in states]


def reconcile_store(states: list[FlagState], store_url: str, history_url: str | None,
                    metrics_url: str | None, now: datetime, **kwargs) -> tuple[list[ReconcileOutcome], str]:
    """`rollout reconcile`: every flag against the store at `store_url`, a step up judged
    by the gate on the metric source; returns the outcomes and the store's printable name
    (never the password of a postgres URL)."""
    from rollout.adapters.store import open_store
    from rollout.gate_run import make_gate

    with open_store(store_url, history_url) as store:
        outcomes = reconcile(states, store, now, gate=make_gate(metrics_url, store_url, store),
                             **kwargs)
        return outcomes, store.url

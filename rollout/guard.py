"""The guard: roll back at once on a trigger, then make git and people agree.

Order matters and is the point of this module:
1. the flag goes to 0 % in the store, with an `aborted` history row keyed by the
   committed revision, in one compare-and-set transaction (two guards: one wins);
2. only the winner's abort row exists, so notifications hang off it: a revert pull
   request, Slack, PagerDuty (rollout/deliveries.py). Each delivery is claimed in the
   store and retried on the next run when it failed; a failing notifier never blocks or
   undoes the rollback.
A guard that could not judge a live flag (the metric source or the store failed) says so
(`blind`), and the run exits 4: a blind guard must never look green.
A step held on evidence of a hold band or a regression against control (reason codes
HOLD_BAND, REGRESSION_VS_CONTROL) is not rolled back: the playbook says "hold and
investigate", so Slack gets a SEV3 alert, once per (flag, step, code), through the same
history row + claimed delivery machinery (rollout/deliveries.py `hold_alerts`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rollout.adapters.store.base import FlagStore
from rollout.core.state import ABORTED, Applied, Event, FlagState
from rollout.deliveries import (DEFAULT_SEVERITY, Notifiers, deliver, hold_alerts,  # noqa: F401
                                pending_deliveries)
from rollout.errors import ConflictError, ExternalError, RolloutError


@dataclass
class GuardOutcome:
    flag: str
    action: str                      # rolled_back | lost_race | healthy | held | skipped | error
    from_pct: int | None = None
    reasons: list[str] = field(default_factory=list)
    severity: str = ""
    deliveries: dict[str, str] = field(default_factory=dict)   # channel -> what happened
    blind: bool = False              # an outside system failed: the flag was not judged (exit 4)
    blind_reason: str = ""           # ... and why
    # metrics the source does not measure at all: a configuration fact, not a failure
    omitted: tuple[tuple[str, str], ...] = ()
    drift: str = ""                  # the store contradicted the history: what was done
    code: str = ""                   # the verdict's reason code (rollout.core.gate.Code)
    codes: list[str] = field(default_factory=list)   # codes of every check that did not pass

    def to_json(self) -> dict:
        return {"flag": self.flag, "action": self.action, "from": self.from_pct,
                "reasons": self.reasons, "severity": self.severity,
                "deliveries": self.deliveries, "blind": self.blind,
                "blind_reason": self.blind_reason or None,
                "omitted": [list(o) for o in self.omitted], "drift": self.drift or None,
                "code": self.code, "codes": self.codes}


def severity_of(metric_names: list[str], catalog) -> str:
    """The most severe alert the catalog attaches to the metrics that triggered."""
    found = [a.severity for name in metric_names if name in catalog.metrics
             for a in catalog.metrics[name].alerts]
    from rollout.core.catalog import SEVERITIES

    return min(found, key=SEVERITIES.index) if found else DEFAULT_SEVERITY


def abort(state: FlagState, store: FlagStore, applied: Applied, *, reasons: list[str],
          evidence: dict, now: datetime, commit: str, actor: str) -> Event | None:
    """Set the flag to 0 % and record the abort, atomically. None when another guard won
    (the flag is already at 0 %). A flag that changed under us for another reason (a
    reconcile stepped it up meanwhile) is read again and still rolled back."""
    # Read the history before writing: a damaged row fails here, with the store unchanged,
    # rather than after the abort is written (the abort row is found in it below).
    store.history(state.flag)
    for _ in range(5):
        event = Event(flag=state.flag, at=now, kind=ABORTED, from_pct=applied.percentage,
                      to_pct=0, reasons=tuple(reasons), revision=state.revision, commit=commit,
                      actor=actor, evidence=evidence)
        try:
            store.apply(state.flag, 0, applied.version, event)
            break
        except ConflictError:
            applied = store.read(state.flag)
            if applied is None or applied.percentage == 0:
                return None
    else:
        raise ExternalError(f"flag {state.flag} kept changing while rolling it back; "
                            f"run `rollout abort {state.flag}` again")
    for e in reversed(store.history(state.flag)):
        if e.kind == ABORTED and e.revision == state.revision:
            return e
    raise RolloutError(f"flag {state.flag}: abort applied but its history row is missing")


def _drift(state: FlagState, store: FlagStore, applied: Applied | None, owed: dict[str, str],
           notifiers: Notifiers, now: datetime, **who) -> tuple[Applied | None, str]:
    """Put a store that contradicts the history back in line before judging anything;
    its Slack alert joins `owed`. Returns (the value served now, what was done or '')."""
    from rollout.drift import settle_drift

    applied, repair = settle_drift(state, store, applied, store.history(state.flag), now,
                                   notifiers=notifiers, **who)
    if repair is None:
        return applied, ""
    owed.update({f"{channel} (drift)": what for channel, what in repair.alerts.items()})
    return applied, repair.describe()


def _blind(result) -> str:
    """Why the metric source could not answer for a check, '' when every check was judged."""
    if not result.source_failed:
        return ""
    return next(c.reason for c in result.checks if c.verdict == "error")


def guard_flag(state: FlagState, store: FlagStore, source, notifiers: Notifiers, now: datetime,
               *, window=None, commit: str, actor: str, catalog=None) -> GuardOutcome:
    """Judge one live flag on its step's data and act: roll back, alert SEV3, or nothing.
    `window`, when given, caps the judged data to the last `window` of the step."""
    from rollout.core.gate import ROLLBACK
    from rollout.core.gate_render import render_markdown
    from rollout.core.catalog import load_catalog
    from rollout.gate_run import gate_result

    catalog = catalog or load_catalog()
    who = dict(commit=commit, actor=actor)
    applied = store.read(state.flag)
    owed = pending_deliveries(state, store, notifiers, now)
    applied, drift = _drift(state, store, applied, owed, notifiers, now, **who)
    if applied is None or applied.percentage == 0:
        return GuardOutcome(state.flag, "skipped", applied.percentage if applied else None,
                            ["flag is at 0%: nothing to guard"], deliveries=owed, drift=drift)
    history = store.history(state.flag)
    result = gate_result(state, applied.percentage, history, source, now, window, catalog)
    seen = dict(blind=result.source_failed, blind_reason=_blind(result), omitted=result.omitted,
                drift=drift, code=str(result.code),
                codes=sorted({str(c.code) for c in result.checks if c.verdict != "pass"}))
    if result.verdict != ROLLBACK:
        action = "healthy" if result.verdict == "proceed" else "held"
        # a step that is merely held (soak, evidence, source down) is not rolled back
        alerts = hold_alerts(state, store, applied, result, history, notifiers, now, **who)
        return GuardOutcome(state.flag, action, applied.percentage, result.reasons,
                            "SEV3" if result.alerts else "", {**owed, **alerts}, **seen)
    triggered = [c for c in result.checks if c.verdict == ROLLBACK]
    sev = severity_of([c.metric or c.name for c in triggered], catalog)
    reasons = [c.reason for c in triggered]
    evidence = {"severity": sev, "title": f"automatic rollback of {state.flag}: "
                + ", ".join(c.name for c in triggered),
                "gate": result.to_json(), "markdown": render_markdown(result)}
    event = abort(state, store, applied, reasons=reasons, evidence=evidence, now=now, **who)
    if event is None:
        return GuardOutcome(state.flag, "lost_race", applied.percentage,
                            ["another controller changed the flag first; not rolled back twice"],
                            sev, owed, **seen)
    return GuardOutcome(state.flag, "rolled_back", applied.percentage, reasons, sev,
                        {**owed, **deliver(state, store, event, notifiers, now)}, **seen)

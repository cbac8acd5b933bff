"""The guard: roll back at once on a trigger, then make git and people agree.

Order matters and is the point of this module:
1. the flag goes to 0 % in the store, with an `aborted` history row keyed by the
   committed revision, in one compare-and-set transaction (two guards: one wins);
2. only the winner's abort row exists, so notifications hang off it: a revert pull
   request, Slack, PagerDuty. Each delivery is claimed in the store and retried on the
   next run when it failed; a failing notifier never blocks or undoes the rollback.
A step held on evidence of a hold band or a regression against control (reason codes
HOLD_BAND, REGRESSION_VS_CONTROL) is not rolled back: the playbook says "hold and
investigate", so Slack gets a SEV3 alert, once per (flag, step, code), through the same
history row + claimed delivery machinery.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from rollout.adapters.store.base import FlagStore
from rollout.core.rules import active_abort
from rollout.core.state import ABORTED, ALERTED, Applied, Event, FlagState
from rollout.errors import ConflictError, ExternalError, RolloutError

DEFAULT_SEVERITY = "SEV2"      # a rollback with no alert behind it (soak, manual) pages


@dataclass
class Outcome:
    flag: str
    action: str                      # rolled_back | lost_race | healthy | held | skipped
    from_pct: int | None = None
    reasons: list[str] = field(default_factory=list)
    severity: str = ""
    deliveries: dict[str, str] = field(default_factory=dict)   # channel -> what happened
    code: str = ""                   # the verdict's reason code (rollout.core.gate.Code)
    codes: list[str] = field(default_factory=list)   # codes of every check that did not pass

    def to_json(self) -> dict:
        return {"flag": self.flag, "action": self.action, "from": self.from_pct,
                "reasons": self.reasons, "severity": self.severity,
                "deliveries": self.deliveries, "code": self.code, "codes": self.codes}


@dataclass
class Notifiers:
    """The configured outside channels; None where the environment does not set one up."""

    slack: object | None = None
    pagerduty: object | None = None
    github: object | None = None
    missing: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env=None) -> "Notifiers":
        from rollout.adapters.notify import GitHubProposer, PagerDutyNotifier, SlackNotifier

        n = cls()
        for name, factory, needs in (("slack", SlackNotifier, "SLACK_WEBHOOK_URL"),
                                     ("pagerduty", PagerDutyNotifier, "PAGERDUTY_ROUTING_KEY"),
                                     ("github", GitHubProposer, "GITHUB_TOKEN and GITHUB_REPOSITORY")):
            try:
                setattr(n, name, factory.from_env(env))
            except RolloutError:
                n.missing[name] = f"not configured ({needs} not set)"
        return n


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


def _incident(state: FlagState, event: Event, kind: str = "rollback"):
    from rollout.adapters.notify import Incident

    sev = event.evidence.get("severity", DEFAULT_SEVERITY)
    return Incident(flag=state.flag, revision=event.revision or "unknown", severity=sev,
                    title=event.evidence.get("title") or f"{state.flag} rolled back to 0%",
                    reasons=event.reasons, evidence_markdown=event.evidence.get("markdown", ""),
                    from_percentage=event.from_pct or 0, to_percentage=event.to_pct or 0,
                    at=event.at, state_path=state.path, kind=kind)


def _attempt(store: FlagStore, event: Event, channel: str, send: Callable[[], str],
             now: datetime) -> str:
    """Claim the channel for this abort, send, and record the result."""
    if not store.claim_delivery(event.id, channel, now):
        status, _, detail = store.deliveries(event.id)[channel]
        return f"{status} earlier: {detail}" if detail else f"{status} earlier"
    try:
        detail = send() or "sent"
    except RolloutError as exc:
        store.finish_delivery(event.id, channel, False, str(exc), now)
        return f"FAILED, will retry: {exc}"
    store.finish_delivery(event.id, channel, True, detail, now)
    return detail


def deliver(state: FlagState, store: FlagStore, event: Event, notifiers: Notifiers,
            now: datetime) -> dict[str, str]:
    """Send what this abort still owes: the revert pull request first (its link goes into
    the messages), then Slack, then PagerDuty for SEV1/SEV2. Returns channel -> outcome;
    never raises for a notifier failure."""
    incident = _incident(state, event)
    report: dict[str, str] = {}
    links = {}
    if notifiers.github is not None:
        def propose():
            from rollout.flagfiles import with_percentage
            if state.percentage == 0:
                return "state file already at 0%, no pull request needed"
            text = Path(state.path).read_text(encoding="utf-8")
            return notifiers.github.propose(incident, with_percentage(text, 0))
        report["github"] = _attempt(store, event, "github", propose, now)
        url = store.deliveries(event.id).get("github", ("", 0, ""))[2]
        if url.startswith("http"):
            links["Revert pull request"] = url
    else:
        report["github"] = notifiers.missing.get("github", "not configured")
    if notifiers.slack is not None:
        report["slack"] = _attempt(store, event, "slack",
                                   lambda: notifiers.slack.notify(incident, links=links), now)
    else:
        report["slack"] = notifiers.missing.get("slack", "not configured")
    if incident.pages:
        if notifiers.pagerduty is not None:
            report["pagerduty"] = _attempt(
                store, event, "pagerduty",
                lambda: "triggered " + notifiers.pagerduty.trigger(incident, links=links), now)
        else:
            report["pagerduty"] = notifiers.missing.get("pagerduty", "not configured")
    return report


def pending_deliveries(state: FlagState, store: FlagStore, notifiers: Notifiers,
                       now: datetime) -> dict[str, str]:
    """Retry what the flag's standing abort still owes, and resolve the page of an abort
    that no longer stands (a new commit changed the state file, or `rollout retry`)."""
    history = store.history(state.flag)
    current = active_abort(history, state.flag, state.revision)
    report = {}
    for e in history:
        if e.kind != ABORTED:
            continue
        if current is not None and e.id == current.id:
            outcomes = deliver(state, store, e, notifiers, now)
        else:
            owed = store.deliveries(e.id)
            if owed.get("pagerduty", ("",))[0] != "sent" or notifiers.pagerduty is None or \
                    owed.get("pagerduty-resolve", ("",))[0] == "sent":
                continue
            incident = _incident(state, e)
            outcomes = {"pagerduty-resolve": _attempt(
                store, e, "pagerduty-resolve",
                lambda: "resolved " + notifiers.pagerduty.resolve(incident), now)}
        for channel, outcome in outcomes.items():
            if " earlier" not in outcome and "not configured" not in outcome:
                report[f"{channel} (abort #{e.id})"] = outcome
    return report


def hold_alerts(state: FlagState, store: FlagStore, applied: Applied, result, history,
                notifiers: Notifiers, now: datetime, *, commit: str, actor: str) -> dict[str, str]:
    """SEV3 "hold and investigate" to Slack, once per (flag, step, reason code): a history
    row per alert, its delivery claimed like an abort's. Two guards may both write the row;
    both then deliver through the earliest one, so Slack hears it once."""
    from rollout.core.gate_render import render_markdown
    from rollout.core.rules import applied_since

    since = applied_since(history, state.flag, applied.percentage)
    step_key = f"{result.step}@{since.isoformat() if since else 'unknown'}"
    report = {}
    for code in sorted({str(c.code) for c in result.alerts}):
        checks = [c for c in result.alerts if c.code == code]

        def rows():
            return [e for e in store.history(state.flag) if e.kind == ALERTED and
                    e.evidence.get("code") == code and e.evidence.get("step") == step_key]
        if not rows():
            store.record(Event(
                flag=state.flag, at=now, kind=ALERTED, from_pct=applied.percentage,
                to_pct=applied.percentage, reasons=tuple(c.reason for c in checks),
                revision=state.revision, commit=commit, actor=actor,
                evidence={"code": code, "step": step_key, "severity": "SEV3",
                          "title": f"hold and investigate {state.flag} at {result.step}: "
                                   + ", ".join(c.name for c in checks),
                          "markdown": render_markdown(result)}))
        event = rows()[0]
        if notifiers.slack is None:
            report[f"slack (SEV3 {code})"] = notifiers.missing.get("slack", "not configured")
            continue
        incident = _incident(state, event, kind="hold")
        outcome = _attempt(store, event, "slack",
                           lambda: notifiers.slack.notify(incident), now)
        if " earlier" not in outcome:
            report[f"slack (SEV3 {code})"] = outcome
    return report


def guard_flag(state: FlagState, store: FlagStore, source, notifiers: Notifiers, now: datetime,
               *, window=None, commit: str, actor: str, catalog=None) -> Outcome:
    """Judge one live flag on its step's data and act: roll back, alert SEV3, or nothing.
    `window`, when given, caps the judged data to the last `window` of the step."""
    from rollout.core.gate import ROLLBACK
    from rollout.core.gate_render import render_markdown
    from rollout.core.catalog import load_catalog
    from rollout.gating import gate_result

    catalog = catalog or load_catalog()
    applied = store.read(state.flag)
    owed = pending_deliveries(state, store, notifiers, now)
    if applied is None or applied.percentage == 0:
        return Outcome(state.flag, "skipped", applied.percentage if applied else None,
                       ["flag is at 0%: nothing to guard"], deliveries=owed)
    history = store.history(state.flag)
    result = gate_result(state, applied.percentage, history, source, now, window, catalog)
    codes = sorted({str(c.code) for c in result.checks if c.verdict != "pass"})
    if result.verdict != ROLLBACK:
        action = "healthy" if result.verdict == "proceed" else "held"
        # a step that is merely held (soak, evidence, source down) is not rolled back
        alerts = hold_alerts(state, store, applied, result, history, notifiers, now,
                             commit=commit, actor=actor)
        return Outcome(state.flag, action, applied.percentage, result.reasons,
                       "SEV3" if result.alerts else "", {**owed, **alerts},
                       str(result.code), codes)
    triggered = [c for c in result.checks if c.verdict == ROLLBACK]
    sev = severity_of([c.metric or c.name for c in triggered], catalog)
    reasons = [c.reason for c in triggered]
    evidence = {"severity": sev, "title": f"automatic rollback of {state.flag}: "
                + ", ".join(c.name for c in triggered),
                "gate": result.to_json(), "markdown": render_markdown(result)}
    event = abort(state, store, applied, reasons=reasons, evidence=evidence, now=now,
                  commit=commit, actor=actor)
    if event is None:
        return Outcome(state.flag, "lost_race", applied.percentage,
                       ["another controller changed the flag first; not rolled back twice"],
                       sev, owed, str(result.code), codes)
    return Outcome(state.flag, "rolled_back", applied.percentage, reasons, sev,
                   {**owed, **deliver(state, store, event, notifiers, now)},
                   str(result.code), codes)

"""Notifications owed for a history row, delivered at least once, bounded in time.

Who is told what:
- an abort (`aborted` row): the revert pull request first (its link goes into the
  messages), then Slack, then PagerDuty for SEV1/SEV2; the page is resolved once the
  abort no longer stands (a new commit of the state file, or `rollout retry`);
- a drift repair (`drift` row): Slack.

Each channel of each row is claimed in the store before sending (one sender at a time;
a claim whose sender died expires after DELIVERY_LEASE) and its result recorded after.
A failed or expired delivery is sent again by the next command that touches the flag
(guard, reconcile, abort, retry). Resending is safe where the receiver is idempotent and
marked where it is not: PagerDuty folds events by dedup key (flag + revision); GitHub's
pull request is found by its branch before one is opened; Slack has no key, so a resend
says "(repeat)".

All sends of one command run share `Notifiers.deadline` seconds (NOTIFY_DEADLINE; the
command line reads ROLLOUT_NOTIFY_DEADLINE), each channel getting a fair share of what is
left, so receivers that hang cannot hold a guard run for minutes. What did not fit is
retried next run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from rollout.adapters.store.base import FlagStore
from rollout.core.rules import active_abort
from rollout.core.state import ABORTED, ALERTED, CHANGES, DRIFT, Event, FlagState
from rollout.errors import RolloutError

DEFAULT_SEVERITY = "SEV2"      # a rollback with no alert behind it (soak, manual) pages
NOTIFY_DEADLINE = 20.0         # seconds for every notification of one command run
FAILED = "FAILED, will retry"


@dataclass
class Notifiers:
    """The configured outside channels; None where the environment does not set one up."""

    slack: object | None = None
    pagerduty: object | None = None
    github: object | None = None
    missing: dict[str, str] = field(default_factory=dict)
    deadline: float = NOTIFY_DEADLINE   # seconds for every send of this run
    budget: float | None = None         # seconds of sending left in this run

    def __post_init__(self):
        if self.budget is None:
            self.budget = self.deadline

    @classmethod
    def from_env(cls, env=None, deadline: float = NOTIFY_DEADLINE) -> "Notifiers":
        """The channels the environment configures (SLACK_WEBHOOK_URL, ...)."""
        from rollout.adapters.notify import GitHubProposer, PagerDutyNotifier, SlackNotifier

        n = cls(deadline=deadline)
        for name, factory, needs in (("slack", SlackNotifier, "SLACK_WEBHOOK_URL"),
                                     ("pagerduty", PagerDutyNotifier, "PAGERDUTY_ROUTING_KEY"),
                                     ("github", GitHubProposer, "GITHUB_TOKEN and GITHUB_REPOSITORY")):
            try:
                setattr(n, name, factory.from_env(env))
            except RolloutError:
                n.missing[name] = f"not configured ({needs} not set)"
        return n


def failed(report: dict[str, str]) -> bool:
    """Did a delivery of this report fail (and wait for a retry)?"""
    return any(what.startswith(FAILED) for what in report.values())


def incident_of(state: FlagState, event: Event):
    from rollout.adapters.notify import Incident

    sev = event.evidence.get("severity", DEFAULT_SEVERITY)
    drift = event.kind == DRIFT
    headline, action = {DRIFT: ("flag drift", "flag store drift"),
                        ALERTED: ("hold and investigate", "hold and investigate alert")
                        }.get(event.kind, ("rollback", "automatic rollback"))
    return Incident(flag=state.flag, revision=event.revision or "unknown", severity=sev,
                    title=event.evidence.get("title") or f"{state.flag} rolled back to 0%",
                    reasons=event.reasons, evidence_markdown=event.evidence.get("markdown", ""),
                    from_percentage=(event.evidence.get("served", event.from_pct) if drift
                                     else event.from_pct) or 0,
                    to_percentage=event.to_pct or 0, at=event.at, state_path=state.path,
                    headline=headline, action=action)


def _attempt(store: FlagStore, event: Event, channel: str, send: Callable[[int], str],
             now: datetime, notifiers: Notifiers, share: float) -> str:
    """Claim the channel for this row, send within `share` seconds, record the result.
    `send` gets the attempt number (1 the first time)."""
    from rollout.adapters import retry

    if notifiers.budget < retry.MIN_ATTEMPT:
        return f"{FAILED}: not sent, this run's {notifiers.deadline:g}s for notifications is spent"
    attempt = store.claim_delivery(event.id, channel, now)
    if not attempt:
        status, _, detail = store.deliveries(event.id)[channel]
        return f"{status} earlier: {detail}" if detail else f"{status} earlier"
    started = time.monotonic()
    try:
        with retry.deadline(share):
            detail = send(attempt) or "sent"
    except RolloutError as exc:
        store.finish_delivery(event.id, channel, False, str(exc), now)
        return f"{FAILED}: {exc}"
    finally:
        notifiers.budget -= time.monotonic() - started
    store.finish_delivery(event.id, channel, True, detail, now)
    return detail


def _send_all(store, event, sends: list[tuple[str, Callable[[int], str]]], now,
              notifiers: Notifiers, after=None) -> dict[str, str]:
    """Each channel in order, with a fair share of the run's time that is left; `after`
    is called with (channel, outcome) once a channel is done."""
    report = {}
    for i, (channel, send) in enumerate(sends):
        share = max(notifiers.budget, 0.0) / (len(sends) - i)
        report[channel] = _attempt(store, event, channel, send, now, notifiers, share)
        if after:
            after(channel, report[channel])
    return report


def deliver(state: FlagState, store: FlagStore, event: Event, notifiers: Notifiers,
            now: datetime) -> dict[str, str]:
    """Send what this abort still owes: the revert pull request first (its link goes into
    the messages), then Slack, then PagerDuty for SEV1/SEV2. Returns channel -> outcome;
    never raises for a notifier failure."""
    incident = incident_of(state, event)
    links: dict[str, str] = {}
    sends, report = [], {}

    def propose(attempt):
        from rollout.flagfiles import read_flag_text, with_percentage
        if state.percentage == 0:
            return "state file already at 0%, no pull request needed"
        return notifiers.github.propose(incident, with_percentage(read_flag_text(state.path), 0))

    def link(channel, outcome):
        if channel == "github":
            url = store.deliveries(event.id).get("github", ("", 0, ""))[2]
            if url.startswith("http"):
                links["Revert pull request"] = url

    wanted = [("github", propose),
              ("slack", lambda attempt: notifiers.slack.notify(incident, links=links,
                                                               repeat=attempt > 1))]
    if incident.pages:
        wanted.append(("pagerduty", lambda attempt: "triggered " + notifiers.pagerduty.trigger(
            incident, links=links)))
    for channel, send in wanted:
        if getattr(notifiers, channel) is None:
            report[channel] = notifiers.missing.get(channel, "not configured")
        else:
            sends.append((channel, send))
    return {**report, **_send_all(store, event, sends, now, notifiers, after=link)}


def alert_drift(state: FlagState, store: FlagStore, event: Event, notifiers: Notifiers,
                now: datetime) -> dict[str, str]:
    """Tell Slack that the flag store contradicted the history and what was done."""
    if notifiers.slack is None:
        return {"slack": notifiers.missing.get("slack", "not configured")}
    incident = incident_of(state, event)
    return _send_all(store, event, [("slack", lambda attempt: notifiers.slack.notify(
        incident, repeat=attempt > 1))], now, notifiers)


def hold_alerts(state: FlagState, store: FlagStore, applied, result, history,
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
        incident = incident_of(state, event)
        outcome = _send_all(store, event, [("slack", lambda attempt: notifiers.slack.notify(
            incident, repeat=attempt > 1))], now, notifiers)["slack"]
        if " earlier" not in outcome:
            report[f"slack (SEV3 {code})"] = outcome
    return report


def pending_deliveries(state: FlagState, store: FlagStore, notifiers: Notifiers,
                       now: datetime) -> dict[str, str]:
    """Retry what the flag's history still owes: the standing abort's notifications, the
    alerts of drift repairs since the last change, and the resolve of the page of an abort
    that no longer stands (a new commit changed the state file, or `rollout retry`)."""
    history = store.history(state.flag)
    current = active_abort(history, state.flag, state.revision)
    last_change = max((e.id for e in history if e.kind in CHANGES), default=0)
    report = {}
    for e in history:
        if e.kind == DRIFT and e.id > last_change:
            outcomes, label = alert_drift(state, store, e, notifiers, now), "drift"
        elif e.kind != ABORTED:
            continue
        elif current is not None and e.id == current.id:
            outcomes, label = deliver(state, store, e, notifiers, now), "abort"
        else:
            owed = store.deliveries(e.id)
            if owed.get("pagerduty", ("",))[0] != "sent" or notifiers.pagerduty is None or \
                    owed.get("pagerduty-resolve", ("",))[0] == "sent":
                continue
            incident = incident_of(state, e)
            outcomes, label = _send_all(store, e, [("pagerduty-resolve", lambda attempt: (
                "resolved " + notifiers.pagerduty.resolve(incident)))], now, notifiers), "abort"
        for channel, outcome in outcomes.items():
            if " earlier" not in outcome and "not configured" not in outcome:
                report[f"{channel} ({label} #{e.id})"] = outcome
    return report

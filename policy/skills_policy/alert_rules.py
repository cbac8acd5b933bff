"""New Relic alert rules: every condition is deployed, documented, owned, and can page.

Seed 002 Task 6 lists the alerts and where each goes (SEV1/SEV2 "PagerDuty - Immediate
Page", SEV3 Slack or e-mail); the catalog (rollout/catalog.yaml) holds them with the
AI-service table's and the playbook's. The program names each condition
`<alert name> [<severity>]` (alerts/newrelic.py `condition_name`), which is how a
workflow's filter and these rules find it.

A route is proven only through what the pack can read: the workflow's filter predicates on
`labels.policyIds` (through the property's dependencies) and `accumulations.conditionName`
(EXACTLY_MATCHES, EQUAL or CONTAINS). A predicate on anything else cannot be proven to let
the issue through, so such a workflow does not count as a route.
"""
from __future__ import annotations

import re

from alerts.newrelic import condition_name
from rollout.core.catalog import PAGING

from skills_policy.model import UNKNOWN, Violation, of_type
from skills_policy.registry import rule

NR = "newrelic:index/"
CONDITION = f"{NR}nrqlAlertCondition:NrqlAlertCondition"
POLICY = f"{NR}alertPolicy:AlertPolicy"
WORKFLOW = f"{NR}workflow:Workflow"
CHANNEL = f"{NR}notificationChannel:NotificationChannel"
DESTINATION = f"{NR}notificationDestination:NotificationDestination"
PAGERDUTY_TYPES = ("PAGERDUTY_SERVICE_INTEGRATION", "PAGERDUTY_ACCOUNT_INTEGRATION")

_EXACT = ("EXACTLY_MATCHES", "EQUAL")
_SEVERITY = re.compile(r"\[(SEV[0-9])\]\s*$")


def severity(condition) -> str | None:
    name = condition.props.get("name")
    m = _SEVERITY.search(name) if isinstance(name, str) else None
    return m.group(1) if m else None


def _active(resource, flag: str) -> bool:
    return resource.props.get(flag) is not False


@rule("alert-runbook", "Every NRQL alert condition links its runbook",
      reason="seed 002 Task 8 (operations runbooks: rollback procedures, incident "
             "response); playbook 003 Team Readiness: operations runbooks reviewed",
      types=(CONDITION,))
def alert_runbook(condition, catalog):
    url = condition.props.get("runbookUrl")
    if url is not UNKNOWN and not (isinstance(url, str) and url.startswith("https://")):
        yield (f"{condition.label} has no runbook URL (runbookUrl {url!r}): whoever is paged "
               f"gets no procedure")


@rule("alert-in-policy", "Every NRQL alert condition belongs to an alert policy of the stack",
      reason="seed 002 Task 6: alerts reach PagerDuty/Slack/e-mail through the policy's "
             "workflows; a condition outside it notifies nobody")
def alert_in_policy(resources, catalog):
    policies = of_type(resources, POLICY)
    for condition in of_type(resources, CONDITION):
        if not any(condition.refers_to("policyId", p) for p in policies):
            yield Violation(f"{condition.label} belongs to no alert policy of this stack",
                            condition.urn)


@rule("catalog-alerts-deployed", "Every alert of the catalog is an enabled NRQL condition",
      reason="the catalog (rollout/catalog.yaml): seed 002 Task 6 alerts, the AI-service "
             "table and playbook 003 critical metrics")
def catalog_alerts_deployed(resources, catalog):
    conditions = {c.props.get("name"): c for c in of_type(resources, CONDITION)}
    for _, alert in catalog.alerts():
        name = condition_name(alert)
        found = conditions.get(name)
        if found is None:
            yield Violation(f"catalog alert {name!r} ({alert.source}) has no NRQL condition")
        elif not _active(found, "enabled"):
            yield Violation(f"catalog alert {name!r} is disabled", found.urn)


def _filter_admits(workflow, condition, policy) -> bool:
    """Whether the workflow's issues filter lets the condition's issues through."""
    predicates = workflow.get("issuesFilter.predicates") or []
    if predicates is UNKNOWN:
        return False
    name = condition.props.get("name")
    for p in predicates:
        attribute, operator = p.get("attribute"), p.get("operator")
        values = [v for v in (p.get("values") or []) if isinstance(v, str)]
        if attribute == "labels.policyIds":
            if not workflow.refers_to("issuesFilter", policy):
                return False
        elif attribute == "accumulations.conditionName" and operator == "CONTAINS":
            if not any(v in name for v in values):
                return False
        elif attribute == "accumulations.conditionName" and operator in _EXACT:
            if name not in values:
                return False
        else:
            return False
    return True


def _pages(workflow, resources) -> bool:
    """Whether the workflow notifies a PagerDuty destination when an issue opens."""
    entries = workflow.props.get("destinations") or []
    if entries is UNKNOWN or not any(
            "ACTIVATED" in (e.get("notificationTriggers") or ["ACTIVATED"]) for e in entries):
        return False
    for channel in of_type(resources, CHANNEL):
        if (workflow.refers_to("destinations", channel) and _active(channel, "active")
                and channel.props.get("type") in PAGERDUTY_TYPES):
            for destination in of_type(resources, DESTINATION):
                if (channel.refers_to("destinationId", destination)
                        and _active(destination, "active")
                        and destination.props.get("type") in PAGERDUTY_TYPES):
                    return True
    return False


@rule("paging-reaches-pagerduty", "Every SEV1/SEV2 condition reaches PagerDuty through a workflow",
      reason="seed 002 Task 6: Critical Alerts (PagerDuty - Immediate Page), action page_oncall "
             "for SEV1 and SEV2")
def paging_reaches_pagerduty(resources, catalog):
    policies = of_type(resources, POLICY)
    workflows = [w for w in of_type(resources, WORKFLOW) if _active(w, "enabled")]
    for condition in of_type(resources, CONDITION):
        if severity(condition) not in PAGING:
            continue
        owners = [p for p in policies if condition.refers_to("policyId", p)]
        routed = any(_filter_admits(w, condition, p) and _pages(w, resources)
                     for p in owners for w in workflows)
        if not _active(condition, "enabled"):
            yield Violation(f"{condition.label} is disabled, so it pages nobody", condition.urn)
        elif not routed:
            yield Violation(f"{condition.label} reaches no PagerDuty destination: no enabled "
                            f"workflow of its policy admits it and notifies a PagerDuty channel "
                            f"on ACTIVATED", condition.urn)


@rule("silence-alerts-can-fire", "An alert on silence (Service Down) can reach its threshold",
      reason="seed 002 Task 6: Skills Service Down, service.health == 0 for 1 minute, SEV1; "
             "count() is never 0 in an empty window, so only a 0 fill or loss of signal opens it",
      types=(CONDITION,))
def silence_alerts_can_fire(condition, catalog):
    for _, alert in catalog.alerts():
        if not alert.loss_of_signal or condition.props.get("name") != condition_name(alert):
            continue
        fill = condition.props.get("fillValue")
        filled = (condition.props.get("fillOption") == "static"
                  and isinstance(fill, (int, float)) and alert.when.met(fill))
        expiry = condition.props.get("expirationDuration")
        lost = (condition.props.get("openViolationOnExpiration") is True
                and isinstance(expiry, (int, float)) and expiry > 0)
        if not (filled or lost):
            yield (f"{condition.label} fires when its signal stops ({alert.when}), but it "
                   f"neither fills empty windows with a static value meeting that nor opens "
                   f"on loss of signal: a dead service would never page")

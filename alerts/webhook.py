"""New Relic wakes the guard: the catalog's rollback-class alerts (`when: rollback`, the
number that pages is the number that rolls back) go, besides the pager, to
`rollout serve`'s webhook, which asks for an immediate evaluation.

A webhook destination with bearer authentication, a channel whose payload template is
the JSON the hook reads, and a workflow that routes those conditions' activations to it.
The payload names no flags (the conditions are about the service, not one flag), so the
guard evaluates every live flag; a caller that knows may send {"flags": [...]}.
The webhook never decides anything itself: the guard's own judgement does.
"""
from __future__ import annotations

import pulumi
import pulumi_newrelic as newrelic

from alerts.newrelic import condition_name
from rollout.core.catalog import Alert, Catalog

# Handlebars: the `json` helper writes each value as a JSON literal (quotes, escapes).
PAYLOAD = """{
  "source": "newrelic",
  "issueId": {{ json issueId }},
  "state": {{ json state }},
  "priority": {{ json priority }},
  "title": {{ json issueTitle }},
  "conditions": {{ json accumulations.conditionName }},
  "issueUrl": {{ json issuePageUrl }}
}"""


def rollback_alerts(catalog: Catalog) -> list[Alert]:
    """The alerts whose `when` is the metric's rollback threshold."""
    return [a for m, a in catalog.alerts()
            if "rollback" in m.thresholds and a.when == m.thresholds["rollback"]]


class GuardWebhook(pulumi.ComponentResource):
    def __init__(self, name: str, catalog: Catalog, policy_id: pulumi.Input[str],
                 hook_url: pulumi.Input[str], token: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("skills-rollout:alerts:GuardWebhook", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        label = f"Skills rollout ({pulumi.get_stack()})"
        names = [condition_name(a) for a in rollback_alerts(catalog)]
        if not names:
            raise pulumi.RunError("catalog: no alert has `when: rollback`, so nothing would "
                                  "wake the guard; name the rollback threshold in an alert")

        self.destination = newrelic.NotificationDestination(
            "guard-webhook", name=f"{label} rollout guard", type="WEBHOOK",
            properties=[{"key": "url", "value": hook_url}],
            auth_token={"prefix": "Bearer", "token": token}, opts=child)
        self.channel = newrelic.NotificationChannel(
            "guard-webhook", name=f"{label} rollout guard", type="WEBHOOK", product="IINT",
            destination_id=self.destination.id,
            properties=[{"key": "payload", "value": PAYLOAD, "label": "Payload Template"}],
            opts=child)
        self.workflow = newrelic.Workflow(
            "workflow-guard", name=f"{label} -> rollout guard",
            # a muted issue still wakes the guard: muting is for people, and the guard
            # judges the metrics itself
            muting_rules_handling="NOTIFY_ALL_ISSUES",
            issues_filter={
                "name": f"{label}: rollback-class alerts", "type": "FILTER",
                "predicates": [
                    {"attribute": "labels.policyIds", "operator": "EXACTLY_MATCHES",
                     "values": [policy_id]},
                    {"attribute": "accumulations.conditionName", "operator": "CONTAINS",
                     "values": names},
                ]},
            destinations=[{"channel_id": self.channel.id,
                           "notification_triggers": ["ACTIVATED"]}],
            opts=child)
        self.register_outputs({"workflow_id": self.workflow.id})

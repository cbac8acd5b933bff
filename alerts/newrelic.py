"""New Relic alerting generated from the metric catalog.

One policy; one NRQL condition per catalog alert (query, operator, threshold, duration and
severity all read from rollout/catalog.yaml, nothing retyped); notification destinations,
channels and workflows that route each alert to where the catalog says (`notify`: SEV1/SEV2
page through PagerDuty, SEV3 goes to Slack, or e-mail where the catalog says so).

How a workflow knows the severity: each condition's name carries its severity ("High Skill
Error Rate [SEV1]") and each workflow filters issues on two attributes NerdGraph workflows
support, `labels.policyIds` (this policy only) and `accumulations.conditionName` CONTAINS
the full names of the conditions routed to it (the predicate matches ANY of its values).
Listing whole names, not a bare "[SEV3]" token, is what lets two SEV3 alerts go to
different places (Slack vs e-mail) as the catalog asks.
"""
from __future__ import annotations

import re

import pulumi
import pulumi_newrelic as newrelic

from infra.names import Names, names_for
from infra.settings import NewRelicSettings
from rollout.core.catalog import Alert, Catalog, Metric, load_catalog

RUNBOOK_PATH = "docs/runbooks/alerts.md"

# Where silence is itself the failure (loss_of_signal in the catalog), an expired signal
# opens an incident; wait at least this long so one late batch does not page anyone.
MIN_EXPIRATION_SECONDS = 120

# Issue events that reach each destination.
TRIGGERS = ["ACTIVATED", "ACKNOWLEDGED", "CLOSED"]

DESTINATION_TYPES = {"pagerduty": "PAGERDUTY_SERVICE_INTEGRATION", "slack": "SLACK",
                     "email": "EMAIL"}


def runbook_anchor(alert_name: str) -> str:
    """The anchor GitHub gives the heading `## <alert name>` in the runbook."""
    slug = re.sub(r"[^\w\- ]", "", alert_name.strip().lower())
    return slug.replace(" ", "-")


def condition_name(alert: Alert, names: Names | None = None) -> str:
    """The condition's name: the alert and its severity (workflows route on it), marked
    with the stack's name outside prod."""
    text = f"{alert.name} [{alert.severity}]"
    return names.label(text) if names else text


def signal(metric: Metric, alert: Alert) -> dict:
    """Aggregation window, threshold duration and occurrences of one alert.

    New Relic wants threshold_duration to be a multiple of aggregation_window and at least
    60 s. "minutes: 0" (immediate) means: open on the first breaching data point.
    A window longer than a minute slides by one minute, so a 60-minute sum is still
    evaluated every minute instead of once an hour.
    """
    window = (metric.window_minutes or 1) * 60
    out = {"aggregation_window": window}
    if window > 60:
        out["slide_by"] = 60
    if alert.minutes == 0:
        out.update(threshold_duration=window, threshold_occurrences="AT_LEAST_ONCE")
        return out
    duration = alert.minutes * 60
    if duration % window:
        raise pulumi.RunError(
            f"catalog: metric {metric.name} alert {alert.name!r}: minutes {alert.minutes} is not "
            f"a multiple of window_minutes {metric.window_minutes}, which New Relic requires")
    out.update(threshold_duration=duration, threshold_occurrences="ALL")
    return out


class Alerts(pulumi.ComponentResource):
    """Alert policy, NRQL conditions and the notification routing."""

    def __init__(self, name: str, settings: NewRelicSettings, catalog: Catalog | None = None,
                 opts: pulumi.ResourceOptions | None = None, names: Names | None = None):
        super().__init__("skills-rollout:alerts:Alerts", name, None, opts)
        catalog = catalog or load_catalog()
        self.names = names = names or names_for()
        child = pulumi.ResourceOptions(parent=self)

        self.label = label = f"Skills rollout ({pulumi.get_stack()})"
        self.policy = newrelic.AlertPolicy(
            "policy", name=label, incident_preference="PER_CONDITION", opts=child)

        self.conditions: dict[str, newrelic.NrqlAlertCondition] = {}
        routes: dict[str, list[str]] = {}
        for metric, alert in catalog.alerts():
            self.conditions[alert.name] = self._condition(metric, alert, catalog, settings, child)
            routes.setdefault(alert.notify, []).append(condition_name(alert, names))
        _check_names_are_distinct(routes)

        self.channels = {}
        self.workflows = {}
        self.destinations = self._destinations(settings, child)
        for route, names in routes.items():
            self.channels[route] = self._channel(route, settings, child)
            self.workflows[route] = newrelic.Workflow(
                f"workflow-{route}", name=f"{label} -> {route}",
                muting_rules_handling="DONT_NOTIFY_FULLY_MUTED_ISSUES",
                issues_filter={
                    "name": f"{label}: {route} alerts", "type": "FILTER",
                    "predicates": [
                        {"attribute": "labels.policyIds", "operator": "EXACTLY_MATCHES",
                         "values": [self.policy.id]},
                        {"attribute": "accumulations.conditionName", "operator": "CONTAINS",
                         "values": names},
                    ]},
                destinations=[{"channel_id": self.channels[route].id,
                               "notification_triggers": TRIGGERS}],
                opts=child)

        self.policy_id = self.policy.id
        self.register_outputs({"policy_id": self.policy.id})

    def _condition(self, metric, alert, catalog, settings, child):
        s = signal(metric, alert)
        term = {"operator": alert.when.nr_operator, "threshold": alert.when.value,
                "threshold_duration": s.pop("threshold_duration"),
                "threshold_occurrences": s.pop("threshold_occurrences")}
        extra = {}
        if alert.loss_of_signal:
            # Silence is the failure. count() never evaluates to 0 in a window with no event
            # (New Relic runs the SELECT only when something matched): an empty window is
            # filled with a static 0, which meets "below 1" within the alert's own minute;
            # loss of signal is the backstop when no data arrives at all for a while.
            extra = dict(fill_option="static", fill_value=0,
                         expiration_duration=max(MIN_EXPIRATION_SECONDS, term["threshold_duration"]),
                         open_violation_on_expiration=True, close_violations_on_expiration=False)
        where = "pages" if alert.pages else "notifies"
        over = (f" summed over {metric.window_minutes} min" if metric.window_minutes else "")
        lasting = f"for {alert.minutes} min" if alert.minutes else "at once"
        return newrelic.NrqlAlertCondition(
            f"condition-{runbook_anchor(alert.name)}",
            policy_id=self.policy.id, type="static", enabled=True,
            name=condition_name(alert, self.names),
            description=(f"{metric.title}{over} {alert.when} {metric.unit} {lasting}; "
                         f"{alert.severity}, {where} {alert.notify}. Source: seed {alert.source}."),
            nrql={"query": metric.nrql(catalog)},
            critical=term,
            aggregation_method="event_flow", aggregation_delay="120",
            runbook_url=f"{settings.runbook_base_url}/{RUNBOOK_PATH}#{runbook_anchor(alert.name)}",
            **s, **extra, opts=child)

    def _destinations(self, settings, child) -> dict:
        n = settings.notify
        pagerduty = newrelic.NotificationDestination(
            "pagerduty", name=f"{self.label} PagerDuty", type=DESTINATION_TYPES["pagerduty"],
            # This destination type takes its key as an auth token and no properties; the
            # provider still wants one, hence the empty pair (as in its documented example).
            properties=[{"key": "", "value": ""}],
            auth_token={"prefix": "Token token=", "token": n.pagerduty_service_key},
            opts=child)
        email = newrelic.NotificationDestination(
            "email", name=f"{self.label} e-mail", type=DESTINATION_TYPES["email"],
            properties=[{"key": "email", "value": ",".join(n.email_addresses)}], opts=child)
        # Slack destinations need an OAuth consent in a browser, so they cannot be created
        # by API: the one connected in the New Relic UI is looked up by its exact name.
        slack = newrelic.get_notification_destination_output(exact_name=n.slack_destination)
        return {"pagerduty": pagerduty.id, "email": email.id, "slack": slack.id}

    def _channel(self, route, settings, child):
        n = settings.notify
        properties = {
            "pagerduty": [{"key": "summary", "value": "{{ annotations.title.[0] }}"}],
            "slack": [{"key": "channelId", "value": n.slack_channel_id}],
            "email": [{"key": "subject", "value": "{{ issueTitle }}"}],
        }[route]
        return newrelic.NotificationChannel(
            f"channel-{route}", name=f"{self.label} {route}", type=DESTINATION_TYPES[route],
            product="IINT", destination_id=self.destinations[route], properties=properties,
            opts=child)


def _check_names_are_distinct(routes: dict) -> None:
    """CONTAINS matching: no name routed one way may be part of a name routed another way."""
    for route, names in routes.items():
        for other, others in routes.items():
            if other == route:
                continue
            for n in names:
                clash = [o for o in others if n in o]
                if clash:
                    raise pulumi.RunError(f"catalog: alert condition {n!r} ({route}) is part of "
                                          f"{clash[0]!r} ({other}); rename one of the alerts")

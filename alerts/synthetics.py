"""The synthetic check whose results the catalog's `service_health` metric counts.

The SEV1 condition *Skills Service Down* counts `SyntheticCheck` results of one monitor and
treats silence as down (loss of signal), so the monitor must exist under exactly the name
the query filters on. That name is read from the catalog query itself, never retyped here:
renaming the monitor in rollout/catalog.yaml renames the monitor the stack creates.

The check hits the web service's public `/health`: the ai-service is a private Render
service that New Relic's public locations cannot reach, and the web `/health` answers 200
only when database, Redis, Claude API and Skills API are all healthy (seed 002, "Health
Check Endpoint"), 503 otherwise.
"""
from __future__ import annotations

import re

import pulumi
import pulumi_newrelic as newrelic

from infra.settings import NewRelicSettings
from rollout.core.catalog import Catalog

# `... FROM SyntheticCheck WHERE ... monitorName = '<name>' ...` in a metric's query.
_MONITOR_NAME = re.compile(r"\bFROM\s+SyntheticCheck\b.*?\bmonitorName\s*=\s*'([^']+)'",
                           re.IGNORECASE | re.DOTALL)

# Text the health answer carries (the playbook expects {"status":"healthy",...}). The status
# code decides up or down; the text guards against a 200 that is not the health endpoint,
# e.g. a catch-all page served for an unknown path.
VALIDATION_TEXT = "healthy"


def health_monitor_name(catalog: Catalog) -> str:
    """The one monitor name the catalog's queries count SyntheticCheck results of."""
    names = sorted({found.group(1) for metric in catalog.metrics.values()
                    for found in _MONITOR_NAME.finditer(metric.nrql(catalog))})
    if len(names) != 1:
        raise pulumi.RunError(
            "catalog: expected exactly one metric query naming a synthetic monitor "
            "(FROM SyntheticCheck WHERE monitorName = '...'), the one this stack creates; "
            f"found {', '.join(repr(n) for n in names) or 'none'}")
    return names[0]


class HealthMonitor(pulumi.ComponentResource):
    """A ping (SIMPLE) monitor of `uri`, every minute, named as the catalog expects."""

    def __init__(self, name: str, settings: NewRelicSettings, catalog: Catalog,
                 uri: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None):
        super().__init__("skills-rollout:alerts:HealthMonitor", name, None, opts)
        self.monitor_name = health_monitor_name(catalog)
        self.monitor = newrelic.synthetics.Monitor(
            "health", name=self.monitor_name, type="SIMPLE", status="ENABLED",
            # The condition expects a result every minute; a longer period is silence to it.
            period="EVERY_MINUTE",
            locations_publics=list(settings.monitor_locations),
            uri=uri,
            # An error status (the 503 of an unhealthy dependency) fails the check; so does
            # a redirect, which would otherwise be followed to a login or error page.
            treat_redirect_as_failure=True,
            validation_string=VALIDATION_TEXT,
            # GET, as Render's health check and the playbook's curl do, not a HEAD first.
            bypass_head_request=True,
            verify_ssl=True,
            opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"monitor_id": self.monitor.id, "uri": uri})

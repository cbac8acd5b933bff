"""The Pulumi program of the `skills-rollout` project: one component per concern.

    infra/       Render: web, ai-service, PostgreSQL, key-value, their env vars
    alerts/      New Relic: policy, NRQL conditions, notification routing, and the
                 synthetic /health check the Skills Service Down condition counts
    dashboards/  New Relic: the five-page dashboard
    infra/guard_service.py, alerts/webhook.py   the always-on guard (rollout serve) on
                 Render, and the New Relic webhook that wakes it (docs/serve.md)

Alerts and dashboards are generated from rollout/catalog.yaml, the catalog the rollout
gates read, so the pager and the gate cannot disagree. See docs/infrastructure.md.
"""
import pulumi

from alerts.newrelic import Alerts
from alerts.synthetics import HealthMonitor
from alerts.webhook import GuardWebhook
from dashboards.newrelic import Dashboard
from infra.guard_service import GuardService
from infra.names import names_for
from infra.render import RenderServices
from infra.settings import load_settings
from rollout.core.catalog import load_catalog
from rollout.errors import UserError

settings = load_settings()
# prod keeps its names; another stack (staging) names everything after itself and
# watches its own services (infra/names.py)
names = names_for(pulumi.get_stack())
try:
    catalog = names.catalog(load_catalog())
except UserError as exc:          # one line in the CLI, not a traceback
    raise pulumi.RunError(str(exc)) from None

render = RenderServices("render", settings.render, names)
alerts = Alerts("alerts", settings.newrelic, catalog, names=names)
health_monitor = HealthMonitor("health-monitor", settings.newrelic, catalog, render.web_health_url)
dashboard = Dashboard("dashboard", catalog)
# The always-on guard (rollout serve) and the New Relic webhook that wakes it.
guard = GuardService("guard", settings.render, settings.guard, settings.newrelic,
                     render.postgres)
GuardWebhook("guard-webhook", catalog, alerts.policy_id, guard.hook_url,
             settings.guard.hook_token)

pulumi.export("dashboardPermalink", dashboard.permalink)
pulumi.export("alertPolicyId", alerts.policy_id)
pulumi.export("webUrl", render.web_url)
pulumi.export("aiServiceUrl", render.ai_service_url)
# The kill switch in clear text: the ai-service's env list holds the model key, so the
# preview masks that list whole; this output shows a flip as `skillsEnabled: true => false`.
pulumi.export("skillsEnabled", render.skills_enabled)
pulumi.export("guardUrl", guard.url)

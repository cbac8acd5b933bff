"""The always-on guard on Render: `rollout serve` as a web service of its own.

It runs from this repository (the committed flag files are its input), redeploys on every
merge to the branch so it always judges the committed state, and keeps two instances:
a lease in the store makes one the leader of the timed loop, and New Relic's webhook is
answered by either (docs/serve.md). Render checks /healthz; SIGTERM gets the shutdown
delay below to finish an evaluation and hand the lease over.

Its environment, secrets included (the store's connection string, the webhook token, the
query key, Slack, the PagerDuty routing key, the GitHub token, the status page's
password), is one EnvVarsForService:
a PUT of the service's whole list, changed in place. Not an environment group: Render
updates a group's name only, so a rotated token would replace the group (and unlink it
from the service for the time of the replacement). The list holds secrets, so `pulumi
preview` masks it whole; the settings worth reading in a diff are in the start command.
"""
from __future__ import annotations

import shlex

import pulumi
import pulumi_render.postgres as rpg
import pulumi_render.services as rsvc

from infra.settings import GuardSettings, NewRelicSettings, RenderSettings

RUNTIME = "python"
HEALTH_PATH = "/healthz"
HOOK_PATH = "/hooks/newrelic"
PYTHON_VERSION = "3.11.9"
SHUTDOWN_DELAY = 60        # seconds between SIGTERM and SIGKILL (rollout serve needs <= 45)
# Render's proxies reach the service from private addresses; the client is the last
# address they append to X-Forwarded-For (what the webhook's rate limit keys on).
PROXY_NETWORKS = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"

# A shallow clone would give every flag file the newest commit as its revision, unlike
# the CI controllers: the build fetches the history (rollout serve refuses to start
# without it). `rollout store init` adds the service's tables before each deploy.
BUILD = ('pip install . && if [ "$(git rev-parse --is-shallow-repository)" = true ]; '
         'then git fetch --unshallow; fi')
PRE_DEPLOY = 'rollout store init --store "$ROLLOUT_STORE"'


def start_command(guard: GuardSettings, newrelic: NewRelicSettings) -> str:
    metrics = f"newrelic://{newrelic.account_id}?region={newrelic.region.lower()}"
    return (f"rollout serve --host 0.0.0.0 --port $PORT --interval {guard.interval} "
            f"--lease-ttl {guard.lease_ttl} --store \"$ROLLOUT_STORE\" "
            f"--metrics {shlex.quote(metrics)}")


class GuardService(pulumi.ComponentResource):
    def __init__(self, name: str, render: RenderSettings, guard: GuardSettings,
                 newrelic: NewRelicSettings, postgres: rpg.Postgres,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("skills-rollout:infra:GuardService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.service_name = f"rollout-guard-{pulumi.get_stack()}"

        self.web = rsvc.WebService(
            "guard", owner_id=render.owner_id, name=self.service_name, repo=guard.repo,
            branch=guard.branch, root_dir="",
            auto_deploy="yes",        # a merged phase change must reach the guard
            service_details={
                # `env` is deprecated for `runtime`, yet Render returns it on every read:
                # the same value keeps a refresh quiet
                "runtime": RUNTIME, "env": RUNTIME, "plan": guard.plan, "region": render.region,
                "num_instances": guard.instances,
                "health_check_path": HEALTH_PATH,
                "max_shutdown_delay_seconds": SHUTDOWN_DELAY,
                "pre_deploy_command": PRE_DEPLOY,
                "env_specific_details": {"build_command": BUILD,
                                         "start_command": start_command(guard, newrelic)},
            },
            opts=child)

        db = rpg.get_postgres_connection_info_output(postgres_id=postgres.id)
        variables = {
            "PYTHON_VERSION": PYTHON_VERSION,
            "GITHUB_REPOSITORY": guard.github_repository,
            "FORWARDED_ALLOW_IPS": PROXY_NETWORKS,
            "ROLLOUT_ACTOR": self.service_name,
            # the flag store the application reads: the stack's PostgreSQL
            "ROLLOUT_STORE": pulumi.Output.secret(db.internal_connection_string),
            "ROLLOUT_HOOK_TOKEN": guard.hook_token,
            "NEW_RELIC_API_KEY": guard.newrelic_query_key,
            "SLACK_WEBHOOK_URL": guard.slack_webhook_url,
            # the Events v2 integration key New Relic pages with is the guard's routing key
            "PAGERDUTY_ROUTING_KEY": newrelic.notify.pagerduty_service_key,
            "GITHUB_TOKEN": guard.github_token,
            # the status page (GET /) and /status: HTTP Basic, this as the password
            "ROLLOUT_PAGE_TOKEN": guard.page_token,
        }
        self.env = rsvc.EnvVarsForService(
            "guard-env", service_id=self.web.id,
            env_vars=[{"key": k, "value": variables[k]} for k in sorted(variables)],
            opts=child)

        self.url = self.web.service_details.apply(lambda d: d.url if d else None)
        self.hook_url = self.url.apply(lambda u: u.rstrip("/") + HOOK_PATH if u else None)
        self.register_outputs({"url": self.url, "hook_url": self.hook_url})

"""Render services of the deployment architecture (seed 002, "Deployment Architecture").

web (public, autoscaled, health-checked), ai-service (private, carries the skills kill
switch), PostgreSQL and the key-value cache. Sizes and places come from the stack config.

Every input here is chosen so that a real `pulumi up` changes things in place (the
provider replaces a resource when a changed input is missing from Render's update body;
tests/data/render_update_in_place.json, derived from the provider's OpenAPI document):

- environment variables of a service live in `EnvVarsForService` (one PUT of the service's
  whole list, updated in place and followed by a deploy), never in the service's own
  `env_vars`: the service PATCH has no `envVars`, so flipping the kill switch there would
  replace the ai-service, and with it the web service and the env group that name it;
- autoscaling lives in `AutoscaleService` (PUT /services/{id}/autoscaling), because the
  service PATCH does not carry it either;
- everything Render always answers on a read (`serviceDetails.env`, `rootDir`, database
  name and user, IP allow lists, read replicas, secret files) is set explicitly, or
  ignored where Render owns it (the web's instance count, moved by the autoscaler), so a
  refresh of an untouched stack plans nothing (tests/test_pulumi_refresh.py).
"""
from __future__ import annotations

import pulumi
import pulumi_render.env_groups as renv
import pulumi_render.key_value as rkv
import pulumi_render.postgres as rpg
import pulumi_render.services as rsvc

from infra.names import PROD_STACK, Names
from infra.settings import RenderSettings

# prod's names (infra/names.py: another stack inserts its own name after the prefix)
PROD = Names(PROD_STACK)
WEB_NAME, AI_NAME = PROD.web, PROD.ai_service
POSTGRES_NAME, KEY_VALUE_NAME = PROD.postgres, PROD.key_value
RUNTIME = "docker"
ALLOW_LIST_NOTE = "skills-rollout stack config"


def _docker(dockerfile: str) -> dict:
    # Seed 002 pipeline: "Build Docker Image -> Render Build".
    return {"dockerfile_path": dockerfile, "docker_context": "."}


def _details(plan: str, region: str, instances: int, dockerfile: str, **extra) -> dict:
    """serviceDetails of a docker service. `env` is deprecated in favour of `runtime`, yet
    Render returns it on every read: set to the same value, a refresh finds no difference."""
    return {"runtime": RUNTIME, "env": RUNTIME, "plan": plan, "region": region,
            "num_instances": instances, "env_specific_details": _docker(dockerfile), **extra}


def _allow_list(cidrs: tuple) -> list:
    return [{"cidr_block": c, "description": ALLOW_LIST_NOTE} for c in cidrs]


def env_list(variables: dict) -> list:
    """{key: value} as Render's env-var list, in one stable order."""
    return [{"key": k, "value": variables[k]} for k in sorted(variables)]


class RenderServices(pulumi.ComponentResource):
    """web + ai-service + PostgreSQL + key-value, wired by env vars and connection strings."""

    def __init__(self, name: str, settings: RenderSettings, names: Names = PROD,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("skills-rollout:infra:RenderServices", name, None, opts)
        self._datastores(settings, names)
        self._services(settings, names)
        self._env(settings, names)
        w = settings.web
        self.web_url = self.web.service_details.apply(lambda d: d.url if d else None)
        self.ai_service_url = self.ai_service.service_details.apply(lambda d: d.url if d else None)
        # The public health endpoint (what Render's health check and the playbook's curl hit),
        # for the synthetic monitor: the private ai-service is out of reach of New Relic.
        self.web_health_url = self.web_url.apply(
            lambda url: url.rstrip("/") + w.health_check_path if url else None)
        self.skills_enabled = settings.ai_service.skills_enabled
        self.register_outputs({"web_url": self.web_url, "ai_service_url": self.ai_service_url,
                               "web_health_url": self.web_health_url,
                               "postgres_id": self.postgres.id,
                               "key_value_id": self.key_value.id})

    def _datastores(self, s: RenderSettings, names: Names) -> None:
        self.postgres = rpg.Postgres(
            "postgres", owner_id=s.owner_id, name=names.postgres, region=s.region,
            plan=s.postgres.plan, version=s.postgres.version,
            disk_size_gb=s.postgres.disk_size_gb,
            database_name=s.postgres.database_name, database_user=s.postgres.database_user,
            ip_allow_list=_allow_list(s.postgres.ip_allow_list), read_replicas=[],
            # The legal platform's data: a planned replacement must stop `pulumi up`, not
            # run (`pulumi state unprotect` first, on purpose). A staging stack turns it off
            # (postgres.protect: false) so `pulumi destroy` can take it down.
            opts=pulumi.ResourceOptions(parent=self, protect=s.postgres.protect))
        self.key_value = rkv.KeyValue(
            "key-value", owner_id=s.owner_id, name=names.key_value, region=s.region,
            plan=s.key_value.plan, maxmemory_policy=s.key_value.maxmemory_policy,
            ip_allow_list=_allow_list(s.key_value.ip_allow_list),
            opts=pulumi.ResourceOptions(parent=self))

    def _services(self, s: RenderSettings, names: Names) -> None:
        child = pulumi.ResourceOptions(parent=self)
        ai = s.ai_service
        self.ai_service = rsvc.PrivateService(
            "ai-service", owner_id=s.owner_id, name=names.ai_service, repo=s.repo, branch=s.branch,
            # Seed 002: "Deploy to Production -> Manual Approval", so no deploy on every push.
            auto_deploy="no", root_dir="",
            service_details=_details(ai.plan, s.region, ai.instances, ai.dockerfile),
            opts=child)

        w = s.web
        a = w.autoscaling
        self.web = rsvc.WebService(
            "web", owner_id=s.owner_id, name=names.web, repo=s.repo, branch=s.branch,
            auto_deploy="no", root_dir="",
            service_details=_details(w.plan, s.region, w.instances, w.dockerfile,
                                     health_check_path=w.health_check_path),
            # The autoscaler moves the instance count, and AutoscaleService below owns the
            # autoscaling settings that Render reports back inside serviceDetails. Without
            # autoscaling (a staging stack) the instance count is the stack's to set.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=[
                *(["serviceDetails.numInstances"] if a else []), "serviceDetails.autoscaling"]))
        self.web_autoscaling = None if a is None else rsvc.AutoscaleService(
            "web-autoscaling", service_id=self.web.id, enabled=True, min=a.min, max=a.max,
            criteria={"cpu": {"enabled": True, "percentage": a.cpu_percent},
                      "memory": {"enabled": True, "percentage": a.memory_percent}},
            opts=child)

    def _env(self, s: RenderSettings, names: Names) -> None:
        child = pulumi.ResourceOptions(parent=self)
        ai = s.ai_service
        db = rpg.get_postgres_connection_info_output(postgres_id=self.postgres.id)
        cache = rkv.get_key_value_connection_info_output(key_value_id=self.key_value.id)
        # The kill switch of rollback method 2 (playbook 003) and the model key, one list:
        # a flip or a rotation is one in-place PUT and the deploy the provider starts after
        # it. The list holds a secret, so `pulumi preview` masks it whole; the stack output
        # `skillsEnabled` shows the switch in clear text.
        self.ai_env = rsvc.EnvVarsForService(
            "ai-service-env", service_id=self.ai_service.id, env_vars=env_list({
                "ANTHROPIC_SKILLS_ENABLED": "true" if ai.skills_enabled else "false",
                "ANTHROPIC_SKILLS_BETA_VERSION": ai.skills_beta_version,
                "ANTHROPIC_API_KEY": s.anthropic_api_key}),
            opts=child)
        # Private services are reached at their internal host name, the service slug.
        self.web_env = rsvc.EnvVarsForService(
            "web-env", service_id=self.web.id,
            env_vars=env_list({"AI_SERVICE_HOST": self.ai_service.slug}), opts=child)

        # The connection strings change only when a datastore is replaced (itself refused,
        # see protect above), and the linked services never change: an env group, shared.
        self.data_env = renv.EnvGroup(
            "data-env", owner_id=s.owner_id, name=names.data_env,
            env_vars=env_list({"DATABASE_URL": pulumi.Output.secret(db.internal_connection_string),
                               "REDIS_URL": pulumi.Output.secret(cache.internal_connection_string)}),
            secret_files=[], service_ids=[self.web.id, self.ai_service.id], opts=child)

"""Render services of the deployment architecture (seed 002, "Deployment Architecture").

web (public, autoscaled, health-checked), ai-service (private, carries the skills kill
switch), PostgreSQL and the key-value cache, plus two environment groups that hand the
connection strings and the model key to the services. Sizes and places come from the
stack config.
"""
from __future__ import annotations

import pulumi
import pulumi_render.env_groups as renv
import pulumi_render.key_value as rkv
import pulumi_render.postgres as rpg
import pulumi_render.services as rsvc

from infra.settings import RenderSettings

WEB_NAME = "legal-platform-web"
AI_NAME = "legal-platform-ai-service"
POSTGRES_NAME = "legal-platform-db"
KEY_VALUE_NAME = "legal-platform-cache"


def _docker(dockerfile: str) -> dict:
    # Seed 002 pipeline: "Build Docker Image -> Render Build".
    return {"dockerfile_path": dockerfile, "docker_context": "."}


class RenderServices(pulumi.ComponentResource):
    """web + ai-service + PostgreSQL + key-value, wired by connection strings."""

    def __init__(self, name: str, settings: RenderSettings,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("skills-rollout:infra:RenderServices", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = settings

        self.postgres = rpg.Postgres(
            "postgres", owner_id=s.owner_id, name=POSTGRES_NAME, region=s.region,
            plan=s.postgres.plan, version=s.postgres.version,
            disk_size_gb=s.postgres.disk_size_gb, opts=child)
        self.key_value = rkv.KeyValue(
            "key-value", owner_id=s.owner_id, name=KEY_VALUE_NAME, region=s.region,
            plan=s.key_value.plan, maxmemory_policy=s.key_value.maxmemory_policy, opts=child)

        db = rpg.get_postgres_connection_info_output(postgres_id=self.postgres.id)
        cache = rkv.get_key_value_connection_info_output(key_value_id=self.key_value.id)

        ai = s.ai_service
        self.ai_service = rsvc.PrivateService(
            "ai-service", owner_id=s.owner_id, name=AI_NAME, repo=s.repo, branch=s.branch,
            # Seed 002: "Deploy to Production -> Manual Approval", so no deploy on every push.
            auto_deploy="no",
            env_vars=[
                # The kill switch of rollback method 2 (playbook 003), from the stack config;
                # docs/infrastructure.md says how to flip it and get it deployed.
                {"key": "ANTHROPIC_SKILLS_ENABLED", "value": "true" if ai.skills_enabled else "false"},
                {"key": "ANTHROPIC_SKILLS_BETA_VERSION", "value": ai.skills_beta_version},
            ],
            service_details={
                "runtime": "docker", "plan": ai.plan, "region": s.region,
                "num_instances": ai.instances,
                "env_specific_details": _docker(ai.dockerfile),
            },
            opts=child)

        w = s.web
        a = w.autoscaling
        self.web = rsvc.WebService(
            "web", owner_id=s.owner_id, name=WEB_NAME, repo=s.repo, branch=s.branch,
            auto_deploy="no",
            # Private services are reached at their internal host name, the service slug.
            env_vars=[{"key": "AI_SERVICE_HOST", "value": self.ai_service.slug}],
            service_details={
                "runtime": "docker", "plan": w.plan, "region": s.region,
                "num_instances": w.instances,
                "health_check_path": w.health_check_path,
                "autoscaling": {
                    "enabled": True, "min": a.min, "max": a.max,
                    "criteria": {"cpu": {"enabled": True, "percentage": a.cpu_percent},
                                 "memory": {"enabled": True, "percentage": a.memory_percent}},
                },
                "env_specific_details": _docker(w.dockerfile),
            },
            opts=child)

        # Secrets live in environment groups, not in the services' own env_vars: a list
        # holding one secret is masked whole in `pulumi preview`, and the kill switch beside
        # it must stay readable in the pull-request diff.
        self.data_env = renv.EnvGroup(
            "data-env", owner_id=s.owner_id, name="legal-platform-data",
            env_vars=[{"key": "DATABASE_URL",
                       "value": pulumi.Output.secret(db.internal_connection_string)},
                      {"key": "REDIS_URL",
                       "value": pulumi.Output.secret(cache.internal_connection_string)}],
            service_ids=[self.web.id, self.ai_service.id], opts=child)
        self.ai_env = renv.EnvGroup(    # the model key reaches the ai-service only
            "ai-secrets-env", owner_id=s.owner_id, name="legal-platform-ai-secrets",
            env_vars=[{"key": "ANTHROPIC_API_KEY", "value": s.anthropic_api_key}],
            service_ids=[self.ai_service.id], opts=child)

        self.web_url = self.web.service_details.apply(lambda d: d.url if d else None)
        self.ai_service_url = self.ai_service.service_details.apply(lambda d: d.url if d else None)
        # The public health endpoint (what Render's health check and the playbook's curl hit),
        # for the synthetic monitor: the private ai-service is out of reach of New Relic.
        self.web_health_url = self.web_url.apply(
            lambda url: url.rstrip("/") + w.health_check_path if url else None)
        self.register_outputs({"web_url": self.web_url, "ai_service_url": self.ai_service_url,
                               "web_health_url": self.web_health_url,
                               "postgres_id": self.postgres.id,
                               "key_value_id": self.key_value.id})

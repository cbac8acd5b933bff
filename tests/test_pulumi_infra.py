"""Render resources: the seed's deployment architecture, from the stack config."""
from __future__ import annotations

import json

import pytest

from tests.pulumi_harness import is_secret, run_main, stack_config


@pytest.fixture(scope="module")
def run():
    return run_main()


def env(resource) -> dict:
    return {e["key"]: e["value"] for e in resource.inputs.get("envVars", [])}


def test_web_service(run):
    web = run.one("render:services:WebService", "web").inputs
    assert web["name"] == "legal-platform-web"
    d = web["serviceDetails"]
    assert (d["plan"], d["numInstances"], d["region"]) == ("standard", 2, "oregon")
    assert d["healthCheckPath"] == "/health"
    assert d["autoscaling"] == {
        "enabled": True, "min": 2, "max": 10,
        "criteria": {"cpu": {"enabled": True, "percentage": 70},
                     "memory": {"enabled": True, "percentage": 80}},
    }
    assert d["runtime"] == "docker"
    assert web["autoDeploy"] == "no"          # seed: production deploys need approval


def test_ai_service_is_private_and_carries_the_kill_switch(run):
    ai = run.one("render:services:PrivateService")
    assert ai.inputs["name"] == "legal-platform-ai-service"
    d = ai.inputs["serviceDetails"]
    assert (d["plan"], d["numInstances"], d["region"]) == ("standard", 1, "oregon")
    assert "healthCheckPath" not in d
    assert env(ai) == {"ANTHROPIC_SKILLS_ENABLED": "true",
                       "ANTHROPIC_SKILLS_BETA_VERSION": "skills-2025-10-02"}
    # readable in `pulumi preview`: not masked as a secret
    assert not is_secret(ai.raw_inputs["envVars"])


def test_kill_switch_comes_from_config():
    config, secrets = stack_config()
    ai = json.loads(config["skills-rollout:aiService"])
    config["skills-rollout:aiService"] = json.dumps({**ai, "skillsEnabled": False})
    run = run_main(config, secrets)
    assert env(run.one("render:services:PrivateService"))["ANTHROPIC_SKILLS_ENABLED"] == "false"


def test_postgres_and_key_value(run):
    pg = run.one("render:postgres:Postgres").inputs
    assert (pg["version"], pg["plan"], pg["region"], pg["diskSizeGB"]) == \
        ("16", "standard", "oregon", 25)
    kv = run.one("render:key-value:KeyValue").inputs
    assert (kv["plan"], kv["region"], kv["maxmemoryPolicy"]) == ("starter", "oregon", "allkeys_lru")
    owners = {r.inputs["ownerId"] for r in run.custom if r.typ.startswith("render:")
              and r.typ != "render:services:EnvVarsForService"}     # keyed by its service
    assert owners == {"tea-example0workspace0id"}


def test_secrets_reach_the_services_through_secret_env_groups(run):
    groups = {g.inputs["name"]: g for g in run.of_type("render:env-groups:EnvGroup")}
    web = run.one("render:services:WebService", "web")
    ai = run.one("render:services:PrivateService")
    data, model = groups["legal-platform-data"], groups["legal-platform-ai-secrets"]
    assert is_secret(data.raw_inputs["envVars"]) and is_secret(model.raw_inputs["envVars"])
    pg = run.one("render:postgres:Postgres")
    kv = run.one("render:key-value:KeyValue")
    assert env(data) == {"DATABASE_URL": f"postgresql://u:p@{pg.id}/db",
                         "REDIS_URL": f"redis://{kv.id}:6379"}
    assert sorted(data.inputs["serviceIds"]) == sorted([web.id, ai.id])
    assert env(model) == {"ANTHROPIC_API_KEY": "sk-ant-test-stand-in"}
    assert model.inputs["serviceIds"] == [ai.id]     # the model key stays off the web


def test_web_finds_the_ai_service_by_its_internal_host(run):
    ai = run.one("render:services:PrivateService")
    assert env(run.one("render:services:WebService", "web")) == {"AI_SERVICE_HOST": ai.state["slug"]}

"""Render resources: the seed's deployment architecture, from the stack config."""
from __future__ import annotations

import json

import pytest

from tests.pulumi_harness import ROOT, is_secret, run_main, stack_config


@pytest.fixture(scope="module")
def run():
    return run_main()


ENV = "render:services:EnvVarsForService"


def env(run, service) -> dict:
    """The env vars the stack gives `service`: its one EnvVarsForService list."""
    (found,) = [r for r in run.of_type(ENV) if r.inputs["serviceId"] == service.id]
    return {e["key"]: e["value"] for e in found.inputs["envVars"]}


def group_env(group) -> dict:
    return {e["key"]: e["value"] for e in group.inputs["envVars"]}


def test_web_service(run):
    web = run.one("render:services:WebService", "web").inputs
    assert web["name"] == "legal-platform-web"
    d = web["serviceDetails"]
    assert (d["plan"], d["numInstances"], d["region"]) == ("standard", 2, "oregon")
    assert d["healthCheckPath"] == "/health"
    assert (d["runtime"], d["env"]) == ("docker", "docker")
    assert web["autoDeploy"] == "no"          # seed: production deploys need approval
    assert "envVars" not in web               # the service PATCH cannot change them


def test_web_autoscaling_is_its_own_resource(run):
    """PUT /services/{id}/autoscaling: the service PATCH does not carry autoscaling."""
    web = run.one("render:services:WebService", "web")
    scaling = run.one("render:services:AutoscaleService").inputs
    assert scaling == {
        "serviceId": web.id, "enabled": True, "min": 2, "max": 10,
        "criteria": {"cpu": {"enabled": True, "percentage": 70},
                     "memory": {"enabled": True, "percentage": 80}},
    }
    assert "autoscaling" not in web.inputs["serviceDetails"]


def test_ai_service_is_private_and_carries_the_kill_switch(run):
    ai = run.one("render:services:PrivateService")
    assert ai.inputs["name"] == "legal-platform-ai-service"
    d = ai.inputs["serviceDetails"]
    assert (d["plan"], d["numInstances"], d["region"]) == ("standard", 1, "oregon")
    assert "healthCheckPath" not in d
    assert "envVars" not in ai.inputs
    assert env(run, ai) == {"ANTHROPIC_SKILLS_ENABLED": "true",
                            "ANTHROPIC_SKILLS_BETA_VERSION": "skills-2025-10-02",
                            "ANTHROPIC_API_KEY": "sk-ant-test-stand-in"}
    # the list holds the model key, so it is secret as a whole; the switch is readable in
    # the stack output instead
    (ai_env,) = [r for r in run.of_type(ENV) if r.inputs["serviceId"] == ai.id]
    assert is_secret(ai_env.raw_inputs["envVars"])
    assert run.outputs["skillsEnabled"] is True


def test_kill_switch_comes_from_config():
    config, secrets = stack_config()
    ai = json.loads(config["skills-rollout:aiService"])
    config["skills-rollout:aiService"] = json.dumps({**ai, "skillsEnabled": False})
    run = run_main(config, secrets)
    assert env(run, run.one("render:services:PrivateService"))["ANTHROPIC_SKILLS_ENABLED"] == "false"
    assert run.outputs["skillsEnabled"] is False


def test_postgres_and_key_value(run):
    pg = run.one("render:postgres:Postgres").inputs
    assert (pg["version"], pg["plan"], pg["region"], pg["diskSizeGB"]) == \
        ("16", "standard", "oregon", 25)
    assert (pg["databaseName"], pg["databaseUser"]) == ("legal_platform", "legal_platform_user")
    assert pg["ipAllowList"] == [{"cidrBlock": "0.0.0.0/0", "description": "skills-rollout stack config"}]
    assert pg["readReplicas"] == []
    kv = run.one("render:key-value:KeyValue").inputs
    assert (kv["plan"], kv["region"], kv["maxmemoryPolicy"]) == ("starter", "oregon", "allkeys_lru")
    assert kv["ipAllowList"] == []            # the cache is reached from inside Render only
    owners = {r.inputs["ownerId"] for r in run.custom if "ownerId" in r.inputs}
    assert owners == {"tea-example0workspace0id"}


def test_the_database_is_protected(run):
    """A planned replacement of the database stops `pulumi up` instead of running."""
    protected = sorted(r.name for r in run.custom if r.opts.get("protect"))
    assert protected == ["postgres"]


def test_connection_strings_reach_both_services_through_a_secret_env_group(run):
    (data,) = run.of_type("render:env-groups:EnvGroup")
    web = run.one("render:services:WebService", "web")
    ai = run.one("render:services:PrivateService")
    assert data.inputs["name"] == "legal-platform-data"
    assert is_secret(data.raw_inputs["envVars"])
    pg = run.one("render:postgres:Postgres")
    kv = run.one("render:key-value:KeyValue")
    assert group_env(data) == {"DATABASE_URL": f"postgresql://u:p@{pg.id}/db",
                               "REDIS_URL": f"redis://{kv.id}:6379"}
    assert sorted(data.inputs["serviceIds"]) == sorted([web.id, ai.id])
    assert data.inputs["secretFiles"] == []


def test_the_model_key_reaches_the_ai_service_only(run):
    web = run.one("render:services:WebService", "web")
    assert "ANTHROPIC_API_KEY" not in env(run, web)
    assert not any("ANTHROPIC_API_KEY" in group_env(g)
                   for g in run.of_type("render:env-groups:EnvGroup"))


def test_web_finds_the_ai_service_by_its_internal_host(run):
    ai = run.one("render:services:PrivateService")
    assert env(run, run.one("render:services:WebService", "web")) == {"AI_SERVICE_HOST": ai.state["slug"]}


def test_no_single_env_var_resources():
    """render:services:EnvVar and env-groups:EnvGroupEnvVar have a oneOf update body: the
    provider replaces them on every change, and create-before-delete then deletes the
    variable it just wrote."""
    table = json.loads((ROOT / "tests/data/render_update_in_place.json").read_text())["resources"]
    assert table["render:services:EnvVar"]["one_of_update"] is True
    assert table["render:env-groups:EnvGroupEnvVar"]["one_of_update"] is True
    run = run_main()
    assert not run.of_type("render:services:EnvVar")
    assert not run.of_type("render:env-groups:EnvGroupEnvVar")

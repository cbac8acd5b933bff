"""Which resources a `pulumi up` would replace, for the changes operators make.

The program runs under mocks twice (tests/pulumi_harness.py), once with the real stack
config and once with one change; tests/pulumi_plan.py diffs the two by resource and
classifies each difference with the providers' own update semantics (the Render API's
update bodies from the provider's OpenAPI document, New Relic's ForceNew inputs). A flip
of the kill switch or a rotated secret must replace nothing.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pulumi_render.env_groups as renv
import pulumi_render.services as rsvc
import pytest

from tests.pulumi_harness import PROJECT, ROOT, run_main, run_program, stack_config
from tests.pulumi_plan import (DATA, REPLACE, UPDATE, known, of_kind, plan, replaced)

P = PROJECT
OPENAPI = ROOT.parent / "shared" / "reference" / "render-provider-openapi.yml"
CONDITION = "newrelic:index/nrqlAlertCondition:NrqlAlertCondition"


@pytest.fixture(scope="module")
def base():
    return run_main()


def with_config(edits: dict, secrets_too: dict | None = None):
    """The real stack config with `edits` ({"aiService.skillsEnabled": False, ...}) applied;
    `secrets_too` replaces secret stand-ins by key."""
    config, secrets = stack_config()
    for path, value in edits.items():
        top, _, rest = path.partition(".")
        key = f"{P}:{top}" if ":" not in top else top
        if not rest:
            config[key] = value
            continue
        data = json.loads(config[key])
        node = data
        *parents, leaf = rest.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
        config[key] = json.dumps(data)
    for key, value in (secrets_too or {}).items():
        config[key] = value
    return run_main(config, secrets)


def names(keys) -> set:
    return {name for _, name in keys}


def test_every_resource_type_has_recorded_update_semantics(base):
    unknown = sorted({r.typ for r in base.custom if not known(r.typ)})
    assert unknown == [], "add the type to tests/data (Render: the generator; New Relic: ForceNew)"


def test_nothing_changes_when_nothing_changes(base):
    assert plan(base, run_main()) == {}


# -- the changes that must replace nothing -----------------------------------------------------

def test_kill_switch_flip_updates_one_env_list_and_replaces_nothing(base):
    """Rollback method 2: `aiService.skillsEnabled: false`. One in-place PUT of the
    ai-service's env vars (the provider then deploys the service); nothing else moves."""
    changes = plan(base, with_config({"aiService.skillsEnabled": False}))
    assert replaced(changes) == set()
    assert changes == {("render:services:EnvVarsForService", "ai-service-env"):
                       changes[("render:services:EnvVarsForService", "ai-service-env")]}
    (change,) = changes.values()
    assert (change.kind, change.inputs) == (UPDATE, ("envVars",))


@pytest.mark.parametrize("key, value, updated", [
    (f"{P}:anthropicApiKey", "sk-ant-rotated", {"ai-service-env"}),
    # the guard service pages through the same integration key
    (f"{P}:pagerdutyServiceKey", "pd-rotated-key", {"pagerduty", "guard-env"}),
    # the always-on guard's own secrets: its env list, and the webhook destination's token
    (f"{P}:guardHookToken", "h" * 40, {"guard-env", "guard-webhook"}),
    (f"{P}:guardNewRelicQueryKey", "NRAK-ROTATED", {"guard-env"}),
    (f"{P}:guardSlackWebhookUrl", "https://hooks.slack.com/services/T/B/rotated", {"guard-env"}),
    (f"{P}:guardGithubToken", "ghp_rotated", {"guard-env"}),
    # the status page's password: the same list, one PUT
    (f"{P}:guardPageToken", "p" * 40, {"guard-env"}),
], ids=["anthropicApiKey", "pagerdutyServiceKey", "guardHookToken", "guardNewRelicQueryKey",
        "guardSlackWebhookUrl", "guardGithubToken", "guardPageToken"])
def test_rotating_a_secret_replaces_nothing(base, key, value, updated):
    changes = plan(base, with_config({}, {key: value}))
    assert replaced(changes) == set()
    assert names(of_kind(changes, UPDATE)) == updated


def test_a_new_runbook_base_url_updates_the_conditions_in_place(base):
    changes = plan(base, with_config({"runbookBaseUrl": "https://github.com/acme/ops/blob/main"}))
    assert replaced(changes) == set()
    conditions = {r.key for r in base.of_type(CONDITION)}
    assert set(changes) == conditions
    assert {c.inputs for c in changes.values()} == {("runbookUrl",)}


@pytest.mark.parametrize("edits, updated", [
    ({"web.autoscaling.max": 20, "web.autoscaling.cpuPercent": 60}, {"web-autoscaling"}),
    ({"web.autoscaling.min": 3, "web.instances": 3}, {"web-autoscaling"}),
    ({"web.plan": "pro"}, {"web"}),
    ({"aiService.plan": "pro"}, {"ai-service"}),
    ({"postgres.plan": "pro", "postgres.diskSizeGb": 50}, {"postgres"}),
    ({"keyValue.plan": "standard"}, {"key-value"}),
], ids=["autoscaling-targets", "autoscaling-min", "web-plan", "ai-plan", "postgres-size",
        "cache-plan"])
def test_scaling_changes_update_in_place_and_reach_render(base, edits, updated):
    changes = plan(base, with_config(edits))
    assert replaced(changes) == set()
    assert names(changes) == updated
    assert all(c.not_carried == () for c in changes.values()), changes


def test_ai_service_instance_count_is_an_update_render_does_not_receive(base):
    """Render's service PATCH has no serviceDetails.numInstances (the API scales through
    POST /services/{id}/scale): the preview shows an update that changes nothing at
    Render. docs/infrastructure.md says to scale in Render as well."""
    changes = plan(base, with_config({"aiService.instances": 2}))
    assert replaced(changes) == set()
    (change,) = changes.values()
    assert change.not_carried == ("serviceDetails.numInstances",)


def test_web_instances_are_the_autoscalers(base):
    """The web's count after creation belongs to the autoscaler (ignore_changes)."""
    web = base.one("render:services:WebService", "web")
    assert "serviceDetails.numInstances" in web.opts["ignore_changes"]


# -- what does replace: the classification is not vacuous ----------------------------------

def test_a_postgres_major_version_replaces_the_protected_database(base):
    changes = plan(base, with_config({"postgres.version": "17"}))
    # the new database's connection string renews the env group that carries it
    assert replaced(changes) == {("render:postgres:Postgres", "postgres"),
                                 ("render:env-groups:EnvGroup", "data-env")}
    # ...and `protect` makes `pulumi up` stop there instead of deleting the data
    assert base.one("render:postgres:Postgres").opts["protect"] is True


def test_a_replaced_service_renews_what_names_it():
    """The bug this stack had: env vars on the service itself. The service PATCH has no
    envVars, so a flip replaces the ai-service, and its new id reaches the env group that
    links it."""
    def program(enabled: str):
        def build():
            ai = rsvc.PrivateService("ai", owner_id="tea-x", name="ai",
                                     env_vars=[{"key": "ANTHROPIC_SKILLS_ENABLED", "value": enabled}],
                                     service_details={"runtime": "docker"})
            renv.EnvGroup("secrets", owner_id="tea-x", name="secrets", service_ids=[ai.id],
                          env_vars=[{"key": "K", "value": "v"}])
        return build

    changes = plan(run_program(program("true")), run_program(program("false")))
    assert changes[("render:services:PrivateService", "ai")].kind == REPLACE
    assert changes[("render:services:PrivateService", "ai")].why == ("envVars",)
    assert changes[("render:env-groups:EnvGroup", "secrets")].kind == REPLACE


# -- the test data ----------------------------------------------------------------------------

def test_update_table_is_what_the_generator_derives():
    if not OPENAPI.exists():
        pytest.skip(f"the provider's OpenAPI document is not at {OPENAPI}")
    out = subprocess.run([sys.executable, str(DATA / "render_update_in_place.py"), str(OPENAPI)],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == json.loads((DATA / "render_update_in_place.json").read_text())


def test_the_update_table_says_what_the_issue_found():
    table = json.loads((DATA / "render_update_in_place.json").read_text())["resources"]
    for service in ("render:services:WebService", "render:services:PrivateService"):
        assert "envVars" not in table[service]["update_body"]
        assert "serviceDetails" in table[service]["update_body"]
        assert "serviceDetails.env" in table[service]["always_returned"]
    assert table["render:env-groups:EnvGroup"]["update_body"] == ["name"]
    assert table["render:services:EnvVarsForService"]["update_body"] == ["envVars"]
    assert table["render:postgres:Postgres"]["generated"] == ["databaseName", "databaseUser"]

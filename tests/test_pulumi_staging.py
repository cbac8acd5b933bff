"""The `staging` stack: the same program with the real Pulumi.staging.yaml, under mocks like
prod. Smaller plans, no autoscaling, names of its own, nothing of prod's named anywhere in
it, and prod's names exactly as they were (a renamed prod resource is a changed one)."""
from __future__ import annotations

import json

import pulumi
import pytest

from infra.names import Names, names_for
from rollout.core.catalog import load_catalog
from tests.pulumi_harness import run_main, stack_config, stack_file
from tests.pulumi_plan import refresh
from tests.trees import texts

P = "skills-rollout"
WEB = ("render:services:WebService", "web")

# What prod's resources are called: these names are what Render, New Relic, the runbooks
# and the catalog's queries know them by. Never change a row here to make a test pass.
PROD_NAMES = {
    ("render:postgres:Postgres", "postgres"): "legal-platform-db",
    ("render:key-value:KeyValue", "key-value"): "legal-platform-cache",
    ("render:services:PrivateService", "ai-service"): "legal-platform-ai-service",
    ("render:services:WebService", "web"): "legal-platform-web",
    ("render:env-groups:EnvGroup", "data-env"): "legal-platform-data",
    ("newrelic:synthetics/monitor:Monitor", "health"): "legal-platform-web /health",
    ("newrelic:index/alertPolicy:AlertPolicy", "policy"): "Skills rollout (prod)",
    ("newrelic:index/oneDashboard:OneDashboard", "skills-rollout"): "Skills rollout (prod)",
    ("newrelic:index/notificationDestination:NotificationDestination", "pagerduty"):
        "Skills rollout (prod) PagerDuty",
    ("newrelic:index/notificationDestination:NotificationDestination", "email"):
        "Skills rollout (prod) e-mail",
    ("newrelic:index/workflow:Workflow", "workflow-pagerduty"): "Skills rollout (prod) -> pagerduty",
    ("newrelic:index/nrqlAlertCondition:NrqlAlertCondition", "condition-high-skill-error-rate"):
        "High Skill Error Rate [SEV1]",
    ("newrelic:index/nrqlAlertCondition:NrqlAlertCondition", "condition-skills-service-down"):
        "Skills Service Down [SEV1]",
}
# Names other systems look things up by: a staging input must not even contain them.
IDENTIFYING = ("render:", "newrelic:synthetics/", "newrelic:index/alertPolicy",
               "newrelic:index/oneDashboard")


@pytest.fixture(scope="module")
def prod():
    return run_main()


@pytest.fixture(scope="module")
def staging():
    return run_main(stack="staging")


def names(run) -> dict:
    return {r.key: r.inputs["name"] for r in run.custom if isinstance(r.inputs.get("name"), str)}


def test_prod_keeps_its_names(prod):
    got = names(prod)
    assert {k: got.get(k) for k in PROD_NAMES} == PROD_NAMES


def test_staging_has_the_same_resources_under_names_of_its_own(prod, staging):
    ours, theirs = names(staging), names(prod)
    # the same program, less the autoscaler
    assert set(ours) == set(theirs)
    assert {r.key for r in prod.custom} - {r.key for r in staging.custom} == {
        ("render:services:AutoscaleService", "web-autoscaling")}
    assert not set(ours.values()) & set(theirs.values())
    assert ours[WEB] == "legal-platform-staging-web"
    assert ours[("newrelic:index/alertPolicy:AlertPolicy", "policy")] == "Skills rollout (staging)"


def test_a_staging_preview_never_names_a_prod_resource(prod, staging):
    identifying = {n for k, n in names(prod).items() if k[0].startswith(IDENTIFYING)}
    assert "legal-platform-ai-service" in identifying and "legal-platform-web /health" in identifying
    for r in staging.custom:
        for text in texts(r.inputs):
            hit = [n for n in identifying if n in text]
            assert not hit, f"{r.key} names prod's {hit[0]!r}: {text!r}"
    # nor does a lookup it makes, nor what it exports
    assert not any(n in json.dumps(args) for _, args in staging.calls for n in identifying)
    assert not any(n in str(v) for v in staging.outputs.values() for n in identifying)


def test_staging_watches_its_own_services(staging):
    queries = [r.inputs["nrql"]["query"] for r in staging.of_type(
        "newrelic:index/nrqlAlertCondition:NrqlAlertCondition")]
    assert any("monitorName = 'legal-platform-staging-web /health'" in q for q in queries)
    assert any("LIKE '%legal-platform-staging-ai-service%'" in q for q in queries)
    monitor = staging.one("newrelic:synthetics/monitor:Monitor")
    assert monitor.inputs["name"] == "legal-platform-staging-web /health"
    assert monitor.inputs["uri"] == "https://legal-platform-staging-web.onrender.com/health"
    conditions = {r.inputs["name"] for r in staging.of_type(
        "newrelic:index/nrqlAlertCondition:NrqlAlertCondition")}
    assert "High Skill Error Rate [SEV1] (staging)" in conditions


def test_smaller_plans_and_no_autoscaling(staging):
    web = staging.one(*WEB)
    assert web.inputs["serviceDetails"]["plan"] == "starter"
    assert web.inputs["serviceDetails"]["numInstances"] == 1
    # without an autoscaler the instance count is the stack's: a change of it is applied
    assert web.opts["ignore_changes"] == ["serviceDetails.autoscaling"]
    assert staging.one("render:services:PrivateService").inputs["serviceDetails"]["plan"] == "starter"
    pg = staging.one("render:postgres:Postgres")
    assert (pg.inputs["plan"], pg.inputs["diskSizeGB"]) == ("basic_256mb", 5)
    assert pg.opts["protect"] is False               # `pulumi destroy -s staging` may delete it
    assert staging.one("render:key-value:KeyValue").inputs["plan"] == "free"


def test_prod_still_autoscales_and_protects_its_database(prod):
    assert prod.one(*WEB).opts["ignore_changes"] == ["serviceDetails.numInstances",
                                                     "serviceDetails.autoscaling"]
    assert prod.one("render:services:AutoscaleService").inputs["min"] == 2
    assert prod.one("render:postgres:Postgres").opts["protect"] is True


def test_a_refresh_of_untouched_staging_plans_nothing(staging):
    assert refresh(staging) == {}


def test_staging_uses_its_own_new_relic_account():
    assert stack_config(stack_file("staging"))[0]["newrelic:accountId"] != \
        stack_config()[0]["newrelic:accountId"]


def staging_config(**changes):
    config, secrets = stack_config(stack_file("staging"))
    for top, (path, value) in changes.items():
        data = json.loads(config[f"{P}:{top}"])
        data[path] = value
        config[f"{P}:{top}"] = json.dumps(data)
    return config, secrets


@pytest.mark.parametrize("changes, message", [
    ({"postgres": ("protect", "maybe")}, "config skills-rollout:postgres.protect: expected true or false"),
    ({"web": ("autoscaling", {"min": 1})}, "config skills-rollout:web.autoscaling.max: missing"),
])
def test_bad_staging_values_are_one_line(changes, message):
    with pytest.raises(pulumi.RunError) as exc:
        run_main(*staging_config(**changes), stack="staging")
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


@pytest.mark.parametrize("stack", ["Staging", "qa_1", "a" * 21])
def test_a_stack_name_that_cannot_name_a_render_service(stack):
    with pytest.raises(pulumi.RunError, match="lower case letters, digits and -"):
        names_for(stack)


def test_the_catalog_is_rewritten_only_outside_prod():
    catalog = load_catalog()
    assert Names("prod").catalog(catalog) is catalog
    qa = Names("qa").catalog(catalog)
    assert qa.metrics["service_health"].nrql_override.endswith(
        "monitorName = 'legal-platform-qa-web /health'")
    assert qa.metrics["skill_error_rate"] == catalog.metrics["skill_error_rate"]

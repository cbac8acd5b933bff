"""The always-on guard in the stack: `rollout serve` as a Render web service, and New
Relic's webhook destination, channel and workflow that wake it on rollback-class alerts."""
from __future__ import annotations

import json
import re

import pytest

from alerts.newrelic import condition_name
from alerts.webhook import PAYLOAD, rollback_alerts
from rollout.core.catalog import load_catalog
from rollout.serve.hook import ALL, describe, requested_flags
from tests.pulumi_harness import PROJECT, is_secret, run_main, stack_config
from tests.test_pulumi_config import changed, failure

NR = "newrelic:index/"
WEB = "render:services:WebService"
TOKEN = "hook-token-test-stand-in-0123456789abcdef"


@pytest.fixture(scope="module")
def run():
    return run_main()


@pytest.fixture(scope="module")
def guard_config():
    config, _ = stack_config()
    return json.loads(config[f"{PROJECT}:guard"])


def test_the_guard_service_runs_rollout_serve_from_this_repository(run, guard_config):
    guard = run.one(WEB, "guard").inputs
    assert guard["name"] == "rollout-guard-prod"                     # named from the stack
    assert (guard["repo"], guard["branch"]) == (guard_config["repo"], "main")
    assert guard["autoDeploy"] == "yes"               # each merged phase change reaches it
    d = guard["serviceDetails"]
    assert (d["runtime"], d["plan"], d["region"], d["numInstances"]) == (
        "python", "starter", "oregon", 2)
    assert d["healthCheckPath"] == "/healthz" and d["maxShutdownDelaySeconds"] == 60
    assert d["preDeployCommand"] == 'rollout store init --store "$ROLLOUT_STORE"'
    start = d["envSpecificDetails"]["startCommand"]
    assert start.startswith("rollout serve --host 0.0.0.0 --port $PORT --interval 60 "
                            "--lease-ttl 120 --store \"$ROLLOUT_STORE\" ")
    assert start.endswith("--metrics 'newrelic://1234567?region=us'")
    assert "git fetch --unshallow" in d["envSpecificDetails"]["buildCommand"]


def test_its_environment_is_one_list_changed_in_place(run):
    """Secrets included: an env group's variables cannot change in place (Render updates a
    group's name only), so a rotated token would replace the group."""
    guard = run.one(WEB, "guard")
    env = run.one("render:services:EnvVarsForService", "guard-env")
    assert env.inputs["serviceId"] == guard.id and is_secret(env.raw_inputs["envVars"])
    pg = run.one("render:postgres:Postgres")
    variables = {v["key"]: v["value"] for v in env.inputs["envVars"]}
    assert [v["key"] for v in env.inputs["envVars"]] == sorted(variables)
    assert variables == {
        "ROLLOUT_STORE": f"postgresql://u:p@{pg.id}/db",
        "ROLLOUT_HOOK_TOKEN": TOKEN, "NEW_RELIC_API_KEY": "NRAK-QUERYSTANDIN",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/standin",
        "PAGERDUTY_ROUTING_KEY": "pd-test-integration-key",
        "GITHUB_TOKEN": "github_pat_test_stand_in",
        "ROLLOUT_PAGE_TOKEN": "page-token-test-stand-in-0123456789abcdef",
        "PYTHON_VERSION": "3.11.9", "GITHUB_REPOSITORY": "example-org/skills-rollout",
        "FORWARDED_ALLOW_IPS": "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
        "ROLLOUT_ACTOR": "rollout-guard-prod"}
    # the guard reads no other service's environment group, nor they its variables
    assert all(guard.id not in g.inputs["serviceIds"]
               for g in run.of_type("render:env-groups:EnvGroup"))


def test_the_webhook_destination_points_at_the_guard_with_a_bearer_token(run):
    guard = run.one(WEB, "guard")
    dest = run.one(f"{NR}notificationDestination:NotificationDestination", "guard-webhook")
    assert dest.inputs["type"] == "WEBHOOK"
    assert dest.inputs["properties"] == [
        {"key": "url", "value": guard.state["serviceDetails"]["url"] + "/hooks/newrelic"}]
    assert is_secret(dest.raw_inputs["authToken"])
    assert dest.inputs["authToken"] == {"prefix": "Bearer", "token": TOKEN}
    channel = run.one(f"{NR}notificationChannel:NotificationChannel", "guard-webhook")
    assert (channel.inputs["type"], channel.inputs["product"], channel.inputs["destinationId"]) \
        == ("WEBHOOK", "IINT", dest.id)
    assert channel.inputs["properties"] == [
        {"key": "payload", "value": PAYLOAD, "label": "Payload Template"}]


def render(template: str, values: dict) -> str:
    """New Relic's `{{ json path }}` helper, for the paths the template uses."""
    return re.sub(r"\{\{\s*json\s+([\w.]+)\s*\}\}", lambda m: json.dumps(values[m[1]]), template)


def test_the_payload_template_renders_to_what_the_hook_accepts():
    issue = {"issueId": "0ea2df1c-7f3b", "state": "ACTIVATED", "priority": "CRITICAL",
             "issueTitle": 'High Skill Error Rate [SEV1] "canary"',
             "accumulations.conditionName": ["High Skill Error Rate [SEV1]"],
             "issuePageUrl": "https://radar-api.service.newrelic.com/accounts/1/issues/0ea2"}
    body = render(PAYLOAD, issue).encode()
    flags, payload = requested_flags(body, {"skills_rollout"})
    assert flags == ALL                        # every live flag is evaluated
    assert payload["conditions"] == ["High Skill Error Rate [SEV1]"]
    assert describe(payload) == ('issueId=0ea2df1c-7f3b state=ACTIVATED priority=CRITICAL '
                                 'title=High Skill Error Rate [SEV1] "canary"')


def test_the_workflow_sends_exactly_the_rollback_class_alerts(run):
    policy = run.one(f"{NR}alertPolicy:AlertPolicy")
    channel = run.one(f"{NR}notificationChannel:NotificationChannel", "guard-webhook")
    wf = run.one(f"{NR}workflow:Workflow", "workflow-guard").inputs
    preds = {p["attribute"]: p for p in wf["issuesFilter"]["predicates"]}
    assert preds["labels.policyIds"]["values"] == [policy.id]
    names = preds["accumulations.conditionName"]["values"]
    catalog = load_catalog()
    wanted = [condition_name(a) for a in rollback_alerts(catalog)]
    assert names == wanted and sorted(names) == [
        "High Skill Error Rate [SEV1]", "Memory Usage Critical [SEV2]",
        "Skills Response Time Critical [SEV2]", "Skills Service Down [SEV1]"]
    # the alerts whose number rolls back, and no other (warnings do not wake the guard)
    for metric, alert in catalog.alerts():
        routed = any(condition_name(alert) in n or n in condition_name(alert) for n in names)
        assert routed == (alert.when == metric.thresholds.get("rollback")), alert.name
    assert wf["destinations"] == [{"channelId": channel.id, "notificationTriggers": ["ACTIVATED"]}]
    assert wf["mutingRulesHandling"] == "NOTIFY_ALL_ISSUES"


def test_the_stack_exports_the_guard_url(run):
    assert run.outputs["guardUrl"] == "https://rollout-guard-prod.onrender.com"


@pytest.mark.parametrize("key, value, words", [
    (f"{PROJECT}:guard.repo", "https://gitlab.com/acme/ops", "guard.repo: expected this repository"),
    (f"{PROJECT}:guard.instances", 0, "guard.instances: expected a whole number from 1 to 10"),
    (f"{PROJECT}:guard.leaseTtl", 60, "guard.leaseTtl: expected a whole number from 61"),
    (f"{PROJECT}:guard.plan", "huge", "guard.plan: expected one of"),
])
def test_bad_guard_settings_are_one_line(key, value, words):
    assert words in failure(*changed(key, value))


def test_a_short_hook_token_is_refused_without_printing_it():
    config, secrets = changed(f"{PROJECT}:guardHookToken", "too-short")
    msg = failure(config, secrets + [f"{PROJECT}:guardHookToken"])
    assert "guardHookToken: expected at least 32 characters" in msg and "too-short" not in msg


@pytest.mark.parametrize("value, words", [
    ("too-short", "guardPageToken: expected at least 32 characters"),
    (TOKEN, "guardPageToken: must differ from guardHookToken"),
])
def test_a_bad_page_token_is_refused_without_printing_it(value, words):
    config, secrets = changed(f"{PROJECT}:guardPageToken", value)
    msg = failure(config, secrets + [f"{PROJECT}:guardPageToken"])
    assert words in msg and value not in msg


def test_a_missing_guard_secret_names_the_command():
    msg = failure(*changed(f"{PROJECT}:guardGithubToken"))
    assert "pulumi config set --secret guardGithubToken" in msg
    msg = failure(*changed(f"{PROJECT}:guardPageToken"))
    assert "pulumi config set --secret guardPageToken" in msg

"""A missing or invalid stack config value stops the program with one line that names the
key and the command that sets it."""
from __future__ import annotations

import json

import pulumi
import pytest

from tests.pulumi_harness import DELETE, run_main, set_path, stack_config

P = "skills-rollout"


def changed(key: str, value=DELETE, plain: bool = False):
    """The real stack config with one (possibly nested, dotted) value changed or removed."""
    config, secrets = stack_config()
    top, _, path = key.partition(".")
    if path:
        data = json.loads(config[top])
        set_path(data, path, value)
        config[top] = json.dumps(data)
    elif value is DELETE:
        del config[top]
    else:
        config[top] = value
    if plain or value is DELETE:
        secrets = [s for s in secrets if s != top]
    return config, secrets


def failure(config, secrets) -> str:
    with pytest.raises(pulumi.RunError) as exc:
        run_main(config, secrets)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


INVALID = [
    # key, bad value, expected in message
    (f"{P}:region", "mars", "pulumi config set region oregon"),
    (f"{P}:ownerId", "someone", "pulumi config set ownerId tea-"),
    (f"{P}:web.autoscaling.max", 1, "pulumi config set --path web.autoscaling.max 10"),
    # Render accepts autoscaling targets from 1 to 90 %
    (f"{P}:web.autoscaling.cpuPercent", 95, "web.autoscaling.cpuPercent: expected a whole number from 1 to 90"),
    (f"{P}:web.autoscaling.memoryPercent", 0, "web.autoscaling.memoryPercent: expected a whole number from 1 to 90"),
    (f"{P}:web.instances", 11, "web.instances: expected a number within autoscaling min..max"),
    (f"{P}:web.plan", "huge", "web.plan: expected one of starter, standard"),
    (f"{P}:aiService.skillsEnabled", "maybe", "pulumi config set --path aiService.skillsEnabled true"),
    (f"{P}:postgres.plan", "free", "postgres.plan: expected one of"),
    (f"{P}:postgres.version", "9", "pulumi config set --path postgres.version 16"),
    (f"{P}:keyValue.maxmemoryPolicy", "yolo", "keyValue.maxmemoryPolicy: expected one of"),
    (f"{P}:postgres.databaseName", "Legal-Platform", "postgres.databaseName: expected a PostgreSQL name"),
    (f"{P}:postgres.databaseUser", "", "pulumi config set --path postgres.databaseUser legal_platform_user"),
    (f"{P}:postgres.ipAllowList", ["0.0.0.0/0", "everywhere"], "postgres.ipAllowList: expected a list of CIDR blocks"),
    (f"{P}:keyValue.ipAllowList", "10.0.0.1/8", "pulumi config set --path keyValue.ipAllowList 203.0.113.7/32"),
    (f"{P}:notify.emailAddresses", ["not-an-address"], "notify.emailAddresses: expected a list of e-mail addresses"),
    (f"{P}:notify", "plain text", "config skills-rollout:notify: expected a mapping with key"),
    (f"{P}:notify.slackChannelId", "#alerts", "notify.slackChannelId: expected a Slack channel id"),
    (f"{P}:runbookBaseUrl", "http://wiki/runbooks", "pulumi config set runbookBaseUrl https://"),
    ("newrelic:accountId", "acme", "pulumi config set newrelic:accountId 1234567"),
    ("newrelic:region", "APAC", "pulumi config set newrelic:region US"),
]


@pytest.mark.parametrize("key, value, expected", INVALID, ids=[k for k, _, _ in INVALID])
def test_invalid_value_names_key_and_command(key, value, expected):
    msg = failure(*changed(key, value))
    assert msg.startswith(f"config {key}: ")
    assert expected in msg


MISSING = [
    (f"{P}:web.autoscaling.memoryPercent", "pulumi config set --path web.autoscaling.memoryPercent 80"),
    (f"{P}:aiService", "pulumi config set --path aiService.plan standard"),
    (f"{P}:runbookBaseUrl", "pulumi config set runbookBaseUrl https://"),
    (f"{P}:pagerdutyServiceKey", "pulumi config set --secret pagerdutyServiceKey"),
    (f"{P}:anthropicApiKey", "pulumi config set --secret anthropicApiKey"),
    ("newrelic:accountId", "pulumi config set newrelic:accountId"),
]


@pytest.mark.parametrize("key, expected", MISSING, ids=[k for k, _ in MISSING])
def test_missing_value_names_key_and_command(key, expected):
    msg = failure(*changed(key))
    assert ": missing" in msg
    assert expected in msg


def test_a_secret_stored_in_plain_text_is_refused():
    msg = failure(*changed(f"{P}:pagerdutyServiceKey", "plain-key", plain=True))
    assert msg == (f"config {P}:pagerdutyServiceKey: is stored in plain text; it must be a "
                   "secret; set it with: pulumi config set --secret pagerdutyServiceKey "
                   "(it prompts for the PagerDuty Events v2 integration key)")


@pytest.mark.parametrize("key, env", [("newrelic:apiKey", "NEW_RELIC_API_KEY"),
                                      ("render:apiKey", "RENDER_APIKEY")])
def test_provider_credential_from_config_or_environment(monkeypatch, key, env):
    monkeypatch.delenv(env, raising=False)
    msg = failure(*changed(key))
    assert f"pulumi config set --secret {key}" in msg and env in msg
    monkeypatch.setenv(env, "from-the-environment")      # how CI passes it
    run = run_main(*changed(key))
    assert run.outputs["alertPolicyId"]


def test_email_addresses_may_be_a_comma_separated_string():
    """What `pulumi config set --path notify.emailAddresses a@x,b@y` stores."""
    run = run_main(*changed(f"{P}:notify.emailAddresses", "a@example.com, b@example.com"))
    (email,) = [d for d in run.of_type("newrelic:index/notificationDestination:NotificationDestination")
                if d.inputs["type"] == "EMAIL"]
    assert email.inputs["properties"] == [{"key": "email", "value": "a@example.com,b@example.com"}]


def test_database_name_and_user_default_to_explicit_names():
    """Never pulumi-render's placeholder "randomly generated", which Render replaces."""
    config, secrets = changed(f"{P}:postgres.databaseName")
    data = json.loads(config[f"{P}:postgres"])
    data.pop("databaseUser", None)
    config[f"{P}:postgres"] = json.dumps(data)
    pg = run_main(config, secrets).one("render:postgres:Postgres").inputs
    assert (pg["databaseName"], pg["databaseUser"]) == ("legal_platform", "legal_platform_user")


@pytest.mark.parametrize("key, value, expected", [
    (f"{P}:postgres.ipAllowList", [], []),                       # internal connections only
    (f"{P}:postgres.ipAllowList", "203.0.113.0/24, 198.51.100.7/32",
     ["203.0.113.0/24", "198.51.100.7/32"]),                     # what `config set --path` stores
    (f"{P}:keyValue.ipAllowList", ["203.0.113.7/32"], ["203.0.113.7/32"]),
])
def test_ip_allow_lists_come_from_config(key, value, expected):
    run = run_main(*changed(key, value))
    typ = "render:postgres:Postgres" if "postgres" in key else "render:key-value:KeyValue"
    assert [e["cidrBlock"] for e in run.one(typ).inputs["ipAllowList"]] == expected

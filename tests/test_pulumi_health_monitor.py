"""The synthetic /health check that the Skills Service Down condition counts."""
from __future__ import annotations

import copy
import json
import re

import pulumi
import pytest

from alerts.synthetics import HealthMonitor
from infra.render import WEB_NAME
from infra.settings import load_settings
from rollout.core.catalog import DEFAULT_PATH, build_catalog
from rollout.yamlfile import load_yaml
from tests.pulumi_harness import PROJECT, run_main, run_program, stack_config

MONITOR = "newrelic:synthetics/monitor:Monitor"
CONDITION = "newrelic:index/nrqlAlertCondition:NrqlAlertCondition"
LOCATIONS = f"{PROJECT}:healthMonitor"


@pytest.fixture(scope="module")
def run():
    return run_main()


def catalog_with(metrics_edit) -> object:
    """The real catalog with its metrics changed by `metrics_edit(metrics)`."""
    data = copy.deepcopy(load_yaml(DEFAULT_PATH))
    metrics_edit(data["metrics"])
    return build_catalog(data)


def monitor_of(catalog, uri="https://example.onrender.com/health"):
    return run_program(lambda: HealthMonitor("m", load_settings().newrelic, catalog, uri))


def test_monitor_checks_the_public_web_health_endpoint_every_minute(run):
    monitor = run.one(MONITOR).inputs
    web = run.one("render:services:WebService", "web")
    assert monitor["uri"] == web.state["serviceDetails"]["url"] + "/health"
    assert monitor["uri"] == "https://legal-platform-web.onrender.com/health"
    assert (monitor["type"], monitor["status"], monitor["period"]) == \
        ("SIMPLE", "ENABLED", "EVERY_MINUTE")
    # default public locations, by their NerdGraph names (no AWS_ prefix)
    assert monitor["locationsPublics"] == ["US_WEST_2", "US_EAST_1"]
    assert "locationsPrivates" not in monitor


def test_only_a_healthy_answer_counts(run):
    monitor = run.one(MONITOR).inputs
    assert monitor["treatRedirectAsFailure"] is True
    assert monitor["bypassHeadRequest"] is True          # GET, like the playbook's curl
    assert monitor["verifySsl"] is True
    # the playbook's expected body: {"status":"healthy","services":{"all":"healthy"}}
    assert monitor["validationString"] in '{"status":"healthy","services":{"all":"healthy"}}'


def test_monitor_has_the_name_the_paging_condition_counts(run):
    name = run.one(MONITOR).inputs["name"]
    (down,) = [c.inputs for c in run.of_type(CONDITION)
               if c.inputs["name"] == "Skills Service Down [SEV1]"]
    query = down["nrql"]["query"]
    assert re.search(r"\bFROM SyntheticCheck\b", query)
    assert re.findall(r"monitorName = '([^']*)'", query) == [name]
    # and the name says what it checks: the web service's /health
    assert name == f"{WEB_NAME} /health"


def test_renaming_the_monitor_in_the_catalog_renames_the_monitor():
    def rename(metrics):
        m = metrics["service_health"]
        m["nrql"] = m["nrql"].replace("'legal-platform-web /health'", "'web health v2'")
        assert "'web health v2'" in m["nrql"]

    run = monitor_of(catalog_with(rename))
    assert run.one(MONITOR).inputs["name"] == "web health v2"


def _no_monitor(metrics):
    metrics["service_health"]["nrql"] = "SELECT count(*) FROM Transaction WHERE name = '/health'"


def _two_monitors(metrics):
    extra = copy.deepcopy(metrics["service_health"])
    extra["nrql"] = extra["nrql"].replace("legal-platform-web /health", "other /health")
    extra["alerts"] = []
    metrics["other_health"] = extra


@pytest.mark.parametrize("edit, found", [(_no_monitor, "found none"),
                                         (_two_monitors, "found 'legal-platform-web /health', "
                                                         "'other /health'")],
                         ids=["none", "two"])
def test_catalog_must_name_exactly_one_monitor(edit, found):
    with pytest.raises(pulumi.RunError) as exc:
        monitor_of(catalog_with(edit))
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("catalog: expected exactly one metric query naming a synthetic monitor")
    assert msg.endswith(found)


@pytest.mark.parametrize("value, expected", [
    ({"locations": ["EU_WEST_1"]}, ["EU_WEST_1"]),
    # what `pulumi config set --path healthMonitor.locations EU_WEST_1,AP_SOUTH_1` stores
    ({"locations": "EU_WEST_1, AP_SOUTH_1"}, ["EU_WEST_1", "AP_SOUTH_1"]),
    ({}, ["US_WEST_2", "US_EAST_1"]),
])
def test_locations_come_from_the_stack_config(value, expected):
    config, secrets = stack_config()
    config[LOCATIONS] = json.dumps(value)
    assert run_main(config, secrets).one(MONITOR).inputs["locationsPublics"] == expected


@pytest.mark.parametrize("locations", [["AWS_US_WEST_2"], [], ["us_west_2"], "US WEST 2"])
def test_invalid_locations_name_the_key_and_the_fix(locations):
    config, secrets = stack_config()
    config[LOCATIONS] = json.dumps({"locations": locations})
    with pytest.raises(pulumi.RunError) as exc:
        run_main(config, secrets)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(f"config {PROJECT}:healthMonitor.locations: expected a list of New "
                          "Relic public locations without the AWS_ prefix, like US_WEST_2")
    assert msg.endswith("set it with: pulumi config set --path healthMonitor.locations "
                        "US_WEST_2,US_EAST_1")

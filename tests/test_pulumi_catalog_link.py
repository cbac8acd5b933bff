"""One catalog, two readers: the New Relic condition and the rollout gate move together.

The gate reads a metric's thresholds (`Metric.thresholds_for(step)`, `Condition.met`); the
alerts component reads the metric's alerts. Both come from rollout/catalog.yaml, so a
changed number there changes the pager and the gate in the same commit.
"""
from __future__ import annotations

import copy

import pytest

from alerts.newrelic import Alerts
from infra.settings import load_settings
from rollout.core.catalog import DEFAULT_PATH, build_catalog, load_catalog
from rollout.yamlfile import load_yaml
from tests.pulumi_harness import run_program

CONDITION = "newrelic:index/nrqlAlertCondition:NrqlAlertCondition"

# Seed numbers that are both a rollback criterion of the gate (playbook 003, deployment
# architecture triggers) and a paging alert (story 2.14 Task 6).
ROLLBACK_ALERTS = [
    ("skill_error_rate", "High Skill Error Rate"),
    ("p95_response_time", "Skills Response Time Critical"),
    ("memory_usage", "Memory Usage Critical"),
]


def alert_conditions(catalog) -> dict:
    """name -> (operator, threshold) of the New Relic conditions built from `catalog`."""
    run = run_program(lambda: Alerts("alerts", load_settings().newrelic, catalog))
    return {c.inputs["name"].rsplit(" [", 1)[0]:
            (c.inputs["critical"]["operator"], c.inputs["critical"]["threshold"])
            for c in run.of_type(CONDITION)}


def with_rollback_number(metric: str, new: str):
    """The catalog data with `metric`'s rollback number changed to `new` in the one place
    the catalog states it: the alert says `when: rollback`."""
    data = copy.deepcopy(load_yaml(DEFAULT_PATH))
    m = data["metrics"][metric]
    assert any(a["when"] == "rollback" for a in m["alerts"])
    m["thresholds"]["rollback"] = new
    return data


@pytest.mark.parametrize("metric, alert_name", ROLLBACK_ALERTS)
def test_pager_and_gate_agree_in_the_shipped_catalog(metric, alert_name):
    m = load_catalog().metrics[metric]
    (alert,) = [a for a in m.alerts if a.name == alert_name]
    assert alert.when == m.thresholds["rollback"]


def test_changing_the_error_rate_threshold_moves_alert_and_gate():
    before = load_catalog()
    after = build_catalog(with_rollback_number("skill_error_rate", "> 4"), "modified catalog")

    # the pager
    assert alert_conditions(before)["High Skill Error Rate"] == ("above", 5)
    assert alert_conditions(after)["High Skill Error Rate"] == ("above", 4)

    # the gate: an error rate of 4.5 % no longer holds, it rolls back, at every step
    for step in ("canary", "beta", "full"):
        old = before.metrics["skill_error_rate"].thresholds_for(step)["rollback"]
        new = after.metrics["skill_error_rate"].thresholds_for(step)["rollback"]
        assert (old.met(4.5), new.met(4.5)) == (False, True)


def test_the_gate_itself_follows_the_changed_threshold():
    from rollout.core import gate
    from tests.judge_obs import steady_observations

    # a day of 4.5 % canary errors, as the metric sources report it (per-bucket tallies)
    seen = steady_observations(load_catalog(), {"skill_error_rate": 4.5},
                               {"skill_error_rate": 1.0}, hours=24, per_hour=(1000, 1000))

    def verdict(catalog):
        result = gate.evaluate(catalog, "canary", seen, soak=None)
        (check,) = [c for c in result.checks if c.name == "skill_error_rate"]
        return check.verdict

    after = build_catalog(with_rollback_number("skill_error_rate", "> 4"), "modified catalog")
    assert (verdict(load_catalog()), verdict(after)) == (gate.HOLD, gate.ROLLBACK)


def test_changing_one_alert_changes_only_its_condition():
    data = copy.deepcopy(load_yaml(DEFAULT_PATH))
    (spike,) = [a for a in data["metrics"]["hourly_ai_cost"]["alerts"]
                if a["name"] == "Cost Spike Detected"]
    spike["when"] = "> 25"
    before = alert_conditions(load_catalog())
    after = alert_conditions(build_catalog(data, "modified catalog"))
    assert after.pop("Cost Spike Detected") == ("above", 25)
    assert before.pop("Cost Spike Detected") == ("above", 10)
    assert after == before

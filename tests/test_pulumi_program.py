"""The whole Pulumi program (__main__.py) under mocks with the real Pulumi.prod.yaml."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from tests.pulumi_harness import PROJECT, ROOT, run_main

NR = "newrelic:index/"


@pytest.fixture(scope="module")
def run():
    return run_main()


def test_one_component_per_concern(run):
    components = Counter(r.typ for r in run.resources if r.typ.startswith(f"{PROJECT}:"))
    assert components == {f"{PROJECT}:infra:RenderServices": 1,
                          f"{PROJECT}:alerts:Alerts": 1,
                          f"{PROJECT}:alerts:HealthMonitor": 1,
                          f"{PROJECT}:dashboards:Dashboard": 1,
                          f"{PROJECT}:infra:GuardService": 1,
                          f"{PROJECT}:alerts:GuardWebhook": 1}


def test_resource_inventory(run):
    from rollout.core.catalog import load_catalog

    n_alerts = len(load_catalog().alerts())
    counts = Counter(r.typ for r in run.custom)
    assert counts == {
        "render:services:WebService": 2,                 # web, rollout-guard
        "render:services:PrivateService": 1,
        "render:services:AutoscaleService": 1,          # the web's autoscaling
        "render:services:EnvVarsForService": 3,         # one env list per service (web, ai, guard)
        "render:postgres:Postgres": 1,
        "render:key-value:KeyValue": 1,
        "render:env-groups:EnvGroup": 1,                # connection strings, both services
        f"{NR}alertPolicy:AlertPolicy": 1,
        f"{NR}nrqlAlertCondition:NrqlAlertCondition": n_alerts,
        f"{NR}notificationDestination:NotificationDestination": 3,   # PagerDuty, e-mail, guard
        f"{NR}notificationChannel:NotificationChannel": 4,
        f"{NR}workflow:Workflow": 4,
        f"{NR}oneDashboard:OneDashboard": 1,
        "newrelic:synthetics/monitor:Monitor": 1,        # the /health check
    }


def test_stack_outputs(run):
    dashboard = run.one(f"{NR}oneDashboard:OneDashboard")
    policy = run.one(f"{NR}alertPolicy:AlertPolicy")
    web = run.one("render:services:WebService", "web")
    ai = run.one("render:services:PrivateService")
    assert run.outputs == {
        "dashboardPermalink": dashboard.state["permalink"],
        "alertPolicyId": policy.id,
        "webUrl": web.state["serviceDetails"]["url"],
        "aiServiceUrl": ai.state["serviceDetails"]["url"],
        "skillsEnabled": True,
        "guardUrl": run.one("render:services:WebService", "guard").state["serviceDetails"]["url"],
    }


def test_the_slack_destination_is_looked_up_not_created(run):
    tokens = [token for token, _ in run.calls]
    assert tokens.count(f"{NR}getNotificationDestination:getNotificationDestination") == 1
    assert not [r for r in run.custom
                if r.typ == f"{NR}notificationDestination:NotificationDestination"
                and r.inputs["type"] == "SLACK"]


def test_rollout_commands_do_not_import_pulumi():
    code = ("import sys, rollout.cli.main, rollout.core.catalog\n"
            "rollout.core.catalog.load_catalog()\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pulumi', 'pulumi_newrelic', 'pulumi_render', 'infra', 'alerts', 'dashboards'))\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_controller_does_not_import_the_pulumi_program():
    offenders = []
    for path in (ROOT / "rollout").rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1 and \
                    words[1].split(".")[0] in ("pulumi", "infra", "alerts", "dashboards"):
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert offenders == []

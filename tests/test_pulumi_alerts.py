"""New Relic alerting: conditions equal the catalog, each routes where its severity says."""
from __future__ import annotations

import json
import re

import pytest

from tests.fakes.newrelic import HEALTHY_SERVICE, alert_window_value
from tests.pulumi_harness import ROOT, is_secret, run_main, stack_config
from rollout.core.catalog import Condition, NR_OPERATORS, load_catalog

NR = "newrelic:index/"
CONDITION = f"{NR}nrqlAlertCondition:NrqlAlertCondition"
RUNBOOK = ROOT / "docs" / "runbooks" / "alerts.md"


@pytest.fixture(scope="module")
def run():
    return run_main()


@pytest.fixture(scope="module")
def conditions(run):
    return {c.inputs["name"]: c.inputs for c in run.of_type(CONDITION)}


@pytest.fixture(scope="module")
def config():
    config, _ = stack_config()
    return config


def condition_for(conditions, alert_name):
    found = [c for name, c in conditions.items() if name.startswith(alert_name + " [")]
    assert len(found) == 1, alert_name
    return found[0]


def github_anchors(markdown: str) -> set:
    """Anchors GitHub renders for headings: lower case, punctuation dropped, spaces -> '-'."""
    out = set()
    for line in markdown.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if m:
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-"))
    return out


def test_one_policy_owns_every_condition(run, conditions):
    policy = run.one(f"{NR}alertPolicy:AlertPolicy")
    assert policy.inputs["incidentPreference"] == "PER_CONDITION"
    assert len(conditions) == len(load_catalog().alerts())
    assert {c["policyId"] for c in conditions.values()} == {policy.id}


@pytest.mark.parametrize("metric, alert", load_catalog().alerts(), ids=lambda x: getattr(x, "name", ""))
def test_condition_equals_the_catalog(conditions, metric, alert):
    c = condition_for(conditions, alert.name)
    assert c["name"] == f"{alert.name} [{alert.severity}]"
    assert c["type"] == "static" and c["enabled"] is True
    assert c["nrql"] == {"query": metric.nrql(load_catalog())}
    crit = c["critical"]
    assert crit["operator"] == alert.when.nr_operator
    assert crit["threshold"] == alert.when.value
    window = c["aggregationWindow"]
    assert window == (metric.window_minutes or 1) * 60
    # New Relic's rule for static conditions
    assert crit["thresholdDuration"] >= 60 and crit["thresholdDuration"] % window == 0
    if alert.minutes:
        assert (crit["thresholdDuration"], crit["thresholdOccurrences"]) == (alert.minutes * 60, "ALL")
    else:
        assert crit["thresholdOccurrences"] == "AT_LEAST_ONCE"
    if "slideBy" in c:
        assert c["slideBy"] < window and window % c["slideBy"] == 0


# The six alerts of story 2.14 Task 6, as the seed writes them.
SEED_ALERTS = [
    # name, operator, threshold, threshold_duration_s, occurrences, severity
    ("Skills Service Down", "below", 1, 60, "ALL", "SEV1"),
    ("High Skill Error Rate", "above", 5, 300, "ALL", "SEV1"),
    ("Skills Response Time Critical", "above", 10000, 300, "ALL", "SEV2"),
    ("Elevated Skill Timeout Rate", "above", 5, 600, "ALL", "SEV3"),
    ("Low Cache Hit Rate", "below", 30, 900, "ALL", "SEV3"),
    ("Cost Spike Detected", "above", 10, 3600, "AT_LEAST_ONCE", "SEV3"),   # hourly sum, immediate
]

# The "Alert Threshold" column of the AI-service metric table (seed 002).
AI_SERVICE_TABLE = [
    ("Claude API Success Rate Low", "below", 95),
    ("Skills Token Reduction Low", "below", 60),
    ("Average AI Response Time High", "above", 10000),
    ("Cost Per Request High", "above", 0.05),
    ("Fallback To Grok Rate High", "above", 15),
    ("Prompt Cache Hit Rate Low", "below", 25),
]


@pytest.mark.parametrize("name, op, threshold, duration, occurrences, severity", SEED_ALERTS)
def test_the_six_story_alerts(conditions, name, op, threshold, duration, occurrences, severity):
    c = condition_for(conditions, name)
    assert (c["critical"]["operator"], c["critical"]["threshold"]) == (op, threshold)
    assert (c["critical"]["thresholdDuration"], c["critical"]["thresholdOccurrences"]) == \
        (duration, occurrences)
    assert c["name"].endswith(f"[{severity}]")


def test_cost_spike_is_an_hourly_sum_evaluated_every_minute(conditions):
    c = condition_for(conditions, "Cost Spike Detected")
    assert c["nrql"]["query"].startswith("SELECT sum(cost) FROM ")
    assert (c["aggregationWindow"], c["slideBy"]) == (3600, 60)


@pytest.mark.parametrize("name, op, threshold", AI_SERVICE_TABLE)
def test_ai_service_table_thresholds(conditions, name, op, threshold):
    c = condition_for(conditions, name)
    assert (c["critical"]["operator"], c["critical"]["threshold"]) == (op, threshold)


def test_loss_of_signal_only_where_silence_is_failure(conditions):
    silent = {name for name, c in conditions.items() if c.get("openViolationOnExpiration")}
    assert silent == {"Skills Service Down [SEV1]"}
    down = conditions["Skills Service Down [SEV1]"]
    assert down["expirationDuration"] >= down["critical"]["thresholdDuration"]
    assert down["closeViolationsOnExpiration"] is False


def test_runbook_urls_point_at_existing_anchors(conditions, config):
    base = config["skills-rollout:runbookBaseUrl"].rstrip("/")
    anchors = github_anchors(RUNBOOK.read_text())
    for name, c in conditions.items():
        url = c["runbookUrl"]
        assert url.startswith(base + "/"), name
        path, _, anchor = url[len(base) + 1:].partition("#")
        assert (ROOT / path) == RUNBOOK, name
        assert anchor in anchors, f"{name}: no heading for #{anchor} in {RUNBOOK.name}"


def test_runbook_quotes_the_catalog(conditions):
    """Each runbook section states the catalog's condition and severity."""
    text = RUNBOOK.read_text()
    for _, alert in load_catalog().alerts():
        section = text.split(f"\n## {alert.name}\n", 1)[1].split("\n## ", 1)[0]
        assert f"`{alert.when}`" in section, alert.name
        assert f"**{alert.severity}**" in section, alert.name


def destination_of_condition(run, name: str) -> str:
    """Follow workflow filter -> channel -> destination; returns the destination type."""
    policy = run.one(f"{NR}alertPolicy:AlertPolicy")
    matched = []
    for wf in run.of_type(f"{NR}workflow:Workflow"):
        if wf.name == "workflow-guard":     # wakes rollout serve (test_pulumi_guard_service.py)
            continue
        preds = {p["attribute"]: p for p in wf.inputs["issuesFilter"]["predicates"]}
        if policy.id not in preds["labels.policyIds"]["values"]:
            continue
        names = preds["accumulations.conditionName"]
        assert names["operator"] == "CONTAINS"
        if any(v in name for v in names["values"]):       # CONTAINS any of the values
            matched.append(wf)
    assert len(matched) == 1, f"{name}: matched by {len(matched)} workflows"
    (dest,) = matched[0].inputs["destinations"]
    assert "ACTIVATED" in dest["notificationTriggers"]
    channel = run.by_id(dest["channelId"]).inputs
    assert channel["product"] == "IINT"
    if channel["destinationId"] == "slack-destination-id":    # the looked-up Slack destination
        assert channel["type"] == "SLACK"
        return "SLACK"
    destination = run.by_id(channel["destinationId"]).inputs
    assert destination["type"] == channel["type"]
    return destination["type"]


@pytest.mark.parametrize("metric, alert", load_catalog().alerts(), ids=lambda x: getattr(x, "name", ""))
def test_each_severity_routes_to_its_destination(run, metric, alert):
    got = destination_of_condition(run, f"{alert.name} [{alert.severity}]")
    if alert.severity in ("SEV1", "SEV2"):
        assert got == "PAGERDUTY_SERVICE_INTEGRATION"
    elif alert.notify == "email":        # the seed sends Low Cache Hit Rate by e-mail
        assert got == "EMAIL"
    else:
        assert got == "SLACK"


def test_low_cache_hit_rate_goes_by_email(run):
    assert destination_of_condition(run, "Low Cache Hit Rate [SEV3]") == "EMAIL"


def test_destinations_come_from_config(run, config):
    notify = json.loads(config["skills-rollout:notify"])
    dests = {d.inputs["type"]: d for d in run.of_type(f"{NR}notificationDestination:NotificationDestination")}
    pd = dests["PAGERDUTY_SERVICE_INTEGRATION"]
    assert is_secret(pd.raw_inputs["authToken"])
    assert pd.inputs["authToken"]["token"] == "pd-test-integration-key"
    assert dests["EMAIL"].inputs["properties"] == [
        {"key": "email", "value": ",".join(notify["emailAddresses"])}]
    (_, lookup), = [c for c in run.calls if c[0].endswith("getNotificationDestination")]
    assert lookup["exactName"] == notify["slackDestination"]
    slack = [c for c in run.of_type(f"{NR}notificationChannel:NotificationChannel")
             if c.inputs["type"] == "SLACK"][0]
    assert slack.inputs["properties"] == [{"key": "channelId", "value": notify["slackChannelId"]}]


# -- conditions that page on absence can reach their threshold ----------------------------

OPERATOR = {v: k for k, v in NR_OPERATORS.items()}
# Aggregates that count events: their value falls as events go missing.
COUNTING = re.compile(r"^SELECT (?:filter\()?(?:count|uniqueCount|sum)\(")


def threshold(c) -> Condition:
    return Condition(OPERATOR[c["critical"]["operator"]], c["critical"]["threshold"])


def pages_on_absence(c) -> bool:
    """The alarm is "too few events": a counting aggregate with a below threshold."""
    return bool(COUNTING.match(c["nrql"]["query"])) and \
        c["critical"]["operator"] in ("below", "below_or_equals")


def minute_of_checks(result: str, start_ms: int) -> list[dict]:
    """One minute of the /health monitor: one check per location, as New Relic stores them."""
    check = HEALTHY_SERVICE["SyntheticCheck"]
    return [{**check, "eventType": "SyntheticCheck", "result": result, "timestamp": start_ms + i}
            for i in (1_000, 2_000)]


def test_the_absence_conditions(conditions):
    assert {n for n, c in conditions.items() if pages_on_absence(c)} == {"Skills Service Down [SEV1]"}


def test_every_absence_condition_can_reach_its_threshold(conditions):
    """New Relic's streaming alerts run a condition's SELECT only when some event passed
    its WHERE: count() is no value, never 0, in an empty window. So a condition that pages
    on absence must (1) count inside filter() so that failed checks still make a data point,
    (2) fill an empty window with a static value that meets its threshold, and (3) open on
    loss of signal when nothing arrives at all."""
    for name, c in conditions.items():
        if not pages_on_absence(c):
            continue
        q, t, start = c["nrql"]["query"], threshold(c), 1_800_000_000_000
        end = start + int(c["aggregationWindow"]) * 1000
        down = alert_window_value(q, minute_of_checks("FAILED", start), start, end)
        up = alert_window_value(q, minute_of_checks("SUCCESS", start), start, end)
        assert down is not None and t.met(down), f"{name}: a failing service reads {down}"
        assert up is not None and not t.met(up), f"{name}: a healthy service reads {up}"
        assert alert_window_value(q, [], start, end) is None        # the gap...
        assert c["fillOption"] == "static" and t.met(c["fillValue"]), name   # ...is filled to breach
        assert c["openViolationOnExpiration"] is True, name
        assert c["expirationDuration"] >= c["critical"]["thresholdDuration"], name


def test_service_down_breaches_within_the_seeds_minute(conditions):
    c = conditions["Skills Service Down [SEV1]"]
    assert (c["aggregationWindow"], c["critical"]["thresholdDuration"]) == (60, 60)
    # the same one-minute window as the failing checks: the first failed minute breaches
    assert threshold(c).met(c["fillValue"])


def test_no_other_condition_fills_gaps_with_a_breaching_value(conditions):
    """A static fill on, say, the cache hit rate would page on a quiet night."""
    for name, c in conditions.items():
        if pages_on_absence(c) or c.get("fillOption") in (None, "none"):
            continue
        assert not threshold(c).met(c["fillValue"]), name

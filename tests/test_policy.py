"""The policy pack's rules (policy/skills_policy/) over the program the repository ships.

The current program, run under mocks with Pulumi.prod.yaml, passes every rule; each
hand-broken copy below fails with exactly the rule that guards it. A new rule is one
decorated function in policy/skills_policy/ plus one row in BROKEN.
"""
from __future__ import annotations

import re

import pytest
import yaml

from rollout.core.catalog import load_catalog
from tests.policy_support import POLICY_DIR, added, edited, policy_resources, urn, without
from tests.pulumi_harness import DELETE, SECRET_STAND_INS, is_secret, run_main, set_path
from tests.seeds import seed

from skills_policy import RULES, evaluate, run_rule
from skills_policy.model import UNKNOWN, Resource, walk
from skills_policy.registry import WAIVER
from skills_policy.render_rules import (AI_NAME, KILL_SWITCH, MIN_WEB_INSTANCES, PLAN_FLOORS,
                                        WEB_NAME, WEB_SERVICE, PRIVATE_SERVICE, KEY_VALUE)
from skills_policy.secret_rules import SECRET_SLOTS, looks_secret
from skills_policy.watch_rules import DASHBOARD_PAGES

NR = "newrelic:index/"
CONDITION = f"{NR}nrqlAlertCondition:NrqlAlertCondition"
WORKFLOW = f"{NR}workflow:Workflow"
DASHBOARD = f"{NR}oneDashboard:OneDashboard"
ENV_VARS = "render:services:EnvVarsForService"
RULE_IDS = [r.id for r in RULES]
NRAK = "NRAK-0123456789ABCDEFGHIJKLMNOPQ"


@pytest.fixture(scope="module")
def run():
    return run_main()


@pytest.fixture(scope="module")
def stack(run):
    return policy_resources(run)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def failing(resources, catalog) -> dict:
    found = {}
    for f in evaluate(resources, catalog):
        found.setdefault(f.rule, []).append(f.message)
    return found


# ---------------------------------------------------------------- the table itself

def test_every_rule_has_an_id_a_one_line_description_and_a_seed():
    assert len(set(RULE_IDS)) == len(RULE_IDS)
    for r in RULES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", r.id), r.id
        assert "\n" not in r.description and len(r.description) <= 90, r.id
        assert re.search(r"seed 00[23]|playbook 003|the catalog", r.reason), r.id


def test_the_program_passes_every_rule(stack, catalog):
    assert failing(stack, catalog) == {}


# ---------------------------------------------------------------- hand-broken copies

def _set(path, value):
    return lambda props: set_path(props, path, value)


def _env(add=None, drop=None):
    def change(props):
        props["envVars"] = [e for e in props["envVars"] if e["key"] != drop]
        if add:
            props["envVars"].append({"key": add[0], "value": add[1]})
    return change


def _pages(keep):
    def change(props):
        props["pages"] = [p for p in props["pages"] if keep(p)]
    return change


def _widgets(drop_query_prefix):
    def change(props):
        for page in props["pages"]:
            page["widgetLines"] = [
                w for w in page["widgetLines"]
                if not w["nrqlQueries"][0]["query"].startswith(drop_query_prefix)]
    return change


def _channel_key(props):
    props["properties"].append({"key": "routingKey", "value": "R0UT1NGKEY0000000000000000000000"})


def _no_fill(props):
    for key in ("fillOption", "fillValue", "expirationDuration", "openViolationOnExpiration"):
        props.pop(key, None)


def _unroute(condition_name):
    def change(props):
        props["issuesFilter"]["predicates"][1]["values"].remove(condition_name)
    return change


def edit(resource, change):
    return lambda stack: edited(stack, *resource, change)


def drop(resource):
    return lambda stack: without(stack, *resource)


def worker(repo, auto_deploy):
    """A Render background worker built from `repo` (not part of the program)."""
    typ = "render:services:BackgroundWorker"
    props = {"name": "legal-platform-worker", "repo": repo, "autoDeploy": auto_deploy,
             "serviceDetails": {"plan": "standard", "runtime": "docker"}}
    return Resource(typ, "worker", props, urn(typ, "worker"))


def cond(name):
    return (CONDITION, f"condition-{name}")


WEB, AI = (WEB_SERVICE, "web"), (PRIVATE_SERVICE, "ai-service")
WEB_ENV, AI_ENV = (ENV_VARS, "web-env"), (ENV_VARS, "ai-service-env")
PAGERDUTY = (WORKFLOW, "workflow-pagerduty")
BOARD = (DASHBOARD, "skills-rollout")
COST_SAVINGS = "SELECT (filter(average(cost), WHERE cohort = 'control')"
ONLY_ON_CLOSE = [{"channelId": "channel-pagerduty-id", "notificationTriggers": ["CLOSED"]}]
DB_URL = "postgresql://app:hunter2@db.internal:5432/legal"
APP_REPO = "https://github.com/example-org/legal-platform"       # Pulumi.prod.yaml `repo`

# (the rule that must fail, the case, how the stack is broken)
BROKEN = [
    ("web-health-check", "health check dropped",
     edit(WEB, _set("serviceDetails.healthCheckPath", DELETE))),
    ("web-high-availability", "one web instance", edit(WEB, _set("serviceDetails.numInstances", 1.0))),
    ("web-high-availability", "autoscaling down to one",
     edit(("render:services:AutoscaleService", "web-autoscaling"), _set("min", 1.0))),
    ("web-high-availability", "web service renamed", edit(WEB, _set("name", "web-2"))),
    ("render-plan-floor", "web plan downgraded", edit(WEB, _set("serviceDetails.plan", "starter"))),
    ("render-plan-floor", "ai-service plan unknown", edit(AI, _set("serviceDetails.plan", "tiny"))),
    ("render-plan-floor", "key-value on the free plan", edit((KEY_VALUE, "key-value"), _set("plan", "free"))),
    ("manual-deploys", "autoDeploy on", edit(WEB, _set("autoDeploy", "yes"))),
    ("manual-deploys", "autoDeploy left to Render's default", edit(AI, _set("autoDeploy", DELETE))),
    ("manual-deploys", "a new service of the application deploys on push",
     lambda stack: added(stack, worker(APP_REPO, "yes"))),
    ("ai-service-kill-switch", "kill switch deleted", edit(AI_ENV, _env(drop=KILL_SWITCH))),
    ("ai-service-kill-switch", "kill switch not a boolean",
     edit(AI_ENV, _env(drop=KILL_SWITCH, add=(KILL_SWITCH, "0")))),
    ("postgres-backups", "postgres on the free plan",
     edit(("render:postgres:Postgres", "postgres"), _set("plan", "free"))),
    ("alert-runbook", "runbook removed", edit(cond("high-skill-error-rate"), _set("runbookUrl", DELETE))),
    ("alert-in-policy", "condition moved out of the policy",
     edit(cond("cost-per-request-high"), _set("policyId", "another-policy"))),
    ("catalog-alerts-deployed", "catalog alert deleted", drop(cond("memory-usage-high"))),
    ("paging-reaches-pagerduty", "SEV1 condition whose workflow is removed", drop(PAGERDUTY)),
    ("paging-reaches-pagerduty", "SEV2 condition left out of the PagerDuty filter",
     edit(PAGERDUTY, _unroute("Memory Usage Critical [SEV2]"))),
    ("paging-reaches-pagerduty", "PagerDuty told only on close",
     edit(PAGERDUTY, _set("destinations", ONLY_ON_CLOSE))),
    ("silence-alerts-can-fire", "Service Down without fill or loss of signal",
     edit(cond("skills-service-down"), _no_fill)),
    ("no-plaintext-secrets", "New Relic key in a plain env var",
     edit(WEB_ENV, _env(add=("NEW_RELIC_KEY", NRAK)))),
    ("no-plaintext-secrets", "database URL with its password in a plain env var",
     edit(WEB_ENV, _env(add=("DB", DB_URL)))),
    ("no-plaintext-secrets", "PagerDuty routing key in a channel property",
     edit((f"{NR}notificationChannel:NotificationChannel", "channel-pagerduty"), _channel_key)),
    ("dashboard-pages", "dashboard page removed",
     edit(BOARD, _pages(lambda p: p["name"] != "Error tracking"))),
    ("gated-metrics-watched", "gating metric with no alert and no chart",
     edit(BOARD, _widgets(COST_SAVINGS))),
]


@pytest.mark.parametrize(("rule_id", "case", "breaks"), BROKEN, ids=[c for _, c, _ in BROKEN])
def test_a_broken_copy_fails_with_its_rule(stack, catalog, rule_id, case, breaks):
    found = failing(breaks(stack), catalog)
    assert set(found) == {rule_id}, found
    for message in found[rule_id]:
        assert "\n" not in message
        for secret in (NRAK, "hunter2", "R0UT1NGKEY"):     # a finding never repeats the secret
            assert secret not in message


def test_a_service_built_from_another_repository_may_deploy_on_merge(stack, catalog):
    """The controller's own guard service redeploys on merge: its approval is the merge."""
    controller = worker("https://github.com/example-org/skills-rollout", "yes")
    assert failing(added(stack, controller), catalog) == {}


def test_every_rule_has_a_broken_row():
    assert {rule_id for rule_id, _, _ in BROKEN} == set(RULE_IDS)


def test_during_a_preview_unknown_ids_are_not_violations(stack, catalog):
    """A fresh stack's preview: every id and URL derived from another resource is unknown
    (the engine still reports the dependencies)."""
    ids = {f"{r.name}-id" for r in stack} | {"slack-destination-id"}

    def blank(value):
        if isinstance(value, dict):
            return {k: blank(v) for k, v in value.items()}
        if isinstance(value, list):
            return [blank(v) for v in value]
        return UNKNOWN if isinstance(value, str) and (value in ids or "://" in value
                                                      and "-id" in value) else value
    previewed = [Resource(r.type, r.name, blank(r.props), r.urn, r.deps) for r in stack]
    assert failing(previewed, catalog) == {}


# ---------------------------------------------------------------- secrets

class _Secret:
    """A leaf inside a Pulumi secret as the program registered it (mocks keep the wrapper;
    the SDK marks the whole top-level input that holds a secret output)."""


def _mark(value, inside: bool = False):
    if is_secret(value):
        return _mark(value["value"], True)
    if isinstance(value, dict):     # a {"key", "value"} pair keeps its key: walk() names it so
        return {k: v if k == "key" else _mark(v, inside) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark(v, inside) for v in value]
    return _Secret() if inside else value


def test_every_secret_slot_holds_a_pulumi_secret(run):
    """What the analyzer cannot tell (it sees secrets unwrapped), the mocks can: wherever the
    program fills a SECRET_SLOTS place, the value is a Pulumi secret. (Slots of a component
    the stack may lack, such as the guard service's, are checked where it is present.)"""
    seen = set()
    for r in run.custom:
        for path, value in walk(_mark(r.raw_inputs)):
            if path in SECRET_SLOTS.get(r.typ, ()):
                assert isinstance(value, _Secret), f"{r.typ} {r.name}: {path} is not a secret"
                seen.add((r.typ, path))
    core = {("render:services:EnvVarsForService", "envVars[ANTHROPIC_API_KEY].value"),
            ("render:env-groups:EnvGroup", "envVars[DATABASE_URL].value"),
            ("render:env-groups:EnvGroup", "envVars[REDIS_URL].value"),
            (f"{NR}notificationDestination:NotificationDestination", "authToken.token")}
    assert core <= seen


def test_the_secret_stand_ins_sit_only_in_secret_slots(stack):
    """Each configured secret reaches the resources only at a declared slot."""
    for r in stack:
        for path, value in walk(r.props):
            if value in SECRET_STAND_INS.values():
                assert path in SECRET_SLOTS.get(r.type, ()), (r.type, path)


@pytest.mark.parametrize(("path", "value", "looks"), [
    ("envVars[X].value", NRAK, "a New Relic key"),
    ("envVars[X].value", "0123456789abcdef0123456789abcdef0123NRAL", "a New Relic key"),
    ("envVars[X].value", "sk-ant-api03-AbCdEfGhIj", "an Anthropic API key"),
    ("envVars[X].value", "rnd_AbCdEfGh12345678", "a Render API key"),
    ("properties[url].value", "https://hooks.slack.com/services/T0/B0/xyz", "a Slack token or webhook"),
    ("envVars[X].value", "ghp_" + "a" * 36, "a GitHub token"),
    ("envVars[X].value", "AKIAABCDEFGHIJKLMNOP", "an AWS access key id"),
    ("envVars[X].value", "redis://:s3cret@cache:6379", "a connection string with a password"),
    ("headers.Authorization", "Bearer abcdefghijklmnopqrstu", "a bearer token"),
    ("envVars[PAGERDUTY_ROUTING_KEY].value", "R0UT1NGKEY0000", "a credential"),
    ("routingKey", "R0UT1NGKEY0000", "a credential"),
    ("envVars[DB_PASSWORD].value", "correct horse", "a credential"),
    # what the program's plain inputs hold
    ("uri", "https://legal-platform-web.onrender.com/health", None),
    ("envVars[REDIS_URL].value", "redis://key-value-id:6379", None),
    ("nrql.query", "SELECT average(tokenSavings) FROM SkillExecution", None),
    ("authToken.prefix", "Token token=", None),
    ("envVars[ANTHROPIC_SKILLS_BETA_VERSION].value", "skills-2025-10-02", None),
    ("properties[channelId].value", "C0123456789", None),
    ("envVars[SESSION_TOKEN].value", "unset", None),           # too short to be one
    ("repo", "https://github.com/example-org/legal-platform", None),
])
def test_what_looks_like_a_credential(path, value, looks):
    found = looks_secret(path, value)
    assert (found is None) if looks is None else found.startswith(looks), found


# ---------------------------------------------------------------- numbers from the seeds

def _seed_architecture() -> dict:
    text = seed("002").read_text(encoding="utf-8")
    block = text.split("**Render.com Deployment Strategy:**", 1)[1]
    return yaml.safe_load(block.split("```yaml", 1)[1].split("```", 1)[0])


def test_render_rules_use_the_seeds_numbers():
    arch = _seed_architecture()
    web, ai = arch["services"]["web"], arch["services"]["ai-service"]
    assert (web["name"], ai["name"]) == (WEB_NAME, AI_NAME)
    assert MIN_WEB_INSTANCES == web["numInstances"] == web["autoscaling"]["min"]
    assert web["healthCheckPath"].startswith("/")
    assert PLAN_FLOORS[(WEB_SERVICE, WEB_NAME)][0] == web["plan"]
    assert PLAN_FLOORS[(PRIVATE_SERVICE, AI_NAME)][0] == ai["plan"]
    assert PLAN_FLOORS[(KEY_VALUE, None)][0] == arch["databases"]["redis"]["plan"]
    assert KILL_SWITCH in {k for var in ai["envVars"] for k in var}
    assert arch["databases"]["postgres"]["backups"]["automatic"] is True


def test_dashboard_pages_are_the_pages_the_program_builds():
    from dashboards.newrelic import PAGES

    assert DASHBOARD_PAGES == tuple(PAGES)


# ---------------------------------------------------------------- levels and waivers

def test_a_waived_rule_still_reports_each_finding_with_its_reason(stack, catalog):
    rule = next(r for r in RULES if r.id == "web-high-availability")
    one = edited(stack, WEB_SERVICE, "web", _set("serviceDetails.numInstances", 1.0))
    reason = "one instance while Render migrates the region, OPS-142"
    [finding] = run_rule(rule, one, catalog, {WAIVER: reason})
    assert finding.message.startswith(f"waived ({reason}): ") and finding.rule == rule.id


# ---------------------------------------------------------------- the pack's own files

def test_the_pack_project_file_and_its_pinned_sdk():
    from importlib.metadata import version

    import tomllib
    from packaging.requirements import Requirement

    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    # the attributes the CLI reads for a Python pack (docs: Policy pack project file)
    assert set(project) <= {"runtime", "version", "main", "description", "author", "website",
                            "license"}
    runtime = project["runtime"]
    assert (runtime if isinstance(runtime, str) else runtime["name"]) == "python"
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert "main" not in project and (POLICY_DIR / "__main__.py").is_file()

    installed = version("pulumi-policy")
    pins = [line.strip() for line in (POLICY_DIR / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert pins == [f"pulumi-policy=={installed}"]
    extra = tomllib.loads((POLICY_DIR.parent / "pyproject.toml").read_text())
    [wanted] = [Requirement(r) for r in extra["project"]["optional-dependencies"]["infra"]
                if r.startswith("pulumi-policy")]
    assert wanted.specifier.contains(installed)


def test_the_readme_table_is_the_rule_list():
    from skills_policy.registry import rule_table

    readme = (POLICY_DIR / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- rules:start -->\n", 1)[1].split("<!-- rules:end -->", 1)[0]
    expected = "\n".join(rule_table()) + "\n"
    assert table == expected, "paste this table into policy/README.md:\n" + expected

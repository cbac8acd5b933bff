"""Render rules: production keeps the seed's size, health check, approval and kill switch.

Seed 002 "Deployment Architecture" is the source of every number here: the web service
`legal-platform-web` on plan standard with 2 instances (high availability, autoscaling
2..10) and `healthCheckPath: /health`; the private `legal-platform-ai-service` on plan
standard carrying `ANTHROPIC_SKILLS_ENABLED`; PostgreSQL standard with automatic daily
backups; Redis (key-value) starter; and the pipeline's "Deploy to Production -> Manual
Approval". Playbook 003 "Rollback Method 2" flips `ANTHROPIC_SKILLS_ENABLED=false`.

Services are recognised by the names the seed gives them. The stack rules below report a
missing web service or ai-service, so renaming one cannot switch its checks off silently.
"""
from __future__ import annotations

from skills_policy.model import UNKNOWN, Violation, env_value, named, of_type
from skills_policy.registry import rule

WEB_SERVICE = "render:services:WebService"
PRIVATE_SERVICE = "render:services:PrivateService"
SERVICE_TYPES = (WEB_SERVICE, PRIVATE_SERVICE, "render:services:BackgroundWorker",
                 "render:services:CronJob", "render:services:StaticSite")
ENV_VARS = "render:services:EnvVarsForService"
ENV_GROUP = "render:env-groups:EnvGroup"
AUTOSCALE = "render:services:AutoscaleService"
POSTGRES = "render:postgres:Postgres"
KEY_VALUE = "render:key-value:KeyValue"

WEB_NAME = "legal-platform-web"
AI_NAME = "legal-platform-ai-service"
KILL_SWITCH = "ANTHROPIC_SKILLS_ENABLED"
MIN_WEB_INSTANCES = 2

# Render instance types, smallest first (the plan enums of pulumi-render 0.6). `custom` is a
# negotiated plan above the listed ones.
SERVICE_PLANS = ("free", "starter", "standard", "pro", "pro_plus", "pro_max", "pro_ultra")
KEY_VALUE_PLANS = ("free", "starter", "standard", "pro", "pro_plus", "custom")

# (type, `name` input or None for any) -> (smallest plan allowed, the plans in order)
PLAN_FLOORS = {
    (WEB_SERVICE, WEB_NAME): ("standard", SERVICE_PLANS),
    (PRIVATE_SERVICE, AI_NAME): ("standard", SERVICE_PLANS),
    (KEY_VALUE, None): ("starter", KEY_VALUE_PLANS),
}


def _known(value) -> bool:
    return value is not None and value is not UNKNOWN


def _seed_service(resources, type_: str, name: str, kind: str, consequence: str):
    """The seed's service, found by its name, and the finding when the stack has none."""
    found = named(resources, type_, name)
    missing = [] if found else [Violation(f"the stack has no Render {kind} named {name!r} "
                                          f"(seed 002), {consequence}")]
    return found, missing


@rule("web-health-check", "The web service has a health check path",
      reason="seed 002 Deployment Architecture: web healthCheckPath /health; step 7 of the "
             "pipeline is Render's health checks",
      types=(WEB_SERVICE,))
def web_health_check(web, catalog):
    if web.props.get("name") != WEB_NAME:
        return
    path = web.get("serviceDetails.healthCheckPath")
    if path is UNKNOWN:
        return
    if not (isinstance(path, str) and path.startswith("/")):
        yield (f"{web.label} has no health check path (serviceDetails.healthCheckPath is "
               f"{path!r}); Render would route traffic to instances that never said healthy")


@rule("web-high-availability",
      f"The web service runs at least {MIN_WEB_INSTANCES} instances, autoscaling included",
      reason="seed 002 Deployment Architecture: numInstances 2 (high availability), "
             "autoscaling min 2 max 10")
def web_high_availability(resources, catalog):
    webs, missing = _seed_service(resources, WEB_SERVICE, WEB_NAME, "web service",
                                  "the name the web rules of this pack recognise it by")
    yield from missing
    for web in webs:
        count = web.get("serviceDetails.numInstances")
        if _known(count) and count < MIN_WEB_INSTANCES:
            yield Violation(f"{web.label} runs {count:g} instance(s); at least "
                            f"{MIN_WEB_INSTANCES} are needed", web.urn)
        scalers = [a.props for a in of_type(resources, AUTOSCALE) if a.refers_to("serviceId", web)]
        inline = web.get("serviceDetails.autoscaling")
        for scaling in scalers + ([inline] if isinstance(inline, dict) else []):
            low = scaling.get("min")
            if scaling.get("enabled") is not False and _known(low) and low < MIN_WEB_INSTANCES:
                yield Violation(f"{web.label} autoscales down to {low:g} instance(s); the "
                                f"minimum must be at least {MIN_WEB_INSTANCES}", web.urn)


@rule("render-plan-floor", "Render services run at least the seed's plans",
      reason="seed 002 Deployment Architecture: web and ai-service plan standard, "
             "Redis (key-value) plan starter",
      types=tuple(sorted({t for t, _ in PLAN_FLOORS})))
def render_plan_floor(resource, catalog):
    for (type_, name), (floor, ladder) in PLAN_FLOORS.items():
        if resource.type != type_ or (name and resource.props.get("name") != name):
            continue
        plan = resource.get("serviceDetails.plan") if type_ != KEY_VALUE else resource.get("plan")
        if plan is UNKNOWN:
            return
        if plan not in ladder:
            yield (f"{resource.label} has plan {plan!r}, which this pack cannot rank "
                   f"(known: {', '.join(ladder)}); the seed wants at least {floor}")
        elif ladder.index(plan) < ladder.index(floor):
            yield f"{resource.label} has plan {plan!r}, below the seed's {floor!r}"


@rule("manual-deploys", "The application's services deploy only when approved (autoDeploy off)",
      reason="seed 002 Deployment Pipeline Stages: 6. Deploy to Production -> Manual Approval")
def manual_deploys(resources, catalog):
    """The web service, the ai-service, and every Render service built from their
    repository. The rollout controller's own guard service (`rollout serve`, built from
    this repository) redeploys on merge on purpose: the merge of a reviewed pull request
    is its approval, and a merged phase change must reach it."""
    seed = (WEB_NAME, AI_NAME)
    app_repos = {s.props.get("repo") for s in of_type(resources, *SERVICE_TYPES)
                 if s.props.get("name") in seed}
    for service in of_type(resources, *SERVICE_TYPES):
        if service.props.get("name") not in seed and service.props.get("repo") not in app_repos:
            continue
        value = service.props.get("autoDeploy")
        if value is not UNKNOWN and value != "no":
            yield Violation(f"{service.label} has autoDeploy {value!r}: every push to its "
                            f"branch would deploy to production without approval; set it "
                            f"to 'no'", service.urn)


@rule("ai-service-kill-switch", f"The ai-service carries the kill switch {KILL_SWITCH}",
      reason="playbook 003 Rollback Method 2 (set ANTHROPIC_SKILLS_ENABLED=false); seed 002 "
             "Deployment Architecture: ai-service envVars")
def ai_service_kill_switch(resources, catalog):
    services, missing = _seed_service(resources, PRIVATE_SERVICE, AI_NAME, "private service",
                                      "so nothing carries the kill switch")
    yield from missing
    for ai in services:
        lists = [ai.props.get("envVars")]
        lists += [r.props.get("envVars") for r in of_type(resources, ENV_VARS)
                  if r.refers_to("serviceId", ai)]
        lists += [r.props.get("envVars") for r in of_type(resources, ENV_GROUP)
                  if r.refers_to("serviceIds", ai)]
        values = [v for v in (env_value(vs, KILL_SWITCH) for vs in lists) if v is not None]
        if not values:
            yield Violation(f"{ai.label} has no {KILL_SWITCH} in its environment: rollback "
                            f"method 2 would have no switch to flip", ai.urn)
        for value in values:
            if value is not UNKNOWN and value not in ("true", "false"):
                yield Violation(f"{ai.label} has {KILL_SWITCH}={value!r}; the application reads "
                                f"'true' or 'false'", ai.urn)


@rule("postgres-backups", "PostgreSQL runs on a paid plan, which Render backs up",
      reason="seed 002 Deployment Architecture: postgres plan standard, backups automatic, "
             "daily, 7 days retention",
      types=(POSTGRES,))
def postgres_backups(db, catalog):
    plan = db.props.get("plan")
    if plan is not UNKNOWN and (not isinstance(plan, str) or plan in ("", "free")):
        yield (f"{db.label} has plan {plan!r}: Render's free databases have no backups and "
               f"expire; use a paid plan (the seed's is standard)")

"""The stack configuration, read and checked once, as plain typed values.

Everything that differs between forks (account and owner ids, region, plans, notification
targets, the runbook base URL) lives in Pulumi.<stack>.yaml, never in code. A missing or
invalid value stops the program with ONE line naming the key and the command that sets it,
raised as pulumi.RunError so the CLI prints the message without a traceback.

Allowed plans and regions are taken from the provider SDK's own enums, so they cannot drift
from what the Render API accepts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_render.key_value as rkv
import pulumi_render.postgres as rpg
import pulumi_render.services as rsvc

from infra.config_reader import DIGITS as _DIGITS, PROJECT, ConfigReader

_OWNER_ID = re.compile(r"^(tea|usr)-[a-z0-9]+$")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{8,}$")
# A PostgreSQL identifier Render accepts as database or user name: lower case, digits, _.
_PG_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# New Relic public locations by their NerdGraph names. The list in New Relic's docs shows an
# `AWS_` prefix that the API refuses ("Invalid public Location: AWS_US_WEST_1").
_PUBLIC_LOCATION = re.compile(r"^[A-Z]{2}_[A-Z]+_[0-9]+$")
# Two places: one location's network trouble alone cannot make the health check go silent.
DEFAULT_MONITOR_LOCATIONS = ("US_WEST_2", "US_EAST_1")
DEFAULT_DATABASE = "legal_platform"
DEFAULT_DATABASE_USER = "legal_platform_user"
# The flag store the workflows reach from GitHub-hosted runners lives in this database,
# and those runners have no fixed addresses: open to every address (password required),
# as Render does when no list is given.
DEFAULT_POSTGRES_ALLOW = ("0.0.0.0/0",)

@dataclass(frozen=True)
class Autoscaling:
    min: int
    max: int
    cpu_percent: int
    memory_percent: int


@dataclass(frozen=True)
class WebSettings:
    plan: str
    instances: int
    autoscaling: Autoscaling | None   # None: a fixed instance count (a staging stack)
    health_check_path: str
    dockerfile: str


@dataclass(frozen=True)
class AiServiceSettings:
    plan: str
    instances: int
    skills_enabled: bool          # the kill switch: ANTHROPIC_SKILLS_ENABLED
    skills_beta_version: str
    dockerfile: str


@dataclass(frozen=True)
class PostgresSettings:
    plan: str
    version: str
    disk_size_gb: int
    # Render fixes both at creation; left out, pulumi-render would send its placeholder
    # text "randomly generated" and the next refresh would plan a replacement.
    database_name: str
    database_user: str
    ip_allow_list: tuple          # CIDR blocks allowed to connect from outside Render
    protect: bool = True          # refuse to delete or replace it (staging: false, to destroy)


@dataclass(frozen=True)
class KeyValueSettings:
    plan: str
    maxmemory_policy: str
    ip_allow_list: tuple


@dataclass(frozen=True)
class RenderSettings:
    owner_id: str
    region: str
    repo: str
    branch: str
    web: WebSettings
    ai_service: AiServiceSettings
    postgres: PostgresSettings
    key_value: KeyValueSettings
    anthropic_api_key: pulumi.Output


@dataclass(frozen=True)
class NotifySettings:
    pagerduty_service_key: pulumi.Output
    slack_destination: str        # name of a Slack destination connected in the New Relic UI
    slack_channel_id: str
    email_addresses: tuple


@dataclass(frozen=True)
class NewRelicSettings:
    account_id: str
    region: str
    runbook_base_url: str
    notify: NotifySettings
    monitor_locations: tuple      # public locations of the synthetic /health check


@dataclass(frozen=True)
class GuardSettings:
    """`rollout serve` on Render (infra/guard_service.py) and the New Relic webhook that
    wakes it (alerts/webhook.py)."""
    repo: str                     # this repository: the service runs from its checkout
    branch: str
    plan: str
    instances: int
    interval: int                 # seconds between the loop's evaluations
    lease_ttl: int
    hook_token: pulumi.Output     # ROLLOUT_HOOK_TOKEN, also the webhook's bearer token
    newrelic_query_key: pulumi.Output   # a User key for NerdGraph queries (not the provider's)
    slack_webhook_url: pulumi.Output
    github_token: pulumi.Output   # contents and pull-requests write on `repo`
    page_token: pulumi.Output     # ROLLOUT_PAGE_TOKEN: the status page's password

    @property
    def github_repository(self) -> str:
        return self.repo.removeprefix("https://github.com/")


@dataclass(frozen=True)
class Settings:
    render: RenderSettings
    newrelic: NewRelicSettings
    guard: GuardSettings


def _enum_values(enum) -> tuple:
    return tuple(e.value for e in enum)


def _autoscaling(cfg: ConfigReader) -> Autoscaling | None:
    """web.autoscaling, or None when the stack leaves it out (Render's autoscaling needs a
    Professional workspace; a staging stack runs a fixed count)."""
    if cfg.lookup("web.autoscaling", "{min: 2, max: 10}", default=None) is None:
        return None
    mins = cfg.integer("web.autoscaling.min", "2", 1, 100)
    return Autoscaling(
        min=mins,
        max=cfg.integer("web.autoscaling.max", "10", mins, 100),
        # Render accepts utilization targets from 1 to 90 %.
        cpu_percent=cfg.integer("web.autoscaling.cpuPercent", "70", 1, 90),
        memory_percent=cfg.integer("web.autoscaling.memoryPercent", "80", 1, 90),
    )


def load_settings() -> Settings:
    cfg = ConfigReader(PROJECT)
    nr = ConfigReader("newrelic")
    render = ConfigReader("render")

    # pulumi-render 0.6 falls back to RENDER_APIKEY; the New Relic provider to NEW_RELIC_API_KEY.
    render.credential("apiKey", "the Render API key", ("RENDER_APIKEY",))
    nr.credential("apiKey", "the New Relic User key (NRAK-...)", ("NEW_RELIC_API_KEY",))

    service_plans = _enum_values(rsvc.WebServiceDetailsCreatePlan)
    return Settings(render=_render_settings(cfg, service_plans),
                    newrelic=_newrelic_settings(cfg, nr),
                    guard=_guard_settings(cfg, service_plans))


def _render_settings(cfg: ConfigReader, service_plans: tuple) -> RenderSettings:
    autoscaling = _autoscaling(cfg)
    instances = cfg.integer("web.instances", "2", 1, 100)
    if autoscaling and not autoscaling.min <= instances <= autoscaling.max:
        cfg.fail("web.instances", f"expected a number within autoscaling min..max "
                 f"({autoscaling.min}..{autoscaling.max}), got {instances}", str(autoscaling.min))
    web = WebSettings(
        plan=cfg.string("web.plan", "standard", choices=service_plans),
        instances=instances,
        autoscaling=autoscaling,
        health_check_path=cfg.string("web.healthCheckPath", "/health",
                                     pattern=re.compile(r"^/\S*$"), what="a path starting with /"),
        dockerfile=cfg.string("web.dockerfile", "./Dockerfile"),
    )
    ai = AiServiceSettings(
        plan=cfg.string("aiService.plan", "standard", choices=service_plans),
        instances=cfg.integer("aiService.instances", "1", 1, 100),
        skills_enabled=cfg.boolean("aiService.skillsEnabled", "true"),
        skills_beta_version=cfg.string("aiService.skillsBetaVersion", "skills-2025-10-02"),
        dockerfile=cfg.string("aiService.dockerfile", "./services/ai-service/Dockerfile"),
    )
    pg_plans = tuple(p for p in _enum_values(rpg.Plan) if p != "free")  # free: no backups
    postgres = PostgresSettings(
        plan=cfg.string("postgres.plan", "standard", choices=pg_plans),
        version=cfg.string("postgres.version", "16", choices=_enum_values(rpg.Version)),
        disk_size_gb=cfg.integer("postgres.diskSizeGb", "25", 1, 16384),
        database_name=cfg.string("postgres.databaseName", DEFAULT_DATABASE, pattern=_PG_IDENTIFIER,
                                 what="a PostgreSQL name: lower case letters, digits, _",
                                 default=DEFAULT_DATABASE),
        database_user=cfg.string("postgres.databaseUser", DEFAULT_DATABASE_USER,
                                 pattern=_PG_IDENTIFIER, default=DEFAULT_DATABASE_USER,
                                 what="a PostgreSQL name: lower case letters, digits, _"),
        ip_allow_list=cfg.cidr_list("postgres.ipAllowList", "0.0.0.0/0",
                                    DEFAULT_POSTGRES_ALLOW),
        protect=cfg.boolean("postgres.protect", "true", default=True),
    )
    key_value = KeyValueSettings(
        plan=cfg.string("keyValue.plan", "starter", choices=_enum_values(rkv.Plan)),
        maxmemory_policy=cfg.string("keyValue.maxmemoryPolicy", "allkeys_lru",
                                    choices=_enum_values(rkv.MaxmemoryPolicy)),
        ip_allow_list=cfg.cidr_list("keyValue.ipAllowList", "203.0.113.7/32", ()),
    )
    return RenderSettings(
        owner_id=cfg.string("ownerId", "tea-abc123", pattern=_OWNER_ID,
                            what="a Render workspace id like tea-... or usr-..."),
        region=cfg.string("region", "oregon",
                          choices=_enum_values(rsvc.WebServiceDetailsCreateRegion)),
        repo=cfg.string("repo", "https://github.com/your-org/your-app",
                        pattern=re.compile(r"^https://\S+$"), what="an https:// repository URL"),
        branch=cfg.string("branch", "main"),
        web=web, ai_service=ai, postgres=postgres, key_value=key_value,
        anthropic_api_key=cfg.secret("anthropicApiKey", "the model API key"),
    )


def _newrelic_settings(cfg: ConfigReader, nr: ConfigReader) -> NewRelicSettings:
    emails = cfg.string_list("notify.emailAddresses", "oncall@example.com,team@example.com",
                             _EMAIL, "e-mail addresses")
    notify = NotifySettings(
        pagerduty_service_key=cfg.secret("pagerdutyServiceKey", "the PagerDuty Events v2 integration key"),
        slack_destination=cfg.string("notify.slackDestination", "'Slack: my-workspace'"),
        slack_channel_id=cfg.string("notify.slackChannelId", "C0123456789", pattern=_SLACK_CHANNEL,
                                    what="a Slack channel id like C0123456789"),
        email_addresses=emails,
    )
    base = cfg.string("runbookBaseUrl", "https://github.com/your-org/your-repo/blob/main",
                      pattern=re.compile(r"^https://[^\s#?]+$"),
                      what="an https:// URL without query or fragment")
    return NewRelicSettings(
        account_id=nr.string("accountId", "1234567", pattern=_DIGITS,
                             what="a numeric New Relic account id"),
        region=nr.string("region", "US", choices=("US", "EU")),
        runbook_base_url=base.rstrip("/"),
        notify=notify,
        monitor_locations=cfg.string_list(
            "healthMonitor.locations", ",".join(DEFAULT_MONITOR_LOCATIONS), _PUBLIC_LOCATION,
            "New Relic public locations without the AWS_ prefix, like US_WEST_2",
            default=DEFAULT_MONITOR_LOCATIONS),
    )


_GITHUB_REPO = re.compile(r"^https://github\.com/[\w.-]+/[\w.-]+$")
MIN_HOOK_TOKEN = 32      # as rollout serve requires (rollout/serve/config.py)
MIN_PAGE_TOKEN = 32      # as its status page requires (rollout/serve/page_auth.py)


def _guard_settings(cfg: ConfigReader, plans: tuple) -> GuardSettings:
    interval = cfg.integer("guard.interval", "60", 10, 3600)
    token = cfg.raw("guardHookToken")
    if token is not None and len(str(token).strip()) < MIN_HOOK_TOKEN:
        cfg.fail("guardHookToken", f"expected at least {MIN_HOOK_TOKEN} characters",
                 "(it prompts for the output of: openssl rand -hex 32)", secret=True)
    page = cfg.raw("guardPageToken")
    # rollout serve would disable the page rather than refuse to start: say it here
    if page is not None and len(str(page).strip()) < MIN_PAGE_TOKEN:
        cfg.fail("guardPageToken", f"expected at least {MIN_PAGE_TOKEN} characters",
                 "(it prompts for the output of: openssl rand -hex 16)", secret=True)
    if page is not None and token is not None and str(page).strip() == str(token).strip():
        cfg.fail("guardPageToken", "must differ from guardHookToken (New Relic holds that one)",
                 "(it prompts for the output of: openssl rand -hex 16)", secret=True)
    return GuardSettings(
        repo=cfg.string("guard.repo", "https://github.com/your-org/skills-rollout",
                        pattern=_GITHUB_REPO, what="this repository's https://github.com/OWNER/NAME"),
        branch=cfg.string("guard.branch", "main"),
        plan=cfg.string("guard.plan", "starter", choices=plans),
        instances=cfg.integer("guard.instances", "2", 1, 10),
        interval=interval,
        lease_ttl=cfg.integer("guard.leaseTtl", str(2 * interval), interval + 1, 4 * 3600),
        hook_token=cfg.secret("guardHookToken", "the webhook token: openssl rand -hex 32"),
        newrelic_query_key=cfg.secret("guardNewRelicQueryKey",
                                      "a New Relic User key (NRAK-...) that may query NRQL"),
        slack_webhook_url=cfg.secret("guardSlackWebhookUrl", "the Slack incoming-webhook URL"),
        github_token=cfg.secret("guardGithubToken",
                                "a GitHub token with contents and pull-requests write"),
        page_token=cfg.secret("guardPageToken",
                              "the status page's password: openssl rand -hex 16"),
    )

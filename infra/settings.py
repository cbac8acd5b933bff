"""The stack configuration, read and checked once, as plain typed values.

Everything that differs between forks (account and owner ids, region, plans, notification
targets, the runbook base URL) lives in Pulumi.<stack>.yaml, never in code. A missing or
invalid value stops the program with ONE line naming the key and the command that sets it,
raised as pulumi.RunError so the CLI prints the message without a traceback.

Allowed plans and regions are taken from the provider SDK's own enums, so they cannot drift
from what the Render API accepts.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass

import pulumi
from pulumi.runtime.config import get_config, is_config_secret
import pulumi_render.key_value as rkv
import pulumi_render.postgres as rpg
import pulumi_render.services as rsvc

PROJECT = "skills-rollout"

_OWNER_ID = re.compile(r"^(tea|usr)-[a-z0-9]+$")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{8,}$")
_DIGITS = re.compile(r"^[0-9]+$")
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

_REQUIRED = object()     # lookup() without a default: a missing key is an error


class ConfigError(pulumi.RunError):
    """A stack configuration value is missing or invalid."""


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


class _Reader:
    """Reads one config namespace; every failure names the key and how to set it."""

    def __init__(self, namespace: str):
        self.ns = namespace

    def _key(self, top: str) -> str:
        return f"{self.ns}:{top}"

    def fail(self, path: str, problem: str, example: str, secret: bool = False):
        flags = (" --secret" if secret else "") + (" --path" if "." in path else "")
        key = path if self.ns == PROJECT else f"{self.ns}:{path}"
        raise ConfigError(f"config {self.ns}:{path}: {problem}; "
                          f"set it with: pulumi config set{flags} {key} {example}")

    def raw(self, top: str):
        return get_config(self._key(top))

    def string(self, path: str, example: str, pattern: re.Pattern | None = None,
               choices: tuple | None = None, what: str = "", default=_REQUIRED) -> str:
        value = self.lookup(path, example, default)
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"expected {what or 'a non-empty string'}, got {value!r}", example)
        value = value.strip()
        if choices is not None and value not in choices:
            self.fail(path, f"expected one of {', '.join(choices)}, got {value!r}", example)
        if pattern is not None and not pattern.match(value):
            self.fail(path, f"expected {what}, got {value!r}", example)
        return value

    def integer(self, path: str, example: str, low: int, high: int) -> int:
        value = self.lookup(path, example)
        if isinstance(value, str) and _DIGITS.match(value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(path, f"expected a whole number from {low} to {high}, got {value!r}", example)
        return value

    def boolean(self, path: str, example: str, default=_REQUIRED) -> bool:
        value = self.lookup(path, example, default)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {value!r}", example)
        return value

    def string_list(self, path: str, example: str, pattern: re.Pattern, what: str,
                    default=_REQUIRED) -> tuple:
        """A list in the stack file; `pulumi config set --path <key> a,b` stores a
        comma-separated string, which is read as the same list."""
        value = self.lookup(path, example, default)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        if not isinstance(value, (list, tuple)) or not value or not all(
                isinstance(v, str) and pattern.match(v) for v in value):
            self.fail(path, f"expected a list of {what}, got {value!r}", example)
        return tuple(value)

    def lookup(self, path: str, example: str, default=_REQUIRED):
        """The value at a dotted path; structured values arrive as JSON text. A missing
        key is an error unless a default is given."""
        top, *rest = path.split(".")
        value = self.raw(top)
        if value is None:
            if default is not _REQUIRED:
                return default
            self.fail(path, "missing", example)
        if rest:
            try:
                value = json.loads(value) if isinstance(value, str) else value
            except json.JSONDecodeError:
                pass
            walked = top
            for part in rest:
                if not isinstance(value, dict):
                    raise ConfigError(
                        f"config {self.ns}:{walked}: expected a mapping with key {part!r}, got "
                        f"{value!r}; set its keys with: pulumi config set --path "
                        f"{walked}.<key> <value> (docs/infrastructure.md lists them)")
                if part not in value:
                    if default is not _REQUIRED:
                        return default
                    self.fail(path, "missing", example)
                value = value[part]
                walked += "." + part
        return value

    def cidr_list(self, path: str, example: str, default: tuple) -> tuple:
        """CIDR blocks (a list, or the comma-separated string `config set --path` stores);
        an empty list is allowed: no connection from outside Render."""
        value = self.lookup(path, example, default)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        try:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ValueError
            return tuple(str(ipaddress.ip_network(v, strict=True)) for v in value)
        except ValueError:
            self.fail(path, f"expected a list of CIDR blocks like 203.0.113.0/24 (or [] for "
                      f"none), got {value!r}", example)

    def secret(self, top: str, example: str) -> pulumi.Output:
        """`example` says what the value is, e.g. "the PagerDuty integration key"."""
        value = self.raw(top)
        # Leaving the value out makes the CLI prompt for it: it stays out of shell history.
        prompt = f"(it prompts for {example})"
        if value is None or not str(value).strip():
            self.fail(top, "missing (a secret)", prompt, secret=True)
        if not is_config_secret(self._key(top)):
            self.fail(top, "is stored in plain text; it must be a secret", prompt, secret=True)
        return pulumi.Output.secret(str(value))

    def credential(self, top: str, example: str, env: tuple) -> None:
        """A provider credential: the provider reads it itself, from this config key or from
        its environment variable (how CI passes it); we only check that one of them is set."""
        if self.raw(top) is None and any(os.environ.get(e) for e in env):
            return
        try:
            self.secret(top, example)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (or export {' or '.join(env)})") from None


def _autoscaling(cfg: _Reader) -> Autoscaling | None:
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
    cfg = _Reader(PROJECT)
    nr = _Reader("newrelic")
    render = _Reader("render")

    # pulumi-render 0.6 falls back to RENDER_APIKEY; the New Relic provider to NEW_RELIC_API_KEY.
    render.credential("apiKey", "the Render API key", ("RENDER_APIKEY",))
    nr.credential("apiKey", "the New Relic User key (NRAK-...)", ("NEW_RELIC_API_KEY",))

    regions = _enum_values(rsvc.WebServiceDetailsCreateRegion)
    service_plans = _enum_values(rsvc.WebServiceDetailsCreatePlan)

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
    render_settings = RenderSettings(
        owner_id=cfg.string("ownerId", "tea-abc123", pattern=_OWNER_ID,
                            what="a Render workspace id like tea-... or usr-..."),
        region=cfg.string("region", "oregon", choices=regions),
        repo=cfg.string("repo", "https://github.com/your-org/your-app",
                        pattern=re.compile(r"^https://\S+$"), what="an https:// repository URL"),
        branch=cfg.string("branch", "main"),
        web=web, ai_service=ai, postgres=postgres, key_value=key_value,
        anthropic_api_key=cfg.secret("anthropicApiKey", "the model API key"),
    )

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
    newrelic = NewRelicSettings(
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
    return Settings(render=render_settings, newrelic=newrelic,
                    guard=_guard_settings(cfg, service_plans))


_GITHUB_REPO = re.compile(r"^https://github\.com/[\w.-]+/[\w.-]+$")
MIN_HOOK_TOKEN = 32      # as rollout serve requires (rollout/serve/config.py)
MIN_PAGE_TOKEN = 32      # as its status page requires (rollout/serve/page_auth.py)


def _guard_settings(cfg: _Reader, plans: tuple) -> GuardSettings:
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

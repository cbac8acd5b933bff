"""No secret in plain text: credentials live only where the program makes them Pulumi secrets.

What the analyzer can and cannot tell: the engine sends a resource's inputs with secrets
marked, but pulumi-policy (1.21) unwraps them before a rule sees `args.props` (only a
remediation gets the marked form), so a validation cannot ask "is this value a secret?".
This rule therefore judges by place and by look:

- `SECRET_SLOTS` lists the inputs where the program puts its secrets (infra/render.py,
  alerts/newrelic.py, the providers' keys). tests/test_policy.py runs the program under
  mocks, where secrets still arrive marked, and fails unless every slot holds a Pulumi
  secret; infra/settings.py refuses the four secrets when they are set in plain text.
- Anywhere else, a value that looks like a credential (by its text, or by the name of the
  input or env var holding it) is a violation: it would sit in the state and the preview
  in clear text. The message names the place, never the value.

Seed 002 "Security": all secrets via Render environment variables, never in code.
"""
from __future__ import annotations

import re

from skills_policy.model import leaf_name, walk
from skills_policy.registry import ANY_TYPE, rule

SECRET_SLOTS = {
    "render:services:EnvVarsForService": (
        "envVars[ANTHROPIC_API_KEY].value",                         # infra/render.py
        # infra/guard_service.py (rollout serve, where the stack has it)
        "envVars[ROLLOUT_STORE].value", "envVars[ROLLOUT_HOOK_TOKEN].value",
        "envVars[ROLLOUT_PAGE_TOKEN].value",                        # the status page
        "envVars[NEW_RELIC_API_KEY].value", "envVars[SLACK_WEBHOOK_URL].value",
        "envVars[PAGERDUTY_ROUTING_KEY].value", "envVars[GITHUB_TOKEN].value"),
    "render:env-groups:EnvGroup": ("envVars[DATABASE_URL].value", "envVars[REDIS_URL].value"),
    "newrelic:index/notificationDestination:NotificationDestination": ("authToken.token",),
    "pulumi:providers:render": ("apiKey",),
    "pulumi:providers:newrelic": ("apiKey", "adminApiKey", "insightsInsertKey"),
}

# (what it is, how its text looks)
SECRET_LOOKS = (
    ("a New Relic key",
     re.compile(r"\bNR(?:AK|AA|AL|II|JS|SP)-[A-Za-z0-9]{8,}|\b[0-9a-f]{36}NRAL\b")),
    ("an Anthropic API key", re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{8,}")),
    ("a secret API key (sk-...)", re.compile(r"\bsk-[A-Za-z0-9]{20,}")),
    ("a Render API key", re.compile(r"\brnd_[A-Za-z0-9]{8,}")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")),
    ("a Slack token or webhook", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}|hooks\.slack\.com/services/")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a connection string with a password", re.compile(r"\b[a-z][a-z0-9+.\-]*://[^/\s:@]*:[^/\s@]+@")),
    ("a bearer token", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{16,}")),
)

# Inputs and env vars whose name says they hold a credential (a PagerDuty routing key has no
# telltale text, but PAGERDUTY_ROUTING_KEY or routingKey has a telltale name).
SECRET_NAME = re.compile(r"(?i)(pass(word|wd)|secret|token|api_?key|private_?key|access_?key|"
                         r"routing_?key|service_?key|integration_?key|license_?key|credential)")
MIN_NAMED_SECRET = 8          # characters; shorter values under such a name are placeholders


def looks_secret(path: str, value) -> str | None:
    """What the value looks like if it looks like a credential, else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    for what, pattern in SECRET_LOOKS:
        if pattern.search(value):
            return what
    name = leaf_name(path)
    if SECRET_NAME.search(name.replace("-", "_")) and len(value.strip()) >= MIN_NAMED_SECRET:
        return f"a credential (its name {name!r} says so)"
    return None


@rule("no-plaintext-secrets", "No credential in a plain (non-secret) input",
      reason="seed 002 Security Requirements: all secrets via Render environment variables (never "
             "in code); secrets only with `pulumi config set --secret` (docs/infrastructure.md)",
      types=(ANY_TYPE,))
def no_plaintext_secrets(resource, catalog):
    slots = SECRET_SLOTS.get(resource.type, ())
    for path, value in walk(resource.props):
        if path in slots:
            continue
        what = looks_secret(path, value)
        if what:
            yield (f"{resource.label}: {path} holds what looks like {what} in plain text; "
                   f"make it a Pulumi secret (config set --secret, pulumi.Output.secret) in one "
                   f"of the places policy/skills_policy/secret_rules.py lists")

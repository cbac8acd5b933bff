"""Secrets never print: the one filter every message, history row and delivery detail
passes through.

Two nets, because neither catches everything alone:
- patterns for what a secret looks like wherever it came from: the password of a URL of
  any scheme (`postgress://user:PASSWORD@…` too), `password=`/`token=`/`key=` parameters
  of a query string or a libpq keyword string, bearer tokens, New Relic keys (NRAK-…),
  GitHub tokens (ghp_…, github_pat_…), Slack tokens and webhook paths;
- the literal values of the secrets this process was given (environment variables named
  like a secret, and the passwords of URLs on its command line), which catches what no
  pattern can recognise, such as a PagerDuty routing key.

`rollout` wraps stdout and stderr in RedactingStream (rollout/cli/main.py); the stores
redact history rows and delivery details before writing them.
"""
from __future__ import annotations

import json
import os
import re
from html import escape

MASK = "***"
_MIN_LITERAL = 8            # shorter values would mangle ordinary words

# Environment variables whose values are secrets, by name.
SECRET_ENV = re.compile(r"(TOKEN|_KEY|SECRET|PASSWORD|PASSWD|WEBHOOK_URL|^PGPASSWORD)$", re.I)
# ... and those that hold URLs which may carry a password.
URL_ENV = ("ROLLOUT_STORE", "ROLLOUT_HISTORY", "DATABASE_URL", "ROLLOUT_METRICS")

_PARAM = r"(?:password|passwd|pwd|pass|token|access_token|auth_token|api[_-]?key|apikey|key|" \
         r"secret|client_secret|routing_key|integration_key|sig|signature|license_key)"
_JSON_KEY = r"(?:password|passwd|token|access_token|auth_token|api[_-]?key|apikey|secret|" \
            r"client_secret|routing_key|integration_key|license_key)"
_PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    # scheme://user:password@host (the last @ before the path, so a password with @ goes)
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s'\"]*):[^/\s'\"]*@"), rf"\1:{MASK}@"),
    # ?token=...&key=... and libpq `password=secret` / `password='se cret'`
    (re.compile(rf"(?i)(\b{_PARAM}\s*=\s*)('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&;'\",)]+)"),
     rf"\1{MASK}"),
    # "routing_key": "..." in JSON (not a bare "key": reports use it for row names)
    (re.compile(rf"(?i)(\"{_JSON_KEY}\"\s*:\s*\")(?:[^\"\\]|\\.)*\""), rf'\1{MASK}"'),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{12,}"), rf"\1\2{MASK}"),
    (re.compile(r"\bNR[A-Z]{2}-[A-Za-z0-9]{8,}"), f"NRAK-{MASK}"),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), f"github_pat_{MASK}"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), f"ghp_{MASK}"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), f"xoxb-{MASK}"),
    # a Slack incoming webhook is its own secret: /services/T…/B…/<token>
    (re.compile(r"/services/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+"), f"/services/{MASK}"),
)

_literals: set[str] = set()


def register(secret: str | None) -> None:
    """Also mask this exact value from now on (a password given on the command line)."""
    if secret and len(secret) >= _MIN_LITERAL and secret != MASK:
        _literals.add(secret)


def _url_password(text: str) -> str | None:
    m = re.search(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:([^/\s]*)@", text)
    if m:
        return m.group(1)
    m = re.search(r"(?i)\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", text)
    return m.group(1).strip("'") if m else None


def register_args(args: list[str]) -> None:
    """Passwords inside URLs or libpq strings given as arguments."""
    for a in args:
        register(_url_password(a))


def _env_literals() -> list[str]:
    found = []
    for name, value in os.environ.items():
        if SECRET_ENV.search(name):
            found.append(value)
        elif name in URL_ENV:
            found.append(_url_password(value) or "")
    return [v for v in found if len(v) >= _MIN_LITERAL]


def _all_literals() -> list[str]:
    # longest first, so a secret that contains another is masked whole
    return sorted(_literals.union(_env_literals()), key=len, reverse=True)


def literal_forms(secrets, minimum: int = _MIN_LITERAL) -> list[str]:
    """The secrets as they may appear in a text: as given, HTML-escaped (a page) and
    JSON-escaped (a document), longest first so one that contains another goes whole.
    `minimum` is lower for secrets a caller names itself (a load test's URL password)."""
    values = {s for s in secrets if s and len(s) >= minimum and s != MASK}
    forms = {f for v in values for f in (v, escape(v, quote=True), json.dumps(v)[1:-1])}
    return sorted(forms, key=len, reverse=True)


def redact(text: str, literals: list[str] | None = None, extra: list[str] = ()) -> str:
    """The text with every secret it holds replaced by ***: the process's own secrets (or
    `literals`), `extra` forms from literal_forms(), and every pattern above."""
    if not text:
        return text
    known = _all_literals() if literals is None else literals
    for secret in sorted([*known, *extra], key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact_json(value, literals: list[str] | None = None):
    """redact() applied to every string in a JSON-like value (evidence dicts)."""
    literals = _all_literals() if literals is None else literals
    if isinstance(value, str):
        return redact(value, literals)
    if isinstance(value, dict):
        return {redact(str(k), literals): redact_json(v, literals) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_json(v, literals) for v in value]
    return value


class RedactingStream:
    """A text stream that redacts whole lines before they reach the wrapped one (a
    secret is never split between two writes of one line)."""

    def __init__(self, stream):
        self._stream = stream
        self._pending = ""
        self._literals: list[str] | None = None    # the secrets, looked up once per process

    def _redact(self, text: str) -> str:
        if self._literals is None:
            self._literals = _all_literals()
        return redact(text, self._literals)

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            done, self._pending = self._pending.rsplit("\n", 1)
            self._stream.write(self._redact(done + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._stream.write(self._redact(self._pending))
            self._pending = ""
        self._stream.flush()

    def __getattr__(self, name):        # encoding, isatty, fileno...
        return getattr(self._stream, name)

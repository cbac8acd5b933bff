"""The secrets this service holds, blanked out of every body it answers.

Nothing secret should ever reach the store or a page; this is the second line, for what
got there anyway (a token pasted into an abort's reason, an error message that quoted a
URL). The status page passes every body through it. The masking itself is the project's
one redaction (rollout/redact.py: its patterns and the process's secrets); this adds the
secrets of the service's own configuration, in their raw, HTML- and JSON-escaped forms.
"""
from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit

from rollout.redact import literal_forms, redact

SECRET_ENV = ("ROLLOUT_HOOK_TOKEN", "ROLLOUT_PAGE_TOKEN", "NEW_RELIC_API_KEY",
              "SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY", "GITHUB_TOKEN",
              "ROLLOUT_HTTP_TOKEN")      # the http store's (rollout/adapters/store/http.py)
_CONNINFO_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*'?([^'\s]+)")


def url_secrets(url: str | None) -> list[str]:
    """The password of a store URL (postgres://user:pw@host/db or key=value conninfo)."""
    if not url:
        return []
    found = [m.group(1) for m in _CONNINFO_PASSWORD.finditer(url)]
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        found += [password, unquote(password)]
    return found


class Redactor:
    def __init__(self, secrets):
        self._forms = literal_forms(secrets)

    @classmethod
    def for_service(cls, cfg, env=None) -> "Redactor":
        env = os.environ if env is None else env
        return cls([env.get(k) for k in SECRET_ENV] + [cfg.hook_token, cfg.page_token]
                   + url_secrets(cfg.store_url) + url_secrets(cfg.history_url))

    def __call__(self, text: str) -> str:
        return redact(text, extra=self._forms)

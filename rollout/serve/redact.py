"""The secrets this service holds, and a function that blanks them out of a text.

Nothing secret should ever reach the store or a page; this is the second line, for what
got there anyway (a token pasted into an abort's reason, an error message that quoted a
URL). The status page passes every body through it: the raw value, its HTML-escaped and
its JSON-escaped forms are replaced.
"""
from __future__ import annotations

import json
import os
import re
from html import escape
from urllib.parse import unquote, urlsplit

SECRET_ENV = ("ROLLOUT_HOOK_TOKEN", "ROLLOUT_PAGE_TOKEN", "NEW_RELIC_API_KEY",
              "SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY", "GITHUB_TOKEN",
              "ROLLOUT_HTTP_TOKEN")      # the http store's (rollout/adapters/store/http.py)
MIN_SECRET = 8                  # shorter values would blank ordinary words
MASK = "[redacted]"
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
        values = {s for s in secrets if s and len(s) >= MIN_SECRET}
        forms = {f for s in values for f in (s, escape(s, quote=True), json.dumps(s)[1:-1])}
        self._forms = sorted(forms, key=len, reverse=True)    # longest first

    @classmethod
    def for_service(cls, cfg, env=None) -> "Redactor":
        env = os.environ if env is None else env
        return cls([env.get(k) for k in SECRET_ENV] + [cfg.hook_token, cfg.page_token]
                   + url_secrets(cfg.store_url) + url_secrets(cfg.history_url))

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

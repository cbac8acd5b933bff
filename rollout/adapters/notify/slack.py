"""Post an incident to a Slack incoming webhook as Block Kit."""
from __future__ import annotations

import os
from collections.abc import Mapping

from rollout.adapters import http
from rollout.adapters.notify.incident import Incident, clip
from rollout.errors import ExternalError, UserError

# Block Kit limits (api.slack.com/reference/block-kit/blocks): a header's plain_text 150
# chars, a section's text 3000, at most 10 fields of 2000 each. Slack refuses the whole
# message (400 invalid_blocks) past any of them, so we cut rather than lose the alert.
HEADER_LIMIT = 150
TEXT_LIMIT = 3000
FIELD_LIMIT = 2000


def _escape(text: str) -> str:
    # mrkdwn treats these three as control characters (links, mentions).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fallback_text(incident: Incident) -> str:
    """The plain line shown in notifications and by clients that cannot draw blocks."""
    what = "automatic rollback of" if incident.kind == "rollback" else "hold and investigate on"
    return clip(f"{incident.severity} {what} {incident.flag}: "
                f"{incident.from_percentage}% → {incident.to_percentage}% — {incident.title}",
                TEXT_LIMIT)


def build_message(incident: Incident, links: Mapping[str, str] | None = None) -> dict:
    """The webhook body: {"text": fallback, "blocks": [...]}, every part within Slack's limits."""
    reasons = "\n".join(f"• {_escape(r)}" for r in incident.reasons) or "_none given_"
    blocks: list[dict] = [
        {"type": "header",
         "text": {"type": "plain_text", "emoji": True,
                  "text": clip(f"{incident.severity} "
                               f"{'rollback' if incident.kind == 'rollback' else 'hold and investigate'}"
                               f": {incident.flag}", HEADER_LIMIT)}},
        {"type": "section",
         "text": {"type": "mrkdwn", "text": clip(f"*{_escape(incident.title)}*", TEXT_LIMIT)},
         "fields": [
             {"type": "mrkdwn", "text": clip(f"*Flag*\n`{_escape(incident.flag)}`", FIELD_LIMIT)},
             {"type": "mrkdwn", "text": f"*Severity*\n{incident.severity}"},
             {"type": "mrkdwn", "text": f"*Percentage*\n{incident.from_percentage}% → "
                                        f"{incident.to_percentage}%"},
             {"type": "mrkdwn", "text": clip(f"*Reasons*\n{reasons}", FIELD_LIMIT)},
         ]},
    ]
    if incident.evidence_markdown.strip():
        # A code block keeps the evidence tables aligned; Slack has no Markdown tables.
        head, fence = "*Evidence*\n```", "```"
        body = clip(_escape(incident.evidence_markdown.strip()),
                    TEXT_LIMIT - len(head) - len(fence))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": head + body + fence}})
    if links:
        text = "  ·  ".join(f"<{href}|{_escape(label)}>" for label, href in links.items())
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": clip(text, TEXT_LIMIT)}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(
        f"revision `{incident.revision[:12]}` · state file `{_escape(incident.state_path)}` · "
        f"{incident.timestamp}", TEXT_LIMIT)}]})
    return {"text": fallback_text(incident), "blocks": blocks}


class SlackNotifier:
    """Slack incoming webhook. The URL is itself the secret, so it never appears in errors."""

    def __init__(self, webhook_url: str, *, policy: http.RetryPolicy = http.DEFAULT_POLICY):
        self._url = webhook_url
        self._policy = policy

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SlackNotifier:
        env = os.environ if env is None else env
        url = env.get("SLACK_WEBHOOK_URL", "")
        if not url:
            raise UserError("SLACK_WEBHOOK_URL is not set: expected the Slack incoming webhook URL")
        return cls(url)

    def __repr__(self) -> str:
        return "SlackNotifier(webhook_url=<hidden>)"

    def notify(self, incident: Incident, links: Mapping[str, str] | None = None) -> None:
        """Post the incident; `links` maps a label to a URL (e.g. the revert pull request)."""
        try:
            resp = http.request("POST", self._url, what="Slack", policy=self._policy,
                                json=build_message(incident, links))
            http.raise_for_status(resp, "Slack webhook")
        except ExternalError as exc:
            raise ExternalError(str(exc).replace(self._url, "<webhook URL>")) from None

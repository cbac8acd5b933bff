"""Page on-call through the PagerDuty Events API v2 (trigger and resolve one alert)."""
from __future__ import annotations

import os
from collections.abc import Mapping

from rollout.adapters import http
from rollout.adapters.notify.incident import Incident, clip
from rollout.errors import ExternalError, UserError

DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITY = {"SEV1": "critical", "SEV2": "error", "SEV3": "warning"}
SUMMARY_LIMIT = 1024       # documented maximum of payload.summary
EVIDENCE_LIMIT = 16_000    # keeps the whole event far below PagerDuty's 512 KB cap


def trigger_event(routing_key: str, incident: Incident,
                  links: Mapping[str, str] | None = None) -> dict:
    summary = (f"{incident.severity} automatic rollback of {incident.flag}: "
               f"{incident.from_percentage}% → {incident.to_percentage}% — {incident.title}")
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": incident.dedup_key,
        "payload": {
            "summary": clip(summary, SUMMARY_LIMIT),
            "source": "rollout-controller",
            "severity": SEVERITY[incident.severity],
            "timestamp": incident.timestamp,
            "component": incident.flag,
            "group": "rollout",
            "class": "automatic-rollback",
            "custom_details": {
                "flag": incident.flag,
                "revision": incident.revision,
                "severity": incident.severity,
                "from_percentage": incident.from_percentage,
                "to_percentage": incident.to_percentage,
                "reasons": list(incident.reasons),
                "state_file": incident.state_path,
                "evidence": clip(incident.evidence_markdown, EVIDENCE_LIMIT),
            },
        },
        "links": [{"href": href, "text": text} for text, href in (links or {}).items()],
    }


def resolve_event(routing_key: str, incident: Incident) -> dict:
    return {"routing_key": routing_key, "event_action": "resolve",
            "dedup_key": incident.dedup_key}


class PagerDutyNotifier:
    def __init__(self, routing_key: str, url: str = DEFAULT_EVENTS_URL, *,
                 policy: http.RetryPolicy = http.DEFAULT_POLICY):
        self._routing_key = routing_key
        self.url = url
        self._policy = policy

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PagerDutyNotifier:
        """PAGERDUTY_ROUTING_KEY (required); PAGERDUTY_EVENTS_URL overrides the endpoint."""
        env = os.environ if env is None else env
        key = env.get("PAGERDUTY_ROUTING_KEY", "")
        if not key:
            raise UserError("PAGERDUTY_ROUTING_KEY is not set: expected the Events API v2 "
                            "integration key of the on-call service")
        return cls(key, env.get("PAGERDUTY_EVENTS_URL") or DEFAULT_EVENTS_URL)

    def __repr__(self) -> str:
        return f"PagerDutyNotifier(routing_key=<hidden>, url={self.url!r})"

    def trigger(self, incident: Incident, links: Mapping[str, str] | None = None) -> str:
        """Open (or add to) the alert for this flag+revision; returns PagerDuty's dedup_key."""
        return self._send(trigger_event(self._routing_key, incident, links))

    def resolve(self, incident: Incident) -> str:
        return self._send(resolve_event(self._routing_key, incident))

    def _send(self, event: dict) -> str:
        resp = http.request("POST", self.url, what="PagerDuty", policy=self._policy, json=event)
        http.raise_for_status(resp, f"PagerDuty {event['event_action']}")
        try:
            return resp.json()["dedup_key"]
        except (ValueError, KeyError, TypeError):
            raise ExternalError(f"PagerDuty {event['event_action']}: HTTP {resp.status_code} "
                                f"answer is not the documented JSON with a dedup_key") from None

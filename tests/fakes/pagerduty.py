"""The PagerDuty Events API v2 endpoint (/v2/enqueue), validating events as documented."""
from __future__ import annotations

import json

from tests.fakes.server import FakeServer, Recorded

ENQUEUE_PATH = "/v2/enqueue"
SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")


def _errors(event) -> list[str]:
    if not isinstance(event, dict):
        return ["Event object is not a JSON object"]
    errors = []
    key = event.get("routing_key")
    if not key:
        errors.append("'routing_key' is missing or blank")
    elif len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is missing or invalid (should be one of: trigger, "
                      "acknowledge, resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and len(str(dedup)) > 255:
        errors.append("'dedup_key' is too long (max 255 characters)")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or invalid")
        else:
            if not payload.get("summary"):
                errors.append("'payload.summary' is missing or blank")
            elif len(payload["summary"]) > 1024:
                errors.append("'payload.summary' is too long (max 1024 characters)")
            if not payload.get("source"):
                errors.append("'payload.source' is missing or blank")
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' is missing or invalid (should be one of: "
                              "critical, error, warning, info)")
            details = payload.get("custom_details")
            if details is not None and not isinstance(details, dict):
                errors.append("'payload.custom_details' must be an object")
        links = event.get("links", [])
        if not isinstance(links, list) or any(not isinstance(l, dict) or not l.get("href")
                                              for l in links):
            errors.append("'links' must be a list of objects with an 'href'")
    return errors


class FakePagerDuty(FakeServer):
    """`.url` is the enqueue URL; `.events` the accepted events; `.alerts` open/resolved state."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict] = []
        self.alerts: dict[str, str] = {}   # dedup_key -> "triggered" | "resolved"

    @property
    def url(self) -> str:
        return self.base_url + ENQUEUE_PATH

    def handle(self, req: Recorded):
        if req.method != "POST" or req.path != ENQUEUE_PATH:
            return 404, {}, {"status": "not found", "message": "Not Found"}
        try:
            event = json.loads(req.body)
        except ValueError:
            return 400, {}, {"status": "invalid event", "message": "Event object is invalid",
                             "errors": ["Malformed JSON"]}
        errors = _errors(event)
        if errors:
            return 400, {}, {"status": "invalid event", "message": "Event object is invalid",
                             "errors": errors}
        self.events.append(event)
        key = event.get("dedup_key") or f"auto-{len(self.events)}"
        action = event["event_action"]
        if action == "trigger":
            self.alerts[key] = "triggered"
        elif action == "resolve" and key in self.alerts:
            self.alerts[key] = "resolved"
        return 202, {}, {"status": "success", "message": "Event processed", "dedup_key": key}

"""A Slack incoming webhook: 200 `ok`, or a plain-string error as Slack documents."""
from __future__ import annotations

import json

from tests.fakes.server import FakeServer, Recorded

WEBHOOK_PATH = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"

# Block Kit limits the real API enforces with 400 invalid_blocks.
MAX_BLOCKS = 50
HEADER_LIMIT = 150
TEXT_LIMIT = 3000
MAX_FIELDS = 10
FIELD_LIMIT = 2000
MAX_CONTEXT_ELEMENTS = 10


def _text_ok(obj, limit: int, kinds=("plain_text", "mrkdwn")) -> bool:
    return (isinstance(obj, dict) and obj.get("type") in kinds
            and isinstance(obj.get("text"), str) and 0 < len(obj["text"]) <= limit)


def _block_ok(block) -> bool:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "header":
        return _text_ok(block.get("text"), HEADER_LIMIT, ("plain_text",))
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            return False
        if text is not None and not _text_ok(text, TEXT_LIMIT):
            return False
        return fields is None or (isinstance(fields, list) and 0 < len(fields) <= MAX_FIELDS
                                  and all(_text_ok(f, FIELD_LIMIT) for f in fields))
    if kind == "context":
        elements = block.get("elements")
        return (isinstance(elements, list) and 0 < len(elements) <= MAX_CONTEXT_ELEMENTS
                and all(_text_ok(e, TEXT_LIMIT) for e in elements))
    if kind == "divider":
        return True
    return False


class FakeSlack(FakeServer):
    """`.url` is the webhook URL; accepted payloads land in `.messages`."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict] = []

    @property
    def url(self) -> str:
        return self.base_url + WEBHOOK_PATH

    def handle(self, req: Recorded):
        if req.method != "POST" or req.path != WEBHOOK_PATH:
            return 404, {}, "no_service"
        try:
            payload = json.loads(req.body)
        except ValueError:
            return 400, {}, "invalid_payload"
        if not isinstance(payload, dict):
            return 400, {}, "invalid_payload"
        blocks = payload.get("blocks")
        if not payload.get("text") and not blocks:
            return 400, {}, "no_text"
        if blocks is not None and not (isinstance(blocks, list) and len(blocks) <= MAX_BLOCKS
                                       and all(_block_ok(b) for b in blocks)):
            return 400, {}, "invalid_blocks"
        self.messages.append(payload)
        return 200, {}, "ok"

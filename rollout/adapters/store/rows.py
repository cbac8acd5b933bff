"""Stored rows into typed values, or one ExternalError naming the row and the field.

A history row, an intent or a delivery was written by this program, but a damaged file,
a hand edit or another program's write can still put anything there. Readers never trust
it: every field is checked for its type and range, so a bad row is one clear line
(exit 4), never a traceback, and never a wrong decision taken on a half-read value.
"""
from __future__ import annotations

import json
from datetime import datetime

from rollout.core.state import Applied, Event, as_utc
from rollout.errors import ExternalError

DELIVERY_STATUSES = ("sending", "sent", "failed")


class BadRow(ValueError):
    """A field of a stored row is not what it must be."""


def text(value, field: str, *, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise BadRow(f"field {field}: expected text, got {type(value).__name__}")
    return value


def percentage(value, field: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise BadRow(f"field {field}: expected an integer 0..100, got {value!r:.40}")
    return value


def whole(value, field: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise BadRow(f"field {field}: expected an integer >= {low}, got {value!r:.40}")
    return value


def timestamp(value, field: str) -> datetime:
    """A stored time: a timezone-aware datetime (PostgreSQL) or ISO-8601 text (SQLite)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise BadRow(f"field {field}: expected an ISO-8601 time, got {value!r:.40}") from None
    if not isinstance(value, datetime):
        raise BadRow(f"field {field}: expected a time, got {type(value).__name__}")
    try:
        return as_utc(value)
    except (OverflowError, ValueError):
        raise BadRow(f"field {field}: time {value!r:.40} is out of range") from None


def json_value(raw, field: str, kind: type):
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", "replace")
    if raw is None or raw == "":
        return kind()
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise BadRow(f"field {field}: invalid JSON") from None
    if not isinstance(value, kind):
        raise BadRow(f"field {field}: expected a JSON {kind.__name__}, got {type(value).__name__}")
    return value


def reasons(raw, field: str = "reasons") -> tuple[str, ...]:
    items = json_value(raw, field, list)
    if not all(isinstance(r, str) for r in items):
        raise BadRow(f"field {field}: expected a list of strings")
    return tuple(items)


def event(r, where: str) -> Event:
    """A rollout_history row: (id, flag, at, kind, from_pct, to_pct, reasons, revision,
    git_commit, actor, evidence)."""
    try:
        return Event(flag=text(r[1], "flag"), at=timestamp(r[2], "at"), kind=text(r[3], "kind"),
                     from_pct=percentage(r[4], "from_pct", optional=True),
                     to_pct=percentage(r[5], "to_pct", optional=True), reasons=reasons(r[6]),
                     revision=text(r[7], "revision", optional=True),
                     commit=text(r[8], "git_commit", optional=True),
                     actor=text(r[9], "actor", optional=True),
                     evidence=json_value(r[10], "evidence", dict), id=whole(r[0], "id", 1))
    except BadRow as exc:
        raise ExternalError(f"{where}: history row #{r[0]!r:.20}: {exc}; the store is damaged "
                            f"or was edited by hand") from None


def applied(r, where: str) -> Applied:
    """A feature_flags row: (name, percentage, enabled, updated_at, version)."""
    try:
        return Applied(text(r[0], "name"), percentage(r[1], "percentage"), bool(r[2]),
                       whole(r[4], "version"), timestamp(r[3], "updated_at"))
    except BadRow as exc:
        raise ExternalError(f"{where}: feature_flags row {r[0]!r:.40}: {exc}") from None


def delivery(r, where: str) -> tuple[str, str, int, str]:
    """A rollout_deliveries row: (channel, status, attempts, detail)."""
    try:
        status = text(r[1], "status")
        if status not in DELIVERY_STATUSES:
            raise BadRow(f"field status: expected one of {', '.join(DELIVERY_STATUSES)}, "
                         f"got {status!r:.20}")
        return text(r[0], "channel"), status, whole(r[2], "attempts"), text(r[3], "detail")
    except BadRow as exc:
        raise ExternalError(f"{where}: delivery row {r[0]!r:.40}: {exc}") from None


def event_from_json(raw, where: str) -> Event:
    """An Event as Event.to_json wrote it (the http store's intents)."""
    try:
        d = json_value(raw, "event", dict)
        return Event(flag=text(d.get("flag"), "flag"), at=timestamp(d.get("at"), "at"),
                     kind=text(d.get("kind"), "kind"),
                     from_pct=percentage(d.get("from"), "from", optional=True),
                     to_pct=percentage(d.get("to"), "to", optional=True),
                     reasons=reasons(d.get("reasons")),
                     revision=text(d.get("revision"), "revision", optional=True),
                     commit=text(d.get("commit"), "commit", optional=True),
                     actor=text(d.get("actor"), "actor", optional=True),
                     evidence=json_value(d.get("evidence"), "evidence", dict))
    except BadRow as exc:
        raise ExternalError(f"{where}: {exc}; the store is damaged or was edited by hand") from None


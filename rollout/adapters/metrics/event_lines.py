"""A SkillExecution event as the embedded metric source takes it: one line of NDJSON (or
one dict from a traffic generator), validated field by field before anything is written.
The fields keep New Relic's attribute names, so catalog fields map one to one."""
from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime
from pathlib import Path

from rollout.core.observations import COHORTS
from rollout.errors import UserError

MAX_IMPORT_BYTES = 256 * 1024 * 1024   # ~800,000 events in one file; split larger exports
MAX_LISTED = 10

NUMBERS = ("executionTime", "cost", "tokenSavings")
BOOLEANS = ("success", "cacheHit", "timedOut", "fallback")
TEXTS = ("userId", "skillId", "model")
REQUIRED = ("timestamp", "userId", "skillId", "cohort", "success", "executionTime")


def _parse_time(value) -> int:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 time string, got {value!r}")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected an ISO-8601 time like 2026-11-20T09:00:00Z, got {value!r}") from None
    if t.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone, expected e.g. 2026-11-20T09:00:00Z")
    return round(t.timestamp() * 1000)


def event_row(obj) -> tuple:
    """One validated row for the events table (sqlite_events._INSERT: the content key,
    then the columns), or ValueError naming the field."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in REQUIRED if obj.get(k) is None]
    if missing:
        raise ValueError(f"missing field {missing[0]}")
    try:
        ts = _parse_time(obj["timestamp"])
    except ValueError as exc:
        raise ValueError(f"field timestamp: {exc}") from None
    if obj["cohort"] not in COHORTS:
        raise ValueError(f"field cohort: expected canary or control, got {obj['cohort']!r}")
    rec = {"timestamp": ts, "cohort": obj["cohort"]}
    for k in TEXTS:
        v = obj.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (str, int))):
            raise ValueError(f"field {k}: expected a string, got {v!r}")
        rec[k] = None if v is None else str(v)
    for k in NUMBERS:
        v = obj.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not math.isfinite(v) or (k != "tokenSavings" and v < 0)):
            what = "a number" if k == "tokenSavings" else "a number >= 0"
            raise ValueError(f"field {k}: expected {what}, got {v!r}")
        rec[k] = None if v is None else float(v)
    for k in BOOLEANS:
        v = obj.get(k)
        if v is not None and not isinstance(v, bool):
            raise ValueError(f"field {k}: expected true or false, got {v!r}")
        rec[k] = v
    row = (ts, rec["cohort"], rec["userId"], rec["skillId"], rec["model"],
           rec["executionTime"], rec["success"], rec["cost"], rec["tokenSavings"],
           rec["cacheHit"], rec["timedOut"], rec["fallback"])
    # The key is the content: the same event from a re-imported file, even reformatted
    # JSON, is the same row.
    return (hashlib.sha256(repr(row).encode()).hexdigest()[:32], *row)


def read_ndjson(path: Path) -> list[tuple]:
    """Every line validated before anything is written; UserError lists the bad lines."""
    from rollout.localfile import read_regular_file

    raw = read_regular_file(path, MAX_IMPORT_BYTES, "an NDJSON file")
    rows, bad, nbad = [], [], 0
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(event_row(json.loads(line)))
        except (ValueError, UnicodeDecodeError) as exc:   # JSONDecodeError is a ValueError
            nbad += 1
            if len(bad) < MAX_LISTED:
                msg = f"invalid JSON ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else str(exc)
                bad.append(f"  {path}:{n}: {msg}")
    if nbad:
        more = f"\n  ... and {nbad - len(bad)} more" if nbad > len(bad) else ""
        raise UserError(f"{path}: {nbad} bad line{'s' * (nbad != 1)}, nothing imported\n"
                        + "\n".join(bad) + more)
    return rows

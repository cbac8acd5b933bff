"""The embedded metric source: raw SkillExecution events in a SQLite file.

Events arrive with `rollout events import FILE.ndjson` and land in two tables:

- `skill_events`, one row per event (the truth; plain SQL works on it), keyed by a hash
  of the event's content so re-importing a file adds nothing;
- `skill_event_segments`, the same events packed into numpy record blobs, written in the
  same transaction. Measured here over 100,000 events: SQL aggregates for the catalog
  took ~100 ms of CPU and fetching the latency column alone ~70 ms (sqlite3 builds a
  Python object per value), over the 100 ms budget of a whole evaluation; a segment is
  read with one `frombuffer` and everything is computed in numpy (~40 ms in all).

A fetch uses the segments while they cover exactly the rows (same count; UPDATE and
DELETE triggers drop them), and otherwise reads the rows: slower, never wrong. The next
import rebuilds stale segments. Either way every metric is computed by one numpy
function from the same columns.
"""
from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from datetime import datetime
from pathlib import Path

import numpy as np

from rollout.adapters.metrics.packed import BOOLEANS, NUMBERS, TABLE, cohort_data, evidence_data
from rollout.core.tallies import edges_ms, layout
from rollout.core.observations import COHORTS, CohortData, Observations
from rollout.core.observations import epoch_ms as _ms
from rollout.errors import ExternalError, UserError

MAX_IMPORT_BYTES = 256 * 1024 * 1024   # ~800,000 events in one file; split larger exports
SEGMENT_ROWS = 65536
MAX_LISTED = 10

# Columns carry the New Relic attribute names (NUMBERS, BOOLEANS), so catalog fields map
# one to one.
TEXTS = ("userId", "skillId", "model")
REQUIRED = ("timestamp", "userId", "skillId", "cohort", "success", "executionTime")

# One packed event; null numbers are NaN, null booleans -1, cohort 1 = canary.
EVENT_DTYPE = np.dtype([("timestamp", "<i8"), ("cohort", "i1"), *[(f, "<f8") for f in NUMBERS],
                        *[(f, "i1") for f in BOOLEANS]])
LAYOUT = json.dumps(EVENT_DTYPE.descr)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    eventKey      TEXT NOT NULL UNIQUE,   -- sha256 of the event's content: imports are idempotent
    timestamp     INTEGER NOT NULL,       -- epoch milliseconds, UTC
    cohort        TEXT NOT NULL CHECK (cohort IN ('canary', 'control')),
    userId        TEXT NOT NULL,
    skillId       TEXT NOT NULL,
    model         TEXT,
    executionTime REAL NOT NULL,          -- ms
    success       INTEGER NOT NULL,
    cost          REAL,                   -- USD
    tokenSavings  REAL,                   -- percent
    cacheHit      INTEGER,
    timedOut      INTEGER,
    fallback      INTEGER
);
CREATE INDEX IF NOT EXISTS {TABLE}_time ON {TABLE} (timestamp);
CREATE TABLE IF NOT EXISTS skill_event_segments (
    id        INTEGER PRIMARY KEY,
    start_ms  INTEGER NOT NULL,
    end_ms    INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    last_id   INTEGER NOT NULL,               -- the highest skill_events.id packed here
    layout    TEXT NOT NULL,
    data      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS skill_event_segments_time ON skill_event_segments (end_ms, start_ms);
CREATE TRIGGER IF NOT EXISTS {TABLE}_updated AFTER UPDATE ON {TABLE}
BEGIN DELETE FROM skill_event_segments; END;
CREATE TRIGGER IF NOT EXISTS {TABLE}_deleted AFTER DELETE ON {TABLE}
BEGIN DELETE FROM skill_event_segments; END;
"""

_COLUMNS = ("timestamp", "cohort", *NUMBERS, *BOOLEANS)
_INSERT = (f"INSERT OR IGNORE INTO {TABLE} (eventKey, timestamp, cohort, userId, skillId, model, "
           f"executionTime, success, cost, tokenSavings, cacheHit, timedOut, fallback) "
           f"VALUES ({', '.join('?' * 13)})")


# -- import -------------------------------------------------------------------------------------

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


def _event(obj) -> tuple:
    """One validated row for _INSERT, or ValueError naming the field."""
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
            rows.append(_event(json.loads(line)))
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


def _connect(path: Path, create: bool) -> sqlite3.Connection:
    from rollout.adapters.store.sqlite import connect

    if not create and not path.exists():
        raise UserError(f"events database {path}: no such file; load events with "
                        f"`rollout events import FILE.ndjson`")

    def create_tables(conn):     # idempotent; they may share the flag store's file
        conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")

    # Events can be imported again (the import is idempotent); the flag store's
    # history cannot. So events skip the fsync of every commit, the store does not.
    return connect(path, synchronous="NORMAL", what=f"events database {path}",
                   setup=create_tables if create else None)


def import_ndjson(path, db_path) -> int:
    """Validate every line of `path`, then insert all events in ONE transaction.

    Returns how many events were new. An event already present (same content, hence
    same key) is skipped, so importing the same file twice adds nothing.
    """
    return _insert(read_ndjson(Path(path)), db_path)


def insert_events(db_path, events) -> int:
    """Insert event dicts (validated like an imported line) in one transaction; a
    generator of traffic (`rollout drill`) writes through here."""
    rows = []
    for n, obj in enumerate(events, 1):
        try:
            rows.append(_event(obj))
        except ValueError as exc:
            raise UserError(f"event {n}: {exc}") from None
    return _insert(rows, db_path)


def insert_columns(db_path, cols: dict) -> int:
    """Insert events given column-wise as numpy arrays (a traffic generator's output:
    `timestamp` in epoch ms, `cohort`, `userId`, `skillId`, `model`, the numbers and the
    booleans), checked column by column like an imported line, in one transaction."""
    n = len(cols["timestamp"])
    for k in NUMBERS + ("timestamp",):
        v = np.asarray(cols[k], dtype=float)
        if len(v) != n or not np.isfinite(v).all() or (k != "tokenSavings" and (v < 0).any()):
            raise UserError(f"events column {k}: expected {n} finite numbers >= 0")
    if not set(np.unique(cols["cohort"]).tolist()) <= set(COHORTS):
        raise UserError("events column cohort: expected canary or control")
    body = list(zip(np.asarray(cols["timestamp"], dtype=np.int64).tolist(),
                    list(cols["cohort"]), list(cols["userId"]), list(cols["skillId"]),
                    list(cols["model"]),
                    *[np.asarray(cols[k], dtype=float).tolist() for k in ("executionTime",)],
                    np.asarray(cols["success"], dtype=bool).tolist(),
                    *[np.asarray(cols[k], dtype=float).tolist() for k in ("cost", "tokenSavings")],
                    *[np.asarray(cols[k], dtype=bool).tolist()
                      for k in ("cacheHit", "timedOut", "fallback")]))
    # the same content key as an imported line, so a re-run adds nothing
    rows = [(hashlib.sha256(repr(r).encode()).hexdigest()[:32], *r) for r in body]
    return _insert(rows, db_path)


def _insert(rows: list[tuple], db_path) -> int:
    conn = _connect(Path(db_path), create=True)
    try:
        conn.execute("BEGIN IMMEDIATE")
        in_sync = _segments_in_sync(conn)
        last_id = conn.execute(f"SELECT coalesce(max(id), 0) FROM {TABLE}").fetchone()[0]
        before = conn.total_changes
        conn.executemany(_INSERT, rows)
        added = conn.total_changes - before
        if not in_sync:         # rows changed behind our back: repack them all
            conn.execute("DELETE FROM skill_event_segments")
            _write_segments(conn, _load_rows(conn, "1"), conn.execute(
                f"SELECT coalesce(max(id), 0) FROM {TABLE}").fetchone()[0])
        elif added == len(rows):        # every row is new: pack them as they are
            _write_segments(conn, _pack(rows), last_id + added)
        elif added:                     # some were already there: pack what was inserted
            _write_segments(conn, _load_rows(conn, "id > ?", (last_id,)), last_id + added)
        conn.execute("COMMIT")
        return added
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.DatabaseError):
            raise ExternalError(f"events database {db_path}: {exc}") from None
        raise
    finally:
        conn.close()


# -- columns ------------------------------------------------------------------------------------

def _load_rows(conn, where: str, args=()) -> np.ndarray:
    """Events from the row table as a packed array (the slow, always-correct path)."""
    rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE {where} "
                        f"ORDER BY id", args).fetchall()
    return _columns_to_array(rows)


_ROW_INDEX = {"timestamp": 1, "cohort": 2, "executionTime": 6, "success": 7, "cost": 8,
              "tokenSavings": 9, "cacheHit": 10, "timedOut": 11, "fallback": 12}


def _pack(rows: list[tuple]) -> np.ndarray:
    """Rows as _INSERT takes them, packed (insertion order, like ids)."""
    return _columns_to_array([tuple(r[_ROW_INDEX[c]] for c in _COLUMNS) for r in rows])


def _columns_to_array(rows) -> np.ndarray:
    out = np.zeros(len(rows), EVENT_DTYPE)
    if not rows:
        return out
    cols = dict(zip(_COLUMNS, zip(*rows)))
    out["timestamp"] = cols["timestamp"]
    out["cohort"] = [c == "canary" for c in cols["cohort"]]
    for f in NUMBERS:
        out[f] = np.array(cols[f], dtype=float)              # None -> NaN
    for f in BOOLEANS:
        out[f] = np.nan_to_num(np.array(cols[f], dtype=float), nan=-1)
    return out


def _write_segments(conn, events: np.ndarray, last_id: int) -> None:
    events = np.sort(events, order="timestamp", kind="stable")
    for i in range(0, len(events), SEGMENT_ROWS):
        part = events[i:i + SEGMENT_ROWS]
        conn.execute("INSERT INTO skill_event_segments (start_ms, end_ms, n, last_id, layout, data)"
                     " VALUES (?, ?, ?, ?, ?, ?)",
                     (int(part["timestamp"][0]), int(part["timestamp"][-1]), len(part), last_id,
                      LAYOUT, part.tobytes()))


def _segments_in_sync(conn) -> bool:
    """The packed copy covers exactly the rows: UPDATE and DELETE drop it (triggers), so
    it is enough that no row was inserted past the last one packed (max id: an index
    look-up, not a count of every row)."""
    top = conn.execute(f"SELECT coalesce(max(id), 0) FROM {TABLE}").fetchone()[0]
    packed, foreign = conn.execute(
        "SELECT coalesce(max(last_id), 0), count(layout != ? OR NULL) FROM skill_event_segments",
        (LAYOUT,)).fetchone()
    return top == packed and not foreign


def load_events(conn, start_ms: int, end_ms: int) -> np.ndarray:
    """Every event with start_ms <= timestamp < end_ms, packed."""
    if not _segments_in_sync(conn):
        return _load_rows(conn, "timestamp >= ? AND timestamp < ?", (start_ms, end_ms))
    blobs = conn.execute("SELECT data FROM skill_event_segments WHERE end_ms >= ? AND start_ms < ?",
                         (start_ms, end_ms)).fetchall()
    if not blobs:
        return np.zeros(0, EVENT_DTYPE)
    events = np.concatenate([np.frombuffer(b, EVENT_DTYPE) for (b,) in blobs])
    ts = events["timestamp"]
    return events[(ts >= start_ms) & (ts < end_ms)]


class SQLiteEventSource:
    """MetricSource over the events in one SQLite file."""

    def __init__(self, path) -> None:
        self.path = Path(path)

    def fetch(self, catalog, start: datetime, end: datetime) -> Observations:
        conn = _connect(self.path, create=False)
        try:
            conn.execute("BEGIN")       # one snapshot, even while an import commits
            has_table = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                     (TABLE,)).fetchone()
            events = (load_events(conn, _ms(start), _ms(end)) if has_table
                      else np.zeros(0, EVENT_DTYPE))       # nothing imported yet: no data
        except sqlite3.DatabaseError as exc:
            raise ExternalError(f"events database {self.path}: {exc}") from None
        finally:
            conn.close()
        cohorts, errors = {}, {}
        edges = edges_ms(layout(start, end, catalog.judge))
        for code, name in ((1, "canary"), (0, "control")):
            mine = events[events["cohort"] == code]
            data, errs = cohort_data(catalog, mine)
            cohorts[name] = CohortData(data.requests, data.values,
                                       *evidence_data(catalog, mine, edges))
            errors.update(errs)
        # SkillExecution events hold no synthetic checks or process samples
        unmeasured = frozenset(m.name for m in catalog.metrics.values() if m.service_level)
        return Observations(start, end, cohorts, errors, unmeasured=unmeasured, edges=edges)


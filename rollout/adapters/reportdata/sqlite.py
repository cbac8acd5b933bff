"""Report data from the skill_events table that `rollout events import` fills.

Reuses the metric source's loader and per-cohort computation
(rollout/adapters/metrics/sqlite_events.py), so every catalog metric in a report is the
number the gate saw; only what the gate does not need is computed here: p50/p99/max, the
share under a latency limit, total cost, the model mix (SQL: the model is not in the packed
columns), uptime and the busiest minute.

Uptime here is the share of 1-minute intervals, within the span the events file covers,
that had at least one successful request. It understates uptime when traffic is so thin
that whole minutes pass without a request; New Relic's synthetic checks measure it directly.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from rollout.adapters.metrics.sqlite_events import EVENT_DTYPE, TABLE, cohort_data, load_events
from rollout.core.observations import epoch_ms as _ms
from rollout.core.reports.summaries import (Bucket, BucketCohort, CohortSummary, ModelShare,
                                           Outage, Summary, Uptime, Window)
from rollout.errors import ExternalError, UserError

MINUTE_MS = 60_000
UPTIME_METHOD = "1-minute intervals with at least one successful request (skill_events)"
COHORT_CODES = ((1, "canary"), (0, "control"))


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


def _pct(values: np.ndarray, p: float) -> float | None:
    return float(np.percentile(values, p)) if len(values) else None


class SQLiteReportSource:
    def __init__(self, path) -> None:
        self.path = Path(path)

    # -- plumbing -------------------------------------------------------------------------------
    def _run(self, work):
        if not self.path.exists():
            raise UserError(f"events database {self.path}: no such file; load events with "
                            f"`rollout events import FILE.ndjson` or pass --metrics")
        try:
            conn = sqlite3.connect(self.path, timeout=10)
        except sqlite3.DatabaseError as exc:
            raise ExternalError(f"events database {self.path}: {exc}") from None
        try:
            has_table = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                     (TABLE,)).fetchone() is not None
            return work(conn, has_table)
        except sqlite3.DatabaseError as exc:
            raise ExternalError(f"events database {self.path}: {exc}") from None
        finally:
            conn.close()

    @staticmethod
    def _load(conn, has_table: bool, start: datetime, end: datetime) -> np.ndarray:
        return load_events(conn, _ms(start), _ms(end)) if has_table else np.zeros(0, EVENT_DTYPE)

    # -- interface ------------------------------------------------------------------------------
    def summaries(self, catalog, windows: dict[str, Window], limits_ms=()) -> dict[str, Summary]:
        if not windows:
            return {}

        def work(conn, has_table):
            events = self._load(conn, has_table, min(w.start for w in windows.values()),
                                max(w.end for w in windows.values()))
            coverage = (conn.execute(f"SELECT min(timestamp), max(timestamp) FROM {TABLE}").fetchone()
                        if has_table else (None, None))
            out = {}
            for name, w in windows.items():
                models = self._models(conn, w) if has_table else {}
                out[name] = self._summary(catalog, events, w, tuple(limits_ms), coverage, models)
            return out

        return self._run(work)

    def series(self, catalog, start, end, bucket: timedelta, metrics=()) -> list[Bucket]:
        width = int(bucket.total_seconds() * 1000)
        if width <= 0 or end <= start:
            return []

        def work(conn, has_table):
            events = self._load(conn, has_table, start, end)
            s0, n = _ms(start), -(-(_ms(end) - _ms(start)) // width)
            idx = (events["timestamp"] - s0) // width
            order = np.argsort(idx, kind="stable")
            events, idx = events[order], idx[order]
            bounds = np.searchsorted(idx, np.arange(n + 1))
            out = []
            for i in range(n):
                part = events[bounds[i]:bounds[i + 1]]
                cohorts = {}
                for code, name in COHORT_CODES:
                    ev = part[part["cohort"] == code]
                    data, _ = cohort_data(catalog, ev)
                    cohorts[name] = BucketCohort(len(ev), {m: data.values.get(m) for m in metrics})
                b_start = start + bucket * i
                out.append(Bucket(b_start, min(b_start + bucket, end), cohorts))
            return out

        return self._run(work)

    def latest(self) -> datetime | None:
        def work(conn, has_table):
            row = conn.execute(f"SELECT max(timestamp) FROM {TABLE}").fetchone() if has_table else None
            return _dt(row[0]) if row and row[0] is not None else None

        return self._run(work)

    # -- pieces ---------------------------------------------------------------------------------
    @staticmethod
    def _models(conn, w: Window) -> dict[str, dict[str, ModelShare]]:
        rows = conn.execute(
            f"SELECT cohort, coalesce(model, '(none)'), count(*), sum(cost) FROM {TABLE} "
            f"WHERE timestamp >= ? AND timestamp < ? GROUP BY cohort, model",
            (_ms(w.start), _ms(w.end))).fetchall()
        out: dict[str, dict[str, ModelShare]] = {}
        for cohort, model, n, cost in rows:
            out.setdefault(cohort, {})[model] = ModelShare(n, cost)
        return out

    @staticmethod
    def _summary(catalog, events, w: Window, limits, coverage, models) -> Summary:
        ts = events["timestamp"]
        sel = events[(ts >= _ms(w.start)) & (ts < _ms(w.end))]
        cohorts, errors = {}, {}
        for code, name in COHORT_CODES:
            ev = sel[sel["cohort"] == code]
            data, errs = cohort_data(catalog, ev)
            errors.update(errs)
            t = ev["executionTime"][~np.isnan(ev["executionTime"])]
            cost = ev["cost"][~np.isnan(ev["cost"])]
            cohorts[name] = CohortSummary(
                requests=len(ev), values=dict(data.values),
                p50=_pct(t, 50), p99=_pct(t, 99), max=float(t.max()) if len(t) else None,
                under={lim: (100.0 * int((t < lim).sum()) / len(t) if len(t) else None)
                       for lim in limits},
                cost_total=float(cost.sum()) if len(cost) else None,
                models=models.get(name, {}))
        minutes = sel["timestamp"] // MINUTE_MS
        peak = int(np.unique(minutes, return_counts=True)[1].max()) if len(sel) else None
        return Summary(w, cohorts, _uptime(sel, w, coverage), peak, errors)


def _uptime(events, w: Window, coverage) -> Uptime:
    first, last = coverage
    if first is None:
        return Uptime(None, UPTIME_METHOD, 0, ())
    a, b = max(_ms(w.start), first), min(_ms(w.end), last + 1)
    if b <= a:
        return Uptime(None, UPTIME_METHOD, 0, ())
    m0, m1 = a // MINUTE_MS, (b - 1) // MINUTE_MS
    n = m1 - m0 + 1
    ok = events["timestamp"][events["success"] == 1] // MINUTE_MS
    ok = ok[(ok >= m0) & (ok <= m1)]
    up = np.zeros(n, bool)
    up[(ok - m0).astype(np.int64)] = True
    down = np.flatnonzero(~up)
    outages = []
    if len(down):
        runs = np.split(down, np.flatnonzero(np.diff(down) != 1) + 1)
        outages = [Outage(_dt((m0 + r[0]) * MINUTE_MS), _dt((m0 + r[-1] + 1) * MINUTE_MS)) for r in runs]
    return Uptime(100.0 * int(up.sum()) / n, UPTIME_METHOD, n, tuple(outages))

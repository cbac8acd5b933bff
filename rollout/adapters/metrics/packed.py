"""Catalog metrics and the judge's tallies computed from packed SkillExecution events
(numpy record arrays, rollout/adapters/metrics/sqlite_events.py), the same way New Relic
computes them from NRQL: one function per question, shared by the metric source and the
report data source.
"""
from __future__ import annotations

import numpy as np

from rollout.core.tallies import Tally, spread_fields, tallies
from rollout.core.observations import COHORTS, CohortData

TABLE = "skill_events"
# Columns carry the New Relic attribute names, so catalog fields map one to one.
NUMBERS = ("executionTime", "cost", "tokenSavings")
BOOLEANS = ("success", "cacheHit", "timedOut", "fallback")


def _field(events: np.ndarray, name: str) -> np.ndarray | None:
    """A field as floats with NaN for null; None if the table has no such field."""
    if name in NUMBERS:
        return events[name]
    if name in BOOLEANS:
        v = events[name].astype(float)
        v[v < 0] = np.nan
        return v
    return None


def _matches(events: np.ndarray, name: str, value) -> np.ndarray | None:
    """Which events meet `name IS value` (percentage metrics)."""
    if name == "cohort":
        return events["cohort"] == (1 if value == "canary" else 0) if value in COHORTS \
            else np.zeros(len(events), bool)
    if name in BOOLEANS and isinstance(value, bool):
        return events[name] == int(value)
    return None


_REDUCE = {"average": np.mean, "sum": np.sum, "min": np.min, "max": np.max}


def cohort_data(catalog, events: np.ndarray) -> tuple[CohortData, dict[str, str]]:
    """Every catalog metric's value for one cohort, computed from its events."""
    values, errors = {}, {}
    n = len(events)
    known: dict[str, np.ndarray | None] = {}

    def present(name):          # the field's non-null values, computed once per field
        if name not in known:
            col = _field(events, name)
            known[name] = None if col is None else col[~np.isnan(col)]
        return known[name]

    for m in catalog.metrics.values():
        if not m.aggregate:
            continue            # derived metrics are the gate's; nrql-only ones have no events
        kind, arg = next(iter(m.aggregate.items()))
        if kind == "percentage":
            hits = _matches(events, arg["field"], arg["is"])
            if hits is None:
                errors[m.name] = f"{TABLE} has no boolean field {arg['field']}"
                continue
            # over the events that carry the field, as the NRQL's `IS NOT NULL` does for an
            # optional attribute: not sent is no value, not 0 %
            carried = int((events[arg["field"]] >= 0).sum()) if arg["field"] in BOOLEANS else n
            values[m.name] = 100.0 * int(hits.sum()) / carried if carried else None
            continue
        name = arg["field"] if kind == "percentile" else arg
        col = present(name)
        if col is None:
            errors[m.name] = f"{TABLE} has no numeric field {name}"
        elif kind == "percentile":
            values[m.name] = float(np.percentile(col, arg["p"])) if len(col) else None
        elif kind == "count":
            values[m.name] = float(len(col))
        elif kind in _REDUCE:
            values[m.name] = float(_REDUCE[kind](col)) if len(col) else None
        else:
            errors[m.name] = f"aggregate {kind} cannot be computed from {TABLE}"
    return CohortData(n, values), errors


def _tally_weights(events: np.ndarray, t: Tally) -> np.ndarray | None:
    """What each event adds to a tally (rollout/core/tallies.py), as NRQL would count it."""
    if t.kind == "count":
        return np.ones(len(events))
    col = _field(events, t.field)
    if t.kind == "sum":
        return None if col is None else np.nan_to_num(col, nan=0.0)
    if t.kind == "present":
        return None if col is None else (~np.isnan(col)).astype(float)
    if t.op == ">":
        return None if col is None else (np.nan_to_num(col, nan=-np.inf) > t.value).astype(float)
    hits = _matches(events, t.field, t.value)
    return None if hits is None else hits.astype(float)


def evidence_data(catalog, events: np.ndarray, edges) -> tuple[dict, dict, dict]:
    """(totals, per-bucket sums, spreads) of one cohort's events on the bucket `edges`
    (epoch ms): what the New Relic source reads from its TIMESERIES aliases."""
    edges = np.asarray(edges, dtype=np.int64)
    nb = max(len(edges) - 1, 0)
    slot = np.searchsorted(edges, events["timestamp"], side="right") - 1
    inside = (slot >= 0) & (slot < nb)
    buckets = {}
    for t in tallies(catalog):
        w = _tally_weights(events, t)
        if w is None or not nb:
            buckets[t.key] = [0.0] * nb
            continue
        buckets[t.key] = np.bincount(slot[inside], weights=w[inside], minlength=nb).tolist()
    spreads = {}
    for f in spread_fields(catalog):
        col = _field(events, f)
        col = col[~np.isnan(col)] if col is not None else np.zeros(0)
        spreads[f] = float(np.std(col, ddof=1)) if len(col) > 1 else None
    return {k: float(sum(v)) for k, v in buckets.items()}, buckets, spreads

"""The judge's evidence (rollout/core/tallies.py) as NRQL, and NerdGraph's answer back.

Per series of the step's layout, one query with every tally as a named aggregate:

    SELECT count(*) AS 'k0', filter(count(*), WHERE success IS FALSE) AS 'k1',
           filter(count(*), WHERE executionTime > 10000) AS 'k2', sum(cost) AS 'k3', …
    FROM SkillExecution FACET cohort SINCE <ms> UNTIL <ms> TIMESERIES 5 minutes

and per averaged field one `stddev(field)` with FACET over the window. Rows are read by
the names given, and placed by their beginTimeSeconds, so an answer in another order (or
with a bucket missing: no events) lands where it belongs.
"""
from __future__ import annotations

import math

from rollout.core.tallies import Tally, edges_ms, layout, spread_fields, tallies
from rollout.core.observations import COHORTS
from rollout.core.observations import epoch_ms as _ms


def tally_nrql(t: Tally) -> str:
    if t.kind == "count":
        return "count(*)"
    if t.kind == "sum":
        return f"sum({t.field})"
    if t.kind == "present":
        return f"filter(count(*), WHERE {t.field} IS NOT NULL)"
    if t.op == ">":
        return f"filter(count(*), WHERE {t.field} > {t.value:g})"
    if isinstance(t.value, bool):
        return f"filter(count(*), WHERE {t.field} IS {'TRUE' if t.value else 'FALSE'})"
    return f"filter(count(*), WHERE {t.field} = '{t.value}')"


def evidence_queries(catalog, start, end) -> dict[str, tuple]:
    """alias -> (series index or field, kind, NRQL): the bucket series and the spreads."""
    attr, event = catalog.cohort_attribute, catalog.event
    names = ", ".join(f"{tally_nrql(t)} AS 'k{i}'" for i, t in enumerate(tallies(catalog)))
    out = {}
    for i, span in enumerate(layout(start, end, catalog.judge)):
        unit = f"{span.minutes} minute{'s' * (span.minutes != 1)}"
        out[f"b{i}"] = (i, "buckets", f"SELECT {names} FROM {event} FACET {attr} SINCE "
                                      f"{_ms(span.since)} UNTIL {_ms(span.until)} TIMESERIES {unit}")
    for field in spread_fields(catalog):
        out[f"d_{field}"] = (field, "spread", f"SELECT stddev({field}) AS 'sd' FROM {event} "
                                              f"FACET {attr} SINCE {_ms(start)} UNTIL {_ms(end)}")
    return out


def _number(v) -> float | None:
    if isinstance(v, dict):                  # some aggregates answer {"name": value}
        v = next(iter(v.values()), None)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def series(catalog, start, end, answers: dict[str, list], cohort_of) -> tuple[tuple, dict]:
    """(edges, cohort -> tally key -> per-bucket sums) from the bucket series' rows;
    `answers` maps alias -> rows, `cohort_of(row)` names a row's cohort or None."""
    spans = layout(start, end, catalog.judge)
    edges = edges_ms(spans)
    keys = [t.key for t in tallies(catalog)]
    sums = {c: {k: [0.0] * (len(edges) - 1) for k in keys} for c in COHORTS}
    for i, span in enumerate(spans):
        first, width = _ms(span.since), span.minutes * 60_000
        offset = edges.index(first)
        for row in answers.get(f"b{i}") or []:
            c, begin = cohort_of(row), _number(row.get("beginTimeSeconds"))
            if c is None or begin is None:
                continue
            slot = math.floor((begin * 1000 - first) / width + 1e-9)
            if not 0 <= slot < span.count:
                continue
            for j, key in enumerate(keys):
                sums[c][key][offset + slot] += _number(row.get(f"k{j}")) or 0.0
    return edges, sums


def spreads(answers: dict[str, list], fields, cohort_of) -> dict[str, dict[str, float | None]]:
    """cohort -> field -> standard deviation over the window."""
    out = {c: {f: None for f in fields} for c in COHORTS}
    for field in fields:
        for row in answers.get(f"d_{field}") or []:
            c = cohort_of(row)
            if c is not None:
                out[c][field] = _number(row.get("sd"))
    return out

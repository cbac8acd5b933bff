"""Report data from New Relic: every window of a report in ONE NerdGraph request.

Per window, four NRQL queries travel as GraphQL aliases of the same request (transport,
retries and error handling are the metric source's, rollout/adapters/metrics/newrelic.py):

    w0_c  SELECT count(*) AS 'requests', percentile(executionTime, 50) AS 'p50', …,
            <each catalog metric's aggregate> AS '<metric>' FROM SkillExecution FACET cohort
    w0_m  SELECT count(*), sum(cost) FROM SkillExecution FACET cohort, model
    w0_u  SELECT percentage(count(*), WHERE result = 'SUCCESS') FROM SyntheticCheck WHERE <the
            monitor of the catalog metric service_health>             (uptime)
    w0_p  SELECT max(n) FROM (SELECT count(*) AS n FROM SkillExecution TIMESERIES 1 minute)
          … SINCE <epoch ms> UNTIL <epoch ms>

A time series is one query with FACET cohort TIMESERIES <bucket>.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from rollout.adapters.metrics.newrelic import REQUESTS, NewRelicSource, graphql, row_cohort
from rollout.core.observations import epoch_ms as _ms
from rollout.core.reports.summaries import (Bucket, BucketCohort, CohortSummary, ModelShare,
                                           Summary, Uptime, Window)

LATENCY, COST, MODEL = "executionTime", "cost", "model"      # SkillExecution attributes (002)
UPTIME_METHOD = "synthetic check success (New Relic SyntheticCheck)"
_HEALTH = re.compile(r"^\s*SELECT\s+filter\(count\(\*\),\s*WHERE\s+result\s*=\s*'SUCCESS'\)\s+"
                     r"FROM\s+(\w+)\s+WHERE\s+(.+?)\s*$", re.I)


def _num(v) -> float | None:
    """A result value: a number, or the single entry of a percentile map {"95": x}."""
    if isinstance(v, dict):
        v = next(iter(v.values()), None)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _span(w: Window) -> str:
    return f"SINCE {_ms(w.start)} UNTIL {_ms(w.end)}"


def uptime_nrql(catalog) -> str | None:
    """The service_health metric counts successful checks; uptime is their percentage."""
    m = catalog.metrics.get("service_health")
    found = _HEALTH.match(m.nrql_override or "") if m else None
    if not found:
        return None
    return (f"SELECT percentage(count(*), WHERE result = 'SUCCESS') AS 'uptime', count(*) AS 'checks' "
            f"FROM {found.group(1)} WHERE {found.group(2)}")


def _cohort_select(catalog, limits_ms) -> str:
    parts = ["count(*) AS 'requests'", f"percentile({LATENCY}, 50) AS 'p50'",
             f"percentile({LATENCY}, 99) AS 'p99'", f"max({LATENCY}) AS 'max'",
             f"sum({COST}) AS 'cost_total'"]
    parts += [f"percentage(count(*), WHERE {LATENCY} < {lim:g}) AS 'under_{i}'"
              for i, lim in enumerate(limits_ms)]
    parts += [f"{m.select(catalog)} AS '{m.name}'" for m in catalog.metrics.values() if m.aggregate]
    return ", ".join(parts)


def _alias(i: int, part: str) -> str:
    # The shared transport takes the alias `requests` as the sign that data came back.
    return REQUESTS if (i, part) == (0, "c") else f"w{i}_{part}"


def _summary_queries(catalog, i: int, w: Window, limits_ms: tuple, health: str | None) -> dict:
    """The aliases of window number `i` (the module's docstring shows them)."""
    ev, attr, span = catalog.event, catalog.cohort_attribute, _span(w)
    queries = {_alias(i, "c"): f"SELECT {_cohort_select(catalog, limits_ms)} FROM {ev} "
                               f"FACET {attr} {span} LIMIT MAX",
               _alias(i, "m"): f"SELECT count(*) AS 'requests', sum({COST}) AS 'cost' FROM {ev} "
                               f"FACET {attr}, {MODEL} {span} LIMIT MAX",
               _alias(i, "p"): f"SELECT max(n) AS 'peak' FROM (SELECT count(*) AS n FROM {ev} "
                               f"TIMESERIES 1 minute) {span}"}
    if health:
        queries[_alias(i, "u")] = f"{health} {span}"
    return queries


class _Answers:
    """The answer of one request: rows per alias, or why an alias has none."""

    def __init__(self, account: dict, alias_errors: dict[str, str]) -> None:
        self.account, self.alias_errors = account, alias_errors

    def rows(self, alias: str) -> list | None:
        answer = self.account.get(alias)
        return answer.get("results") if isinstance(answer, dict) else None

    def why_none(self, alias: str) -> str:
        return self.alias_errors.get(alias) or "New Relic returned no result"


def _models(rows: list | None) -> dict[str, dict[str, ModelShare]]:
    """cohort -> model -> its requests and cost."""
    models: dict[str, dict[str, ModelShare]] = {}
    for row in rows or []:
        facet = row.get("facet")
        if isinstance(facet, list) and len(facet) == 2:
            models.setdefault(facet[0], {})[str(facet[1] or "(none)")] = ModelShare(
                int(_num(row.get("requests")) or 0), _num(row.get("cost")))
    return models


def _cohorts(catalog, rows: list, limits_ms: tuple, models) -> dict[str, CohortSummary]:
    cohorts = {}
    for row in rows:
        c = row_cohort(row, catalog.cohort_attribute)
        if not c:
            continue
        cohorts[c] = CohortSummary(
            requests=int(_num(row.get("requests")) or 0),
            values={m.name: _num(row.get(m.name)) for m in catalog.metrics.values() if m.aggregate},
            p50=_num(row.get("p50")), p99=_num(row.get("p99")), max=_num(row.get("max")),
            under={lim: _num(row.get(f"under_{k}")) for k, lim in enumerate(limits_ms)},
            cost_total=_num(row.get("cost_total")), models=models.get(c, {}))
    return cohorts


def _summary(catalog, i: int, w: Window, got: _Answers, limits_ms: tuple,
             health: str | None) -> Summary:
    errors = {}
    cohort_rows = got.rows(_alias(i, "c"))
    if cohort_rows is None:
        errors["summary"] = got.why_none(_alias(i, "c"))
    cohorts = _cohorts(catalog, cohort_rows or [], limits_ms, _models(got.rows(_alias(i, "m"))))
    uptime = Uptime(None, UPTIME_METHOD)
    if not health:
        errors["uptime"] = "the catalog metric service_health has no SyntheticCheck query"
    elif got.rows(_alias(i, "u")) is None:
        errors["uptime"] = got.why_none(_alias(i, "u"))
    else:
        first = (got.rows(_alias(i, "u")) or [{}])[0]
        checks = _num(first.get("checks"))
        uptime = Uptime(_num(first.get("uptime")) if checks else None, UPTIME_METHOD)
    peak_rows = got.rows(_alias(i, "p"))
    if peak_rows is None:   # refused (an account without nested queries): say so
        errors["peak"] = got.why_none(_alias(i, "p"))
    peak = _num(((peak_rows or [{}])[0]).get("peak"))
    return Summary(w, cohorts, uptime, None if peak is None else int(peak), errors)


class NewRelicReportSource:
    def __init__(self, source: NewRelicSource) -> None:
        self.nr = source

    def _ask(self, queries: dict[str, str]) -> tuple[dict, dict[str, str]]:
        body = {"query": graphql({a: (None, None, q) for a, q in queries.items()}, self.nr.nrql_timeout),
                "variables": {"account": self.nr.account_id}}
        return self.nr.post(body)

    def summaries(self, catalog, windows: dict[str, Window], limits_ms=()) -> dict[str, Summary]:
        if not windows:
            return {}
        limits_ms, health = tuple(limits_ms), uptime_nrql(catalog)
        queries = {}
        for i, w in enumerate(windows.values()):
            queries.update(_summary_queries(catalog, i, w, limits_ms, health))
        got = _Answers(*self._ask(queries))
        return {name: _summary(catalog, i, w, got, limits_ms, health)
                for i, (name, w) in enumerate(windows.items())}

    def latest(self) -> datetime | None:
        return None         # New Relic holds live data: "latest" is now

    def series(self, catalog, start: datetime, end: datetime, bucket: timedelta,
               metrics=()) -> list[Bucket]:
        minutes = max(1, round(bucket.total_seconds() / 60))
        bucket = timedelta(minutes=minutes)
        selects = ["count(*) AS 'requests'"] + [f"{catalog.metrics[m].select(catalog)} AS '{m}'"
                                                for m in metrics]
        q = (f"SELECT {', '.join(selects)} FROM {catalog.event} FACET {catalog.cohort_attribute} "
             f"{_span(Window(start, end))} TIMESERIES {minutes} minute{'s' * (minutes != 1)} LIMIT MAX")
        account, _ = self._ask({REQUESTS: q})
        n = -(-int((end - start).total_seconds()) // int(bucket.total_seconds()))
        found: dict[int, dict[str, BucketCohort]] = {}
        for row in (account.get(REQUESTS) or {}).get("results") or []:
            c = row_cohort(row, catalog.cohort_attribute)
            begin = row.get("beginTimeSeconds")
            if not c or begin is None:
                continue
            i = int((datetime.fromtimestamp(begin, timezone.utc) - start) // bucket)
            if 0 <= i < n:
                found.setdefault(i, {})[c] = BucketCohort(int(_num(row.get("requests")) or 0),
                                                          {m: _num(row.get(m)) for m in metrics})
        return [Bucket(start + bucket * i, min(start + bucket * (i + 1), end), found.get(i, {}))
                for i in range(n)]

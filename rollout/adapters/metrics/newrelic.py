"""New Relic as a metric source: every catalog metric, both cohorts, ONE NerdGraph request.

Each metric is one NRQL query with `FACET <cohort attribute>` and an explicit
`SINCE <epoch ms> UNTIL <epoch ms>`, sent as a GraphQL alias of the same request:

    query($account: Int!) { actor { account(id: $account) {
      requests: nrql(query: "SELECT count(*) FROM SkillExecution FACET cohort SINCE … UNTIL …",
                     timeout: 30) { results }
      v_skill_error_rate: nrql(query: "…", timeout: 30) { results }
      b1: nrql(query: "SELECT count(*) AS 'k0', … FACET cohort SINCE … UNTIL … TIMESERIES 5 minutes", …
      s_memory_usage: nrql(query: "SELECT max(memoryUsedPercent) FROM SystemSample WHERE … SINCE … UNTIL …", …
    } } }

The judge's evidence comes in the same request (rollout/adapters/metrics/nrql_evidence.py):
the step's per-bucket tallies as TIMESERIES aliases `b0`, `b1` (at most 366 buckets each)
and standard deviations `d_<field>`. Service-level metrics (the catalog's raw `nrql:`, no
cohort) are sent as written, without FACET, each over its own window (`gate_window_minutes`
ending where the evaluation ends; default the evaluation window), and answer one row; a
metric with a `ran:` query also gets `r_<metric>`, the checks that ran in that window.
HTTP 429 / 5xx / timeouts are retried by rollout.adapters.http; GraphQL errors that leave no data at all and are
transient (TIMEOUT, INTERNAL_SERVER_ERROR, SERVER_ERROR) retry the request; a bad key is
never retried; an error on some aliases beside data becomes a per-metric error.
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta

from rollout.adapters import http
from rollout.adapters.retry import Retry
from rollout.adapters.metrics import nrql_evidence
from rollout.core.tallies import spread_fields
from rollout.core.observations import COHORTS, CohortData, Observations
from rollout.core.observations import epoch_ms as _ms
from rollout.errors import ExternalError

WHAT = "New Relic"
RETRYABLE = frozenset({"TIMEOUT", "INTERNAL_SERVER_ERROR", "SERVER_ERROR"})
AUTH = frozenset({"BAD_API_KEY", "UNAUTHORIZED", "UNAUTHENTICATED", "FORBIDDEN"})
_META = frozenset({"facet", "beginTimeSeconds", "endTimeSeconds", "inspectedCount"})
REQUESTS = "requests"



def build_queries(catalog, start: datetime, end: datetime) -> dict[str, tuple]:
    """alias -> (metric name, series index, field or None; kind; NRQL), kind one of
    requests | value | service | ran | buckets | spread."""
    window = f"{_ms(start)} UNTIL {_ms(end)}"
    attr = catalog.cohort_attribute
    out = {REQUESTS: (None, "requests",
                      f"SELECT count(*) FROM {catalog.event} FACET {attr} SINCE {window}")}
    for m in catalog.metrics.values():
        if m.service_level:
            own = m.own_window_minutes
            since = start if own is None else end - timedelta(minutes=own)
            span = f"{_ms(since)} UNTIL {_ms(end)}"
            out[f"s_{m.name}"] = (m.name, "service", m.nrql(catalog, since=span))
            if m.ran:
                out[f"r_{m.name}"] = (m.name, "ran", f"{m.ran['nrql']} SINCE {span}")
            continue
        if not m.aggregate:     # derived: computed by the gate
            continue
        out[f"v_{m.name}"] = (m.name, "value", m.nrql(catalog, facet=True, since=window))
    return {**out, **nrql_evidence.evidence_queries(catalog, start, end)}


def graphql(queries: dict[str, tuple], nrql_timeout: int) -> str:
    fields = " ".join(f"{alias}: nrql(query: {json.dumps(q)}, timeout: {nrql_timeout}) {{ results }}"
                      for alias, (_, _, q) in queries.items())
    return f"query($account: Int!) {{ actor {{ account(id: $account) {{ {fields} }} }} }}"


MAX_ISSUE_PAGES = 20
ISSUE_FIELDS = "issueId priority state title activatedAt createdAt entityNames"


def issues_graphql(priority: str, start: datetime, end: datetime, cursor: str | None) -> str:
    """Open issues of one priority. The time window is written out (EpochMilliseconds
    literals) and the filter uses the documented input FilterIssues: priority [String!],
    states [IssueState!]; CREATED (within its grace period) and ACTIVATED are the open ones."""
    args = (f"filter: {{priority: [{json.dumps(priority)}], states: [CREATED, ACTIVATED]}}, "
            f"timeWindow: {{startTime: {_ms(start)}, endTime: {_ms(end)}}}")
    if cursor:
        args += f", cursor: {json.dumps(cursor)}"
    return (f"query($account: Int!) {{ actor {{ account(id: $account) {{ aiIssues {{ "
            f"issues({args}) {{ issues {{ {ISSUE_FIELDS} }} nextCursor }} }} }} }} }}")


def parse_keyset(rows: list) -> dict[str, set]:
    """attribute -> types from the rows of `SELECT keyset()`: NerdGraph answers one row per
    attribute, {"key": "cacheHit", "type": "boolean"}; the older one-row form
    {"stringKeys": [...], "numericKeys": [...], "booleanKeys": [...]} is read too."""
    out: dict[str, set] = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        if isinstance(row.get("key"), str):
            out.setdefault(row["key"], set()).add(str(row.get("type") or "unknown"))
            continue
        for kind in ("string", "numeric", "boolean"):
            for key in row.get(f"{kind}Keys") or ():
                if isinstance(key, str):
                    out.setdefault(key, set()).add(kind)
    return out


def _error_text(err: dict) -> str:
    cls = _error_class(err)
    msg = " ".join(str(err.get("message") or "unknown error").split())
    return f"{msg} ({cls})" if cls else msg


def _error_class(err: dict) -> str:
    return str(_dig(err, "extensions", "errorClass") or "")


# How NerdGraph names the value of an aggregate in a result row: `count`, `percentage`,
# `filter` (an un-aliased `filter(count(*), WHERE ...)`, as the Service Down query counts
# successful checks), or `<function>.<attribute>` (`percentile.executionTime`,
# `max.memoryUsedPercent`).
_AGGREGATE = re.compile(r"^(?:count|percentage|filter|uniqueCount|rate|median|[a-zA-Z]+\.[\w.]+)$")


def _number(v, key: str):
    """A finite number (the single entry of a percentile map too), None for null, else a
    malformed answer: a value is never guessed from a field of another meaning."""
    if isinstance(v, dict):
        v = next(iter(v.values()), None) if len(v) == 1 else v
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ExternalError(f"{WHAT}: result field {key!r}: expected a number, got {v!r:.40}")
    if key in ("count", "percentage") and v < 0 or key == "percentage" and v > 100:
        raise ExternalError(f"{WHAT}: result field {key!r}: {v:g} is out of range")
    return float(v)


def row_value(row, attr: str, key: str | None = None):
    """The aggregate of one result row, read by its name (`key`, or the one field named
    like an aggregate), never by position: a row may carry other numbers first."""
    if not isinstance(row, dict):
        return None
    if key is None or key not in row:
        named = [k for k in row if k not in _META and k != attr and k != "facet"
                 and _AGGREGATE.match(k)]
        if len(named) != 1:
            return None if not named else _ambiguous(named)
        key = named[0]
    return _number(row[key], key)


def _ambiguous(keys):
    raise ExternalError(f"{WHAT}: a result row holds several aggregates ({', '.join(keys)}); "
                        f"expected one")


def row_cohort(row, attr: str) -> str | None:
    """The cohort a result row is for (its facet on `attr`), None for any other row."""
    if not isinstance(row, dict):
        return None
    facet = row.get(attr, row.get("facet"))
    if isinstance(facet, list):
        facet = facet[0] if facet else None
    return facet if isinstance(facet, str) and facet in COHORTS else None


def _malformed_aliases(account) -> dict[str, str]:
    """Aliases whose `results` is not a list: set to None (no answer) in `account`, so
    the readers see a missing result, with this as its error."""
    bad = {}
    for alias, answer in (account.items() if isinstance(account, dict) else ()):
        if isinstance(answer, dict) and "results" in answer and not (
                isinstance(answer["results"], list)
                and all(isinstance(r, dict) for r in answer["results"])):
            account[alias] = None
            bad[alias] = "New Relic answered results that are not a list of rows"
    return bad


def _dig(obj, *keys):
    """obj[k1][k2]..., or None where a level is missing or not an object."""
    for k in keys:
        obj = obj.get(k) if isinstance(obj, dict) else None
    return obj


class NewRelicSource:
    def __init__(self, account_id: int, api_key: str, endpoint: str, *, nrql_timeout: int = 30,
                 policy: http.RetryPolicy | None = None) -> None:
        self.account_id = account_id
        self.api_key = api_key
        self.endpoint = endpoint
        self.nrql_timeout = nrql_timeout
        # The HTTP wait covers New Relic's own query timeout plus the trip.
        self.policy = policy or http.RetryPolicy(timeout=nrql_timeout + 5.0)

    def fetch(self, catalog, start: datetime, end: datetime) -> Observations:
        return self.fetch_with(catalog, start, end, {})[0]

    def fetch_with(self, catalog, start: datetime, end: datetime,
                   extra: dict[str, str]) -> tuple[Observations, dict[str, list | str]]:
        """fetch(), with more NRQL queries (alias -> NRQL) in the same request; their
        answers come back as alias -> result rows, or the error text of that alias."""
        queries = build_queries(catalog, start, end)
        sent = {**queries, **{alias: (None, "extra", q) for alias, q in extra.items()}}
        body = {"query": graphql(sent, self.nrql_timeout),
                "variables": {"account": self.account_id}}
        account, alias_errors = self.post(body)
        answers = {}
        for alias in extra:
            answer = account.get(alias)
            rows = answer.get("results") if isinstance(answer, dict) else None
            answers[alias] = rows if isinstance(rows, list) else (
                alias_errors.get(alias) or "New Relic returned no result")
        return self._observations(catalog, queries, account, alias_errors, start, end), answers

    # -- transport ------------------------------------------------------------------------------

    def post(self, body: dict, expect: str = REQUESTS) -> tuple[dict, dict[str, str]]:
        """The `account` object of the answer and per-alias errors; `expect` is the field
        whose presence says the answer carries data (else: retry if transient, or fail).
        HTTP failures are retried inside each attempt (http.request, same policy)."""
        return self.policy.run(lambda timeout: self._answer(body, expect), what=WHAT,
                               gave_up=lambda attempts, last: f"{WHAT}: {last}")

    def _answer(self, body: dict, expect: str) -> tuple[dict, dict[str, str]]:
        """One request; Retry when NerdGraph answered no data with only transient errors."""
        headers = {"API-Key": self.api_key, "Content-Type": "application/json"}
        resp = http.request("POST", self.endpoint, what=WHAT, policy=self.policy,
                            headers=headers, json=body)
        if resp.status_code in (401, 403):
            raise ExternalError(f"{WHAT}: HTTP {resp.status_code}: the API key was refused; "
                                f"set NEW_RELIC_API_KEY to a User key (NRAK-…) with access "
                                f"to account {self.account_id}")
        http.raise_for_status(resp, WHAT)
        try:
            payload = resp.json()
        except ValueError:
            raise ExternalError(f"{WHAT}: the answer is not JSON: {resp.text[:200]!r}") from None
        if not isinstance(payload, dict):
            raise ExternalError(f"{WHAT}: the answer is JSON {type(payload).__name__}, "
                                f"expected an object with data or errors")
        errors = payload.get("errors") if isinstance(payload.get("errors"), list) else []
        errors = [e for e in errors if isinstance(e, dict)]
        if any(_error_class(e) in AUTH for e in errors):
            raise ExternalError(f"{WHAT}: {_error_text(errors[0])}; check NEW_RELIC_API_KEY")
        account = _dig(payload, "data", "actor", "account")
        malformed = _malformed_aliases(account)
        if isinstance(account, dict) and isinstance(account.get(expect), dict):
            by_alias = dict(malformed)
            for e in errors:
                path = e.get("path")
                if isinstance(path, list) and len(path) >= 3 and isinstance(path[2], str):
                    by_alias.setdefault(path[2], _error_text(e))
            return account, by_alias
        # No usable data: retry only what New Relic says is transient.
        summary = ("; ".join(_error_text(e) for e in errors[:3]) or malformed.get(expect)
                   or "no data in the answer")
        if errors and all(_error_class(e) in RETRYABLE for e in errors):
            raise Retry(summary)
        raise ExternalError(f"{WHAT}: {summary}")

    # -- alerts: open issues ----------------------------------------------------------------------

    def open_issues(self, start: datetime, end: datetime, priority: str = "CRITICAL") -> list[dict]:
        """Issues of `priority` still open (CREATED or ACTIVATED) that New Relic knows in
        [start, end], every page of them: NerdGraph `aiIssues { issues(filter, timeWindow,
        cursor) }` as documented in "NerdGraph tutorial: Issue and incident query APIs"."""
        issues, cursor = [], None
        for _ in range(MAX_ISSUE_PAGES):
            body = {"query": issues_graphql(priority, start, end, cursor),
                    "variables": {"account": self.account_id}}
            account, errors = self.post(body, expect="aiIssues")
            page = (account["aiIssues"].get("issues") or {}) if not errors else None
            if not isinstance(page, dict) or not isinstance(page.get("issues"), list):
                why = "; ".join(errors.values()) or "no issues list in the answer"
                raise ExternalError(f"{WHAT}: open issues: {why}")
            issues += [i for i in page["issues"] if isinstance(i, dict)]
            cursor = page.get("nextCursor")
            if not cursor:
                return issues
        raise ExternalError(f"{WHAT}: open issues: more than {MAX_ISSUE_PAGES} pages")

    # -- answers -> observations ----------------------------------------------------------------

    def _observations(self, catalog, queries, account, alias_errors, start, end) -> Observations:
        attr = catalog.cohort_attribute
        requests = {c: 0 for c in COHORTS}
        for row in account[REQUESTS].get("results") or []:
            c = row_cohort(row, attr)
            if c:
                requests[c] = int(row_value(row, attr) or 0)
        values = {c: {} for c in COHORTS}
        service: dict[str, float | None] = {}
        ran: dict[str, float | None] = {}
        errors: dict[str, str] = {}
        answers: dict[str, list] = {}
        for alias, (name, kind, _) in queries.items():
            if kind == "requests":
                continue
            answer = account.get(alias)
            rows = answer.get("results") if isinstance(answer, dict) else None
            if not isinstance(rows, list):
                why = alias_errors.get(alias) or "New Relic returned no result"
                for metric in _failed(catalog, kind, name):
                    errors.setdefault(metric, why)
                continue
            if kind in ("service", "ran"):      # one row without facet; no row is no value
                one = row_value(rows[0], attr) if rows and isinstance(rows[0], dict) else None
                (service if kind == "service" else ran)[name] = one
            elif kind == "value":
                for c in COHORTS:
                    values[c][name] = None          # a cohort without rows has no value
                for row in rows:
                    c = row_cohort(row, attr)
                    if c:
                        values[c][name] = row_value(row, attr)
            else:
                answers[alias] = [r for r in rows if isinstance(r, dict)]
        cohort_of = lambda row: row_cohort(row, attr)
        edges, sums = nrql_evidence.series(catalog, start, end, answers, cohort_of)
        spread = nrql_evidence.spreads(answers, spread_fields(catalog), cohort_of)
        cohorts = {c: CohortData(requests[c], values[c],
                                 {k: float(sum(v)) for k, v in sums[c].items()}, sums[c],
                                 spread[c]) for c in COHORTS}
        return Observations(start, end, cohorts, errors, service, edges=edges, ran=ran)


def _failed(catalog, kind, name) -> list[str]:
    """The metrics an alias that failed leaves without evidence."""
    if kind in ("value", "service", "ran"):
        return [name]
    judged = [m for m in catalog.metrics.values() if not m.service_level and m.gate_steps != ()]
    if kind == "buckets":
        return [m.name for m in judged]
    return [m.name for m in judged if m.derived or (m.aggregate or {}).get("average") == name]

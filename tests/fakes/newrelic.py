"""NerdGraph (New Relic's GraphQL API) answering NRQL over a list of events, as documented.

It parses the GraphQL document (aliases of `nrql(query: "...", timeout: N) { results }`
under `actor { account(id: $account) }`), checks the `API-Key` header, runs the NRQL
forms the catalog, the judge and the reports produce (count, percentage, percentile,
average, sum, min, max, stddev; several aggregates in one SELECT, each `AS 'name'` naming
its result key; filter(<aggregate>, WHERE ...), keyset(); WHERE with `attr = 'x'` /
`attr LIKE '%x%'` / `attr IS TRUE|FALSE` / `attr IS [NOT] NULL` / `attr > n` terms joined by
AND; FACET on one attribute; SINCE/UNTIL epoch milliseconds; TIMESERIES N minutes; LIMIT)
over `events`, and answers in NerdGraph's shapes (keyset(): one row per attribute,
{"key": "cacheHit", "type": "boolean"}):

    {"data": {"actor": {"account": {"<alias>": {"results": [
        {"facet": "canary", "cohort": "canary", "percentile.executionTime": {"95": 4210.0}}]}}}}}

TIMESERIES rows carry beginTimeSeconds / endTimeSeconds, one row per (facet, interval).
Service-level signals the account receives every minute (synthetic check results, process
samples) are `service`: event type -> attributes of that one event, present at each whole
minute of any queried window. It starts as HEALTHY_SERVICE (the monitor passes, the
ai-service uses 62 % of its memory); change an attribute to model a failure, or drop the
type to model an account that has none.
It also answers the open-issues query of "NerdGraph tutorial: Issue and incident query APIs":
`aiIssues { issues(filter: {priority: [...], states: [...]}, timeWindow: {startTime, endTime},
cursor: "...") { issues { <fields> } nextCursor } }` over `issues` (dicts with issueId,
priority, state, title (a list), createdAt and closedAt in epoch ms), `issues_page_size` a page.
`alert_window_value` evaluates one aggregation window of an alert condition the way the
streaming alerts platform does (no event left after WHERE: no value, not 0).
Knobs for the failure cases: `fail_alias` (partial results: that alias is null and an
error with its path is added), `graphql_errors_next` (a 200 with only `errors`),
`delays` (slow answers), and FakeServer.fail_next (429 with Retry-After, 500).
"""
from __future__ import annotations

import copy
import json
import re
import time
from datetime import datetime
from functools import lru_cache

import numpy as np

from tests.fakes.server import FakeServer, Recorded

API_KEY = "NRAK-TESTKEY0000000000000000000"
PATH = "/graphql"

_FIELD = re.compile(r'(\w+)\s*:\s*nrql\(\s*query:\s*("(?:[^"\\]|\\.)*")\s*'
                    r'(?:,\s*timeout:\s*(\d+)\s*)?\)\s*\{\s*results\s*\}')
_ENVELOPE = re.compile(r"^\s*query\s*\(\s*\$account:\s*Int!\s*\)\s*\{\s*actor\s*\{\s*"
                       r"account\(id:\s*\$account\)\s*\{(?P<fields>.*)\}\s*\}\s*\}\s*$", re.S)
_NRQL = re.compile(r"^SELECT (?P<select>.+?) FROM (?P<event>\w+)"
                   r"(?: WHERE (?P<where>.+?))?"
                   r"(?: FACET (?P<facet>\w+))?"
                   r" SINCE (?P<since>\d+) UNTIL (?P<until>\d+)"
                   r"(?: TIMESERIES (?P<step>\d+) minutes?)?"
                   r"(?: LIMIT (?:MAX|\d+))?$")      # a row limit: the fake returns every row
_ISSUES = re.compile(r"^\s*aiIssues\s*\{\s*issues\((?P<args>[^)]*)\)\s*\{\s*issues\s*\{"
                     r"(?P<fields>[^}]*)\}\s*nextCursor\s*\}\s*\}\s*$", re.S)
ISSUE_STATES = {"CREATED", "ACTIVATED", "DEACTIVATED", "CLOSED"}
_PERCENTAGE = re.compile(r"^percentage\(count\(\*\), WHERE (\w+) (?:IS (TRUE|FALSE)|= '([^']*)')\)$")
_FUNC = re.compile(r"^(percentile|average|sum|min|max|stddev)\((\w+)(?:, (\d+(?:\.\d+)?))?\)$")
_TERM = re.compile(r"^(\w+) (=|LIKE) '([^']*)'$")
_NULL_TERM = re.compile(r"^(\w+) IS (NOT )?NULL$")
_FILTER = re.compile(r"^filter\((.+), WHERE (.+)\)$")
# keyset() types, as New Relic names them.
_KEY_TYPES = ((bool, "boolean"), ((int, float), "numeric"), (str, "string"))
_IS = re.compile(r"^(\w+) IS (TRUE|FALSE)$")
_ABOVE = re.compile(r"^(\w+) > (-?\d+(?:\.\d+)?)$")

# What the real account receives every minute once the stack is up (names as the catalog's
# service-level queries filter them).
HEALTHY_SERVICE = {
    "SyntheticCheck": {"monitorName": "legal-platform-web /health", "result": "SUCCESS"},
    "SystemSample": {"hostname": "srv-legal-platform-ai-service-5f7c",
                     "memoryUsedPercent": 62.0},
}


class NrqlError(Exception):
    pass


@lru_cache(maxsize=None)
def _ms(value) -> int:
    if isinstance(value, (int, float)):
        return int(value)
    return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)




def _aggregate(select: str, events: list[dict]):
    """(result key, value) of one NRQL aggregate over events."""
    if select == "count(*)":
        return "count", len(events)
    m = _FILTER.match(select)
    if m:               # filter(<aggregate>, WHERE <condition>): the aggregate of the subset
        _, value = _aggregate(m[1], [e for e in events if _where(m[2])(e)])
        return "filter", value
    m = _PERCENTAGE.match(select)
    if m:
        field, flag, text = m.groups()
        want = {"TRUE": True, "FALSE": False}.get(flag, text)
        if not events:
            return "percentage", None
        return "percentage", 100.0 * sum(1 for e in events if e.get(field) == want) / len(events)
    m = _FUNC.match(select)
    if not m:
        raise NrqlError(f"NRQL Syntax Error: unsupported function in {select!r}")
    func, field, p = m.groups()
    vals = [e[field] for e in events if isinstance(e.get(field), (int, float))
            and not isinstance(e.get(field), bool)]
    if func == "percentile":
        key = p if "." not in p else p.rstrip("0").rstrip(".")
        return f"percentile.{field}", {key: float(np.percentile(vals, float(p))) if vals else None}
    if not vals:
        return f"{func}.{field}", None
    if func == "stddev":
        return f"{func}.{field}", float(np.std(vals, ddof=1)) if len(vals) > 1 else None
    return f"{func}.{field}", {"average": float(np.mean(vals)), "sum": float(np.sum(vals)),
                               "min": float(min(vals)), "max": float(max(vals))}[func]


_ALIAS = re.compile(r"^(.+) AS '(\w+)'$")


def _selected(select: str, events: list[dict]) -> list[tuple]:
    """(key, value) of each aggregate of a SELECT: one unnamed (`count(*)`: key `count`)
    or several `<aggregate> AS 'name'`, each under its name as NerdGraph answers them
    (a percentile keeps its {"95": v} shape)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(select):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(select[start:i].strip())
            start = i + 1
    parts.append(select[start:].strip())
    out = []
    for part in parts:
        m = _ALIAS.match(part)
        key, value = _aggregate(m[1] if m else part, events)
        out.append((m[2] if m else key, value))
    return out


def _where(text: str | None):
    """The WHERE clause as a predicate on one event."""
    if text is None:
        return lambda e: True
    tests = []
    for term in text.split(" AND "):
        m = _NULL_TERM.match(term.strip())
        if m:
            tests.append(lambda e, a=m[1], present=bool(m[2]): (e.get(a) is not None) == present)
            continue
        flag, above = _IS.match(term.strip()), _ABOVE.match(term.strip())
        if flag:
            tests.append(lambda e, a=flag[1], w=flag[2] == "TRUE": e.get(a) is w)
            continue
        if above:
            tests.append(lambda e, a=above[1], v=float(above[2]):
                         isinstance(e.get(a), (int, float)) and not isinstance(e.get(a), bool)
                         and e[a] > v)
            continue
        m = _TERM.match(term.strip())
        if not m:
            raise NrqlError(f"NRQL Syntax Error: unsupported condition {term!r}")
        attr, op, want = m.groups()
        if op == "=":
            tests.append(lambda e, a=attr, w=want: e.get(a) == w)
        else:
            pattern = re.compile(".*".join(re.escape(p) for p in want.split("%")) + r"\Z", re.S)
            tests.append(lambda e, a=attr, p=pattern: isinstance(e.get(a), str)
                         and p.match(e[a]) is not None)
    return lambda e: all(t(e) for t in tests)


def run_nrql(nrql: str, events: list[dict], facet_as_list: bool = False,
             service: dict[str, dict] | None = None) -> list[dict]:
    q = _NRQL.match(nrql)
    if not q:
        raise NrqlError(f"NRQL Syntax Error: cannot parse {nrql!r}")
    since, until = int(q["since"]), int(q["until"])
    if since >= until:
        raise NrqlError("Your query's start time must be before its end time.")
    every_minute = (service or {}).get(q["event"])
    if every_minute is not None:
        first = -(-since // 60_000) * 60_000
        events = events + [{"eventType": q["event"], "timestamp": t, **every_minute}
                           for t in range(first, until, 60_000)]
    where = _where(q["where"])
    chosen = [e for e in events
              if e.get("eventType", q["event"]) == q["event"] and since <= _ms(e["timestamp"]) < until
              and where(e)]
    if q["select"] == "keyset()":
        return keyset(chosen)
    groups = {None: chosen}
    if q["facet"]:
        groups = {}
        for e in chosen:
            if e.get(q["facet"]) is not None:
                groups.setdefault(e[q["facet"]], []).append(e)

    def row(value_events, extra):
        r = dict(_selected(q["select"], value_events))
        r.update(extra)
        if q["facet"] is not None:
            r["facet"] = [extra[q["facet"]]] if facet_as_list else extra[q["facet"]]
        return r

    rows = []
    for facet_value, group in groups.items():
        extra = {} if facet_value is None else {q["facet"]: facet_value}
        if not q["step"]:
            rows.append(row(group, extra))
            continue
        step = int(q["step"]) * 60_000
        if step > until - since:
            raise NrqlError("TIMESERIES step size is larger than the current time window.")
        buckets = [[] for _ in range(since, until, step)]
        for e in group:
            buckets[(_ms(e["timestamp"]) - since) // step].append(e)
        for i, bucket in enumerate(buckets):
            begin = since + i * step
            rows.append(row(bucket, {**extra, "beginTimeSeconds": begin // 1000,
                                     "endTimeSeconds": min(begin + step, until) // 1000}))
    return rows


def keyset(events: list[dict]) -> list[dict]:
    """SELECT keyset(): one row per attribute the events carry, {"key", "type"}, the shape
    NerdGraph's nrql { results } gives (timestamp is numeric there, whatever the input)."""
    found: dict[str, set] = {}
    for e in events:
        for key, value in e.items():
            if key == "eventType" or value is None:
                continue
            kind = "numeric" if key == "timestamp" else next(
                (name for types, name in _KEY_TYPES if isinstance(value, types)), "string")
            found.setdefault(key, set()).add(kind)
    return [{"key": k, "type": t} for k in sorted(found) for t in sorted(found[k])]


def alert_window_value(nrql: str, events: list[dict], start_ms: int, end_ms: int):
    """The value a NRQL alert condition gets for one aggregation window, as New Relic
    documents the streaming alerts platform: the query runs FROM, then WHERE, and the SELECT
    only when some event is left ("count() never evaluates to 0": no event, no value).
    None is no data point (gap filling or loss of signal may then act)."""
    q = _NRQL.match(f"{nrql} SINCE {start_ms} UNTIL {end_ms}")
    if not q:
        raise NrqlError(f"NRQL Syntax Error: cannot parse {nrql!r}")
    where = _where(q["where"])
    if not any(e.get("eventType", q["event"]) == q["event"]
               and start_ms <= _ms(e["timestamp"]) < end_ms and where(e) for e in events):
        return None
    (row,) = run_nrql(f"{nrql} SINCE {start_ms} UNTIL {end_ms}", events)
    return next(v for k, v in row.items() if k != "facet")


class FakeNerdGraph(FakeServer):
    def __init__(self, events: list[dict] | None = None, api_key: str = API_KEY,
                 account_id: int = 1234567, facet_as_list: bool = False) -> None:
        super().__init__()
        self.events = list(events or [])
        self.api_key = api_key
        self.account_id = account_id
        self.facet_as_list = facet_as_list
        self.fail_alias: dict[str, tuple[str, str]] = {}   # alias -> (message, errorClass)
        self.graphql_errors_next: list[list[dict]] = []
        self.delays: list[float] = []                      # seconds, one per coming request
        self.queries: list[dict[str, str]] = []            # alias -> NRQL, per answered request
        self.issues: list[dict] = []                       # aiIssues issues
        self.issues_page_size = 25
        self.issue_queries: list[str] = []                 # the issues(...) arguments asked
        self.service = copy.deepcopy(HEALTHY_SERVICE)      # event type -> one event a minute

    @property
    def url(self) -> str:
        return self.base_url + PATH

    def handle(self, req: Recorded):
        delay = self.delays.pop(0) if self.delays else 0.0
        if delay:
            # FakeServer calls handle() holding its lock once; let go of it while slow, so
            # the client's retry is recorded and answered meanwhile.
            self.lock.release()
            try:
                time.sleep(delay)
            finally:
                self.lock.acquire()
        if req.method != "POST" or req.path != PATH:
            return 404, {}, {"errors": [{"message": "Not Found"}]}
        if req.header("API-Key") != self.api_key:
            return 401, {}, {"errors": [{"message": "Invalid API key",
                                         "extensions": {"errorClass": "BAD_API_KEY"}}]}
        body = req.json or {}
        m = _ENVELOPE.match(body.get("query") or "")
        if not m or (body.get("variables") or {}).get("account") != self.account_id:
            return 200, {}, {"errors": [{"message": "Syntax Error: unexpected document",
                                         "extensions": {"errorClass": "INVALID_INPUT"}}]}
        if "aiIssues" in m["fields"]:
            return self._issues(m["fields"])
        fields = {alias: json.loads(literal) for alias, literal, _ in _FIELD.findall(m["fields"])}
        self.queries.append(fields)
        if self.graphql_errors_next:
            return 200, {}, {"data": None, "errors": self.graphql_errors_next.pop(0)}
        account, errors = {}, []
        for alias, nrql in fields.items():
            failure = self.fail_alias.get(alias)
            if failure is None:
                try:
                    account[alias] = {"results": run_nrql(nrql, self.events, self.facet_as_list,
                                                          self.service)}
                    continue
                except NrqlError as exc:
                    failure = (str(exc), "INVALID_INPUT")
            account[alias] = None
            errors.append({"message": failure[0], "path": ["actor", "account", alias],
                           "extensions": {"errorClass": failure[1]}})
        answer = {"data": {"actor": {"account": account}}}
        if errors:
            answer["errors"] = errors
        return 200, {}, answer

    def _issues(self, document: str):
        def invalid(msg):
            return 200, {}, {"errors": [{"message": msg, "path": ["actor", "account", "aiIssues"],
                                         "extensions": {"errorClass": "INVALID_INPUT"}}],
                             "data": {"actor": {"account": {"aiIssues": None}}}}

        q = _ISSUES.match(document)
        if not q:
            return invalid("Syntax Error: unexpected aiIssues selection")
        args = q["args"]
        self.issue_queries.append(args)
        prio = re.search(r"priority:\s*\[([^\]]*)\]", args)
        wanted_prio = set(json.loads(f"[{prio[1]}]")) if prio else None
        states = re.search(r"states:\s*\[([^\]]*)\]", args)
        wanted_states = {x.strip() for x in states[1].split(",")} if states else None
        if wanted_states and not wanted_states <= ISSUE_STATES:
            return invalid(f"Argument 'states' has an invalid value {sorted(wanted_states)}")
        window = re.search(r"timeWindow:\s*\{\s*startTime:\s*(\d+),\s*endTime:\s*(\d+)\s*\}", args)
        if window:
            start, end = int(window[1]), int(window[2])
        else:       # documented default: the last 24 hours
            end = int(time.time() * 1000)
            start = end - 86_400_000
        cursor = re.search(r'cursor:\s*("(?:[^"\\]|\\.)*")', args)
        offset = int(json.loads(cursor[1]).lstrip("=")) if cursor else 0
        chosen = [i for i in self.issues
                  if (wanted_prio is None or i["priority"] in wanted_prio)
                  and (wanted_states is None or i["state"] in wanted_states)
                  and i["createdAt"] <= end and (i.get("closedAt") is None or i["closedAt"] >= start)]
        page = chosen[offset:offset + self.issues_page_size]
        more = offset + self.issues_page_size < len(chosen)
        fields = q["fields"].split()
        return 200, {}, {"data": {"actor": {"account": {"aiIssues": {"issues": {
            "issues": [{f: i.get(f) for f in fields} for i in page],
            "nextCursor": f"={offset + self.issues_page_size}" if more else None}}}}}}

"""The automatable part of the post-deployment checklist (seed 001, phase 1 "Immediate
Verification (0-2 hours)"), decided from what the adapters fetched. Pure: no network, no
clock; rollout/verifying.py fetches for `rollout verify`, rollout/cli/cmd_verify.py prints.

Each checklist line becomes an Item: ok, fail, or unknown (not configured, too little
data, or an outside system did not answer). Every threshold is read from the catalog
except the throughput floor, which the catalog does not hold (see BASELINE_PER_DAY).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from rollout.core.catalog import PAGING
from rollout.core.units import format_rule, format_value
from rollout.core.observations import COHORTS, Observations, epoch_ms
from rollout.errors import EXIT_EXTERNAL, EXIT_HELD, EXIT_OK

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"

# The checklist's own words (seed 001, phase 1).
HEALTH = "All services healthy"
ALERTS = "No critical alerts firing"
ERRORS = "Error rates within normal range"
LATENCY = "Response times acceptable"
THROUGHPUT = "Throughput normal"
RESOURCES = "Resource utilization stable"
# Not a line of seed 001: the attributes the gates and alerts read (the event contract,
# rollout/schema/skill_execution.schema.json), as New Relic saw them in the last hour.
CONTRACT = "Event attributes as the contract says"
CONTRACT_WINDOW = timedelta(hours=1)
CONTRACT_ALIAS = "keyset"
NOT_AUTOMATED = ("User complaints monitored", "Key user journeys tested")

ERROR_METRIC = "skill_error_rate"      # catalog target "< 2" (AC#6)
LATENCY_METRIC = "p95_response_time"   # catalog target "< 5000" ms (AC#4)

# Seed 003 "Baseline targets": request volume ~10,000/day. Traffic is not flat over a day,
# so a 2-hour window is "normal" down to half the average hour; below that, requests are
# missing (a broken route, a dead client), which is what this line of the checklist catches.
BASELINE_PER_DAY = 10_000
THROUGHPUT_TOLERANCE = 0.5
DEFAULT_MIN_PER_HOUR = BASELINE_PER_DAY / 24 * THROUGHPUT_TOLERANCE   # 208.3 requests/hour

# How far back to ask New Relic for issues still open: longer than its default issue TTL
# (configByEnvironment issueTtl 259200 s = 72 h), after which an idle issue is closed.
INCIDENT_LOOKBACK = timedelta(days=7)

_SEV = re.compile(r"\[(SEV\d)\]")


@dataclass(frozen=True)
class Item:
    name: str
    status: str                  # ok | fail | unknown
    detail: str
    unreachable: bool = False    # unknown because an outside system did not answer

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "detail": self.detail,
                "unreachable": self.unreachable}


@dataclass(frozen=True)
class Unavailable:
    """Why an input is missing: not configured (failed=False) or its system failed."""

    reason: str
    failed: bool = False


@dataclass(frozen=True)
class HealthAnswer:
    """What GET {url}/health gave: a status and a body, or the reason for no answer."""

    url: str
    status: int | None = None
    body: object = None          # the parsed JSON, None when the body is not JSON
    text: str = ""               # the raw body, quoted when it is not the health JSON
    error: str | None = None     # no answer: the one-line error naming the URL and why


@dataclass(frozen=True)
class Checklist:
    items: tuple[Item, ...]

    @property
    def exit_code(self) -> int:
        """A failed item is the finding (1), even when another system did not answer;
        otherwise an unanswered system (4); unknown for want of configuration or data is 0."""
        if any(i.status == FAIL for i in self.items):
            return EXIT_HELD
        if any(i.unreachable for i in self.items):
            return EXIT_EXTERNAL
        return EXIT_OK

    @property
    def result(self) -> str:
        return {EXIT_OK: "ok", EXIT_HELD: "fail"}.get(self.exit_code, "incomplete")


# -- health ------------------------------------------------------------------------------------

def _snippet(text: str, limit: int = 120) -> str:
    one = " ".join(str(text).split())
    return repr(one if len(one) <= limit else one[:limit - 1] + "…")


def check_health(h: HealthAnswer) -> Item:
    """Seed 002 health endpoint: 200 when every service is "healthy", 503 otherwise."""
    if h.error:
        return Item(HEALTH, FAIL, f"no answer: {h.error}")
    if not isinstance(h.body, dict):
        return Item(HEALTH, FAIL, f"HTTP {h.status} from {h.url}, not the health JSON: "
                                  f"{_snippet(h.text) if h.text.strip() else 'empty body'}")
    services = h.body.get("services")
    if not isinstance(services, dict) or not services:
        return Item(HEALTH, FAIL, f"HTTP {h.status} from {h.url} lists no services")
    bad = [f"{name} ({state})" for name, state in services.items() if state != "healthy"]
    problems = []
    if h.status != 200:
        problems.append(f"HTTP {h.status}")
    if bad:
        problems.append("unhealthy: " + ", ".join(bad))
    status = h.body.get("status")
    if status is not None and status != "healthy":
        problems.append(f"status {status!r}")
    if problems:
        return Item(HEALTH, FAIL, "; ".join(problems))
    return Item(HEALTH, OK, f"HTTP 200; {', '.join(services)} healthy")


def check_resources(h: HealthAnswer) -> Item:
    """One health answer shows an instant, not stability: the figures go to the reader."""
    body = h.body if isinstance(h.body, dict) else {}
    parts = []
    if isinstance(body.get("memory_usage_mb"), (int, float)):
        parts.append(f"memory {body['memory_usage_mb']:g} MB")
    if isinstance(body.get("cpu_usage_percent"), (int, float)):
        parts.append(f"CPU {body['cpu_usage_percent']:g} %")
    seen = (", ".join(parts) + " now (from /health)") if parts else "no figures in /health"
    return Item(RESOURCES, UNKNOWN, f"{seen}; stability over time is judged on the dashboards")


# -- alerts ------------------------------------------------------------------------------------

def _titles(issue: dict) -> list[str]:
    t = issue.get("title")
    return [str(x) for x in t] if isinstance(t, list) else [str(t or issue.get("issueId"))]


def issue_severity(issue: dict) -> str | None:
    """The most severe [SEVn] our alert conditions carry in their names (alerts/newrelic.py
    names them "<alert> [SEV1]"), or None when an incident title names none of ours."""
    sevs = [_SEV.findall(t) for t in _titles(issue)]
    if not sevs or any(not s for s in sevs):
        return None
    return min(s for found in sevs for s in found)


def check_alerts(issues: list[dict] | Unavailable) -> Item:
    """Open CRITICAL-priority issues. Every condition of ours opens CRITICAL ones, so those
    named with a non-paging severity (SEV3) are listed but do not fail the line: seed 003
    counts SEV1/SEV2 as critical. An issue from a condition that is not ours counts."""
    if isinstance(issues, Unavailable):
        return Item(ALERTS, UNKNOWN, issues.reason, unreachable=issues.failed)
    critical, minor = [], []
    for issue in issues:
        sev = issue_severity(issue)
        (minor if sev and sev not in PAGING else critical).append(
            f"{' / '.join(_titles(issue))} ({issue.get('state', 'open')})")
    if critical:
        extra = f"; also open, not critical: {len(minor)}" if minor else ""
        return Item(ALERTS, FAIL, f"{len(critical)} critical issue{'s' * (len(critical) != 1)} "
                                  f"open in New Relic: {'; '.join(critical)}{extra}")
    if minor:
        return Item(ALERTS, OK, f"no critical issue open; {len(minor)} lower-severity open: "
                                f"{'; '.join(minor)}")
    return Item(ALERTS, OK, "no critical issue open in New Relic")


# -- metrics -----------------------------------------------------------------------------------

def check_metric(name: str, metric_name: str, obs: Observations | Unavailable, catalog) -> Item:
    """The catalog target, met by every cohort that has enough requests to be judged."""
    if isinstance(obs, Unavailable):
        return Item(name, UNKNOWN, obs.reason, unreachable=obs.failed)
    metric = catalog.metrics.get(metric_name)
    target = metric.thresholds.get("target") if metric else None
    if target is None:
        return Item(name, UNKNOWN, f"the catalog has no target for {metric_name}")
    if metric_name in obs.errors:
        return Item(name, UNKNOWN, f"{metric_name}: {obs.errors[metric_name]}", unreachable=True)
    rule = f"target {format_rule(target, metric.unit)} (catalog {metric_name})"
    parts, misses, judged = [], [], 0
    for cohort in COHORTS:
        data = obs.cohort(cohort)
        if not data.requests:
            continue
        if data.requests < catalog.min_requests:
            parts.append(f"{cohort}: too little data ({data.requests} requests "
                         f"< {catalog.min_requests})")
            continue
        value = data.values.get(metric_name)
        if value is None:
            parts.append(f"{cohort}: no value")
            continue
        judged += 1
        parts.append(f"{cohort} {format_value(value, metric.unit)} of {data.requests:,} requests")
        if not target.met(value):
            rollback = metric.thresholds.get("rollback")
            misses.append(cohort + (" (rollback range)" if rollback and rollback.met(value) else ""))
    detail = "; ".join(parts) or "no requests in the window"
    if misses:
        return Item(name, FAIL, f"{detail}; {rule} missed by {', '.join(misses)}")
    if not judged:
        return Item(name, UNKNOWN, f"{detail}; {rule}")
    return Item(name, OK, f"{detail}; {rule}")


def check_throughput(obs: Observations | Unavailable, window: timedelta,
                     min_per_hour: float | None) -> Item:
    if isinstance(obs, Unavailable):
        return Item(THROUGHPUT, UNKNOWN, obs.reason, unreachable=obs.failed)
    hours = window.total_seconds() / 3600
    total = sum(obs.cohort(c).requests for c in COHORTS)
    rate = total / hours
    if min_per_hour is None:
        floor, why = DEFAULT_MIN_PER_HOUR, (f"{THROUGHPUT_TOLERANCE:.0%} of the ~{BASELINE_PER_DAY:,}"
                                            f"/day baseline, seed 003")
    else:
        floor, why = min_per_hour, "--min-throughput"
    detail = (f"{total:,} requests in {_hours(hours)} = {rate:,.0f}/h; "
              f"floor {floor:,.0f}/h ({why})")
    return Item(THROUGHPUT, OK if rate >= floor else FAIL, detail)


# -- event contract ----------------------------------------------------------------------------

def keyset_nrql(event: str, start, end) -> str:
    """`SELECT keyset() FROM <event> SINCE 1 hour ago`, over the hour ending at `end`."""
    return f"SELECT keyset() FROM {event} SINCE {epoch_ms(start)} UNTIL {epoch_ms(end)}"


def check_event_contract(seen: dict[str, set] | Unavailable, contract) -> Item:
    """`seen`: attribute -> the types New Relic's keyset() reported for the last hour."""
    if isinstance(seen, Unavailable):
        return Item(CONTRACT, UNKNOWN, seen.reason, unreachable=seen.failed)
    if not seen:
        return Item(CONTRACT, UNKNOWN, f"no {contract.event} events in the last hour: "
                                       f"nothing to check")
    missing, absent, wrong = contract.check(seen)
    quiet = (f"optional, not sent: {', '.join(absent)} (their alerts and gate rows have no "
             f"data and stay silent)") if absent else "every optional attribute sent"
    problems = ([f"missing required attribute{'s' * (len(missing) != 1)}: {', '.join(missing)}"]
                if missing else []) + ([f"wrong type: {'; '.join(wrong)}"] if wrong else [])
    where = "rollout/schema/skill_execution.schema.json, docs/events.md"
    if problems:
        return Item(CONTRACT, FAIL, f"{'; '.join(problems)} ({where}); {quiet}")
    return Item(CONTRACT, OK, f"all {len(contract.required)} required attributes sent "
                              f"({', '.join(contract.required)}); {quiet}")


def _hours(h: float) -> str:
    return f"{h:g}h" if h >= 1 else f"{h * 60:g}m"


def evaluate(health: HealthAnswer, issues: list[dict] | Unavailable,
             obs: Observations | Unavailable, catalog, window: timedelta,
             min_per_hour: float | None = None,
             seen: dict[str, set] | Unavailable | None = None, contract=None) -> Checklist:
    items = [
        check_health(health),
        check_alerts(issues),
        check_metric(ERRORS, ERROR_METRIC, obs, catalog),
        check_metric(LATENCY, LATENCY_METRIC, obs, catalog),
        check_throughput(obs, window, min_per_hour),
    ]
    if contract is not None:
        items.append(check_event_contract(seen if seen is not None else {}, contract))
    items.append(check_resources(health))
    return Checklist(tuple(items))


# -- output ------------------------------------------------------------------------------------

ICON = {OK: "✅", FAIL: "❌", UNKNOWN: "❔"}


def checklist_markdown(c: Checklist, url: str, window_text: str) -> str:
    out = ["## Post-deployment checklist, phase 1: immediate verification (0-2 hours)", "",
           f"{url}, metrics over {window_text}", ""]
    out += [f"- {ICON[i.status]} **{i.name}**: {i.detail}" for i in c.items]
    out += ["", f"Not automated, check by hand: {', '.join(NOT_AUTOMATED)}.", "",
            f"Result: **{c.result}**"]
    return "\n".join(out)


def to_json(c: Checklist, url: str, window_start, window_end) -> dict:
    return {"url": url, "window_start": window_start.isoformat(),
            "window_end": window_end.isoformat(), "result": c.result,
            "exit_code": c.exit_code, "items": [i.to_json() for i in c.items],
            "not_automated": list(NOT_AUTOMATED)}

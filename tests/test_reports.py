"""`rollout report`: every number asserted against a history and an event set made here.

The rehearsal: the playbook's timeline (T0 = Monday 09:00), three requests a minute,
users in the canary with the applied percentage. Canary ~$0.018 a request against
control's ~$0.030 (savings ~39 %), errors 0.6 % (canary) and 0.8 % (control), one hour
of canary errors at 12 % that the "guard" aborts, a retry, one minute without traffic
during the full step. Expected numbers are recomputed here from the generated events with
plain Python, never with the code under test.
"""
from __future__ import annotations

import dataclasses
import json
import math
import random
import re
import shutil
import sqlite3
import threading
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from rollout.adapters.metrics.sqlite_events import import_ndjson
from rollout.adapters.reportdata.sqlite import SQLiteReportSource
from rollout.adapters.store import open_store
from rollout.core import reports
from rollout.core.catalog import load_catalog
from rollout.core.reports.daily import Issue
from rollout.core.reports.review import Decision
from rollout.core.reports.review_template import fill
from rollout.core.reports.summaries import Window
from rollout.core.state import ABORTED, APPLIED, HELD, RETRY, Event
from rollout.flagfiles import load_flag
from rollout.reporting import make_report
from tests.cli import ROOT, make_repo, rollout
from tests.seeds import seed

FLAG = "skills_rollout"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
H, D, M = timedelta(hours=1), timedelta(days=1), timedelta(minutes=1)
BETA = T0 + 3 * D + H                   # canary served 73 h
ABORT = T0 + 5 * D                      # the guard's rollback, 47 h into beta
RETRY_AT = ABORT + 6 * H
RESUME = RETRY_AT + 5 * M
FULL = T0 + 12 * D + 7 * H              # beta served 169 h 55 min after the resume
END = T0 + 14 * D + 8 * H               # 49 h into full
SPIKE = (ABORT - H, ABORT)              # canary errors at 12 %
OUTAGE = (T0 + 13 * D + 9 * H, T0 + 13 * D + 9 * H + M)   # no request at all
ABORT_REASON = "Skill error rate 12.00 % meets the rollback criterion > 5 (45 canary requests)"
HOLD_REASON = "soak of step canary: 48h of 72h served, 24h remaining"
RETRY_REASON = "fixed the skill timeout in ai-service 2.14.3"
MODELS = (("claude-3-5-haiku", 0.55, 0.014), ("claude-sonnet-4-5", 0.40, 0.022),
          ("claude-opus-4", 0.05, 0.035))

SCHEDULE = [  # (at, kind, from, to, reasons, evidence)
    (T0 - D, APPLIED, None, 0, ("create the flag at 0%",), {}),
    (T0, APPLIED, 0, 5, ("one step up 0% → 5% (canary)",), {}),
    (T0 + 2 * D, HELD, 5, 25, (HOLD_REASON,), {}),
    (BETA, APPLIED, 5, 25, ("step up 5% → 25% (beta)",), {}),
    (ABORT, ABORTED, 25, 0, (ABORT_REASON,), {"severity": "SEV1"}),
    (RETRY_AT, RETRY, 0, 25, (RETRY_REASON,), {}),
    (RESUME, APPLIED, 0, 25, ("resume at 25% after `rollout retry`",), {}),
    (FULL, APPLIED, 25, 100, ("step up 25% → 100% (full)",), {}),
]


def percentage_at(t: datetime) -> int:
    pct = 0
    for at, kind, _, to, _, _ in SCHEDULE:
        if at <= t and kind in (APPLIED, ABORTED):
            pct = to
    return pct


def generate(rng: random.Random) -> list[dict]:
    rows, t = [], T0 - D
    while t < END:
        pct = percentage_at(t)
        for k in range(3):
            at = t + timedelta(seconds=20 * (k + rng.random()))
            canary = rng.random() * 100 < pct
            spike = canary and SPIKE[0] <= at < SPIKE[1]
            error = 0.12 if spike else 0.006 if canary else 0.008
            if canary:
                model, _, unit = rng.choices(MODELS, [w for _, w, _ in MODELS])[0]
                cost = unit * rng.uniform(0.9, 1.1)
                latency = rng.lognormvariate(0, 0.5) * 1500
            else:
                model, cost = "claude-sonnet-4-5", 0.03 * rng.uniform(0.8, 1.2)
                latency = rng.lognormvariate(0, 0.45) * 1800
            row = {"timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                   "userId": f"user-{rng.randrange(9000)}", "skillId": "contract-review",
                   "model": model, "cohort": "canary" if canary else "control",
                   "executionTime": round(latency, 1), "success": rng.random() >= error,
                   "cost": round(cost, 6),
                   "tokenSavings": round(rng.gauss(75, 5), 2) if canary else 0.0,
                   "cacheHit": rng.random() < (0.5 if canary else 0.3),
                   "timedOut": rng.random() < 0.002, "fallback": canary and rng.random() < 0.02}
            if not OUTAGE[0] <= at < OUTAGE[1]:
                rows.append(row)
        t += M
    return rows


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    """The store (history + skill_events in one sqlite file) and the generated events."""
    path = tmp_path_factory.mktemp("rehearsal") / "flags.db"
    url = f"sqlite:///{path}"
    state = load_flag(ROOT / "rollout/flags/skills_rollout.yaml", "rev-1")
    with open_store(url) as store:
        version = None
        for at, kind, frm, to, why, evidence in SCHEDULE:
            e = Event(FLAG, at, kind, frm, to, why, revision="rev-1", commit="c0ffee",
                      actor="rehearsal", evidence=evidence)
            if kind in (APPLIED, ABORTED):
                version = store.apply(FLAG, to, version, e).version
            else:
                store.record(e)
    rows = generate(random.Random(20261102))
    ndjson = path.parent / "events.ndjson"
    ndjson.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert import_ndjson(ndjson, path) == len(rows)
    for r in rows:
        r["at"] = datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00"))
    return {"url": url, "path": path, "state": state, "rows": rows}


# -- reference numbers, recomputed here ---------------------------------------------------------

def pick(rows, start, end, cohort=None):
    return [r for r in rows if start <= r["at"] < end and (cohort is None or r["cohort"] == cohort)]


def percentile(values, p):
    """Linear interpolation between closest ranks (numpy's default), written out."""
    v = sorted(values)
    k = (len(v) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def ref(rows):
    n = len(rows)
    times = [r["executionTime"] for r in rows]
    return {"n": n, "error_rate": 100 * sum(not r["success"] for r in rows) / n,
            "p95": percentile(times, 95), "p99": percentile(times, 99),
            "avg": sum(times) / n, "cost": sum(r["cost"] for r in rows) / n,
            "cost_total": sum(r["cost"] for r in rows),
            "under_5s": 100 * sum(t < 5000 for t in times) / n,
            "under_10s": 100 * sum(t < 10000 for t in times) / n}


def uptime(rows, start, end):
    minutes = int((end - start) / M)
    up = {int((r["at"] - start) / M) for r in pick(rows, start, end) if r["success"]}
    return 100 * len(up) / minutes, minutes - len(up)


def make(rehearsal, kind, at, length=None, *, render=True):
    """The report as the CLI builds it (rollout.reporting), in process."""
    from rollout.adapters.metrics.sqlite_events import SQLiteEventSource

    with open_store(rehearsal["url"]) as store:
        history = store.history(FLAG, until=at)
    gate_source = SQLiteEventSource(rehearsal["path"]) if kind in ("daily", "final") else None
    _, _, report = make_report(kind, rehearsal["state"], history,
                               SQLiteReportSource(rehearsal["path"]), load_catalog(), at, length,
                               gate_source)
    template = (ROOT / "rollout/data/post_deployment_review.md").read_text()
    text = None
    if render:
        text = (report.to_markdown("chart.svg", template) if kind == "review"
                else report.to_markdown("chart.svg"))
    return report, text


def by_key(lines):
    return {l.key: l for l in lines}


# -- the history, digested ----------------------------------------------------------------------

def test_timeline_periods_rollbacks_holds(rehearsal):
    with open_store(rehearsal["url"]) as store:
        tl = reports.timeline(rehearsal["state"], store.history(FLAG), END)
    assert [(p.pct, p.start, p.end) for p in tl.periods] == [
        (0, T0 - D, T0), (5, T0, BETA), (25, BETA, ABORT), (0, ABORT, RESUME), (25, RESUME, FULL),
        (100, FULL, None)]
    assert tl.start == T0 and tl.pct == 100
    assert [(e.at, e.from_pct, e.to_pct, e.reasons) for e in tl.rollbacks] == [
        (ABORT, 25, 0, (ABORT_REASON,))]
    assert [(e.at, e.kind) for e in tl.holds] == [(T0 + 2 * D, HELD)]
    assert [e.at for e in tl.retries] == [RETRY_AT]


@pytest.mark.parametrize("kind, at, length, main", [
    ("daily", T0 + 2 * D + 9 * H, None, (T0 + D + 9 * H, T0 + 2 * D + 9 * H)),
    ("daily", BETA + 5 * H, None, (BETA, BETA + 5 * H)),             # not before the step began
    ("daily", BETA + 5 * H, timedelta(hours=24), (BETA - 19 * H, BETA + 5 * H)),   # unless asked
    ("daily", ABORT + H, None, (ABORT - 23 * H, ABORT + H)),          # at 0 %: no clipping
    ("sla", END, None, (END - D, END)),
    ("cost", END, None, (END - 2 * D, END)),
    ("final", END, None, (FULL, END)),
    ("review", END, None, (T0, END)),
])
def test_plan_windows(rehearsal, kind, at, length, main):
    with open_store(rehearsal["url"]) as store:
        history = store.history(FLAG, until=at)
    p = reports.plan(kind, rehearsal["state"], history, at, length)
    assert (p.main.start, p.main.end) == main
    assert ("baseline" in p.windows) == (kind != "sla")
    w, bucket = p.chart.window, p.chart.bucket
    assert w.end == at and w.start <= min(T0, main[0]) and (at - w.start) / bucket <= 55


# -- daily --------------------------------------------------------------------------------------

def test_daily_canary_day_3(rehearsal):
    at = T0 + 2 * D + 9 * H
    r, md = make(rehearsal, "daily", at)
    rows = rehearsal["rows"]
    can, ctl = ref(pick(rows, at - D, at, "canary")), ref(pick(rows, at - D, at, "control"))
    assert r.header.title == "Canary Report - Day 3" and r.day == 3
    s = by_key(r.summary)
    assert s["requests"].value == can["n"] and 180 < can["n"] < 260
    assert s["error_rate"].value == pytest.approx(can["error_rate"])
    assert s["error_rate"].baseline == pytest.approx(ctl["error_rate"])
    assert s["avg_response_time"].value == pytest.approx(can["avg"])
    assert s["p95"].value == pytest.approx(can["p95"]) and s["p95"].met is True
    assert s["cost_per_request"].value == pytest.approx(can["cost"])
    assert s["cost_per_request"].baseline == pytest.approx(ctl["cost"])
    savings = (ctl["cost"] - can["cost"]) / ctl["cost"] * 100
    assert s["cost_savings"].value == pytest.approx(savings) and 36 < savings < 42
    assert s["cost_savings"].met is True and str(s["cost_savings"].target) == "> 35"
    assert s["success_rate"].value == pytest.approx(100 - can["error_rate"])
    assert r.baseline_source == "control cohort in the same window"
    rec = r.recommendation
    # the judge needs evidence (docs/judge.md): ~220 canary requests in the day cannot show
    # an error rate below 2 % yet, so it holds rather than guess
    assert (rec.verdict, rec.chosen, rec.soak_done) == ("hold", 1, False)
    assert any(why.startswith("Skill error rate: not yet shown to meet target < 2")
               for why in rec.reasons)
    assert rec.soak == "soak of step canary: 57h of 72h served, 15h remaining"
    assert any(i.severity == "held" and HOLD_REASON in i.text for i in r.issues)
    # the playbook's template, filled
    assert "## Canary Report - Day 3" in md
    assert f"- Total requests with skills: {can['n']:,}" in md
    assert f"- Error rate: {can['error_rate']:.2f} % (baseline: {ctl['error_rate']:.2f} %)" in md
    assert "[ ] Proceed to Beta | [x] Hold and investigate | [ ] Rollback" in md
    assert "### User Feedback\n\n- [Feedback item 1]\n- [Feedback item 2]" in md
    assert "![Rollout timeline" in md


def test_daily_after_the_abort_recommends_rollback(rehearsal):
    at = ABORT + H
    r, md = make(rehearsal, "daily", at)
    assert r.header.title == "Beta Report - Day 2"          # the last live step, 47 h in
    assert r.header.applied == 0
    rec = r.recommendation
    assert rec.verdict == "rollback" and rec.chosen == 2
    assert rec.reasons == ("rolled back to 0% at 2026-11-07 09:00 UTC",)
    aborted = [i for i in r.issues if i.severity == "aborted"]
    assert aborted == [Issue("aborted", f"aborted 25% → 0% at 2026-11-07 09:00 UTC: {ABORT_REASON}")]
    can = ref(pick(rehearsal["rows"], at - D, at, "canary"))
    assert by_key(r.summary)["error_rate"].value == pytest.approx(can["error_rate"])
    assert "[ ] Proceed to Full | [ ] Hold and investigate | [x] Rollback" in md


def test_daily_on_the_spike_hour_holds_on_too_little_data(rehearsal):
    """An hour of 12 % errors on 45 requests: evidence of the hold band, not yet of the
    rollback line, so hold (the guard rolled back on the step's evidence)."""
    at = ABORT - timedelta(seconds=1)                   # just before the guard acted
    r, _ = make(rehearsal, "daily", at, timedelta(hours=1))
    can = ref(pick(rehearsal["rows"], at - H, at, "canary"))
    err = by_key(r.summary)["error_rate"]
    assert err.value == pytest.approx(can["error_rate"]) and err.value > 5
    assert err.met is False
    assert r.recommendation.verdict == "hold"
    assert any(why.startswith("Skill error rate misses target < 2 (hold band 2..5)")
               for why in r.recommendation.reasons)


# -- SLA ----------------------------------------------------------------------------------------

def test_sla_at_full_passes_with_one_minute_down(rehearsal):
    r, md = make(rehearsal, "sla", END)
    rows = rehearsal["rows"]
    can = ref(pick(rows, END - D, END, "canary"))
    up, down = uptime(rows, END - D, END)
    assert down == 1 and up == pytest.approx(100 * 1439 / 1440)
    lines = by_key(r.lines)
    assert lines["uptime"].value == pytest.approx(up) and lines["uptime"].met is True
    assert lines["under_5s"].value == pytest.approx(can["under_5s"])
    assert str(lines["under_5s"].target) == ">= 95" and lines["under_5s"].met is True
    assert lines["under_10s"].value == pytest.approx(can["under_10s"])
    assert str(lines["under_10s"].target) == ">= 99"
    assert lines["p95"].value == pytest.approx(can["p95"]) and str(lines["p95"].target) == "< 5000"
    assert lines["p99"].value == pytest.approx(can["p99"]) and str(lines["p99"].target) == "< 10000"
    assert lines["error_rate"].value == pytest.approx(can["error_rate"])
    assert all(l.met for l in r.lines) and r.verdict == "PASS"
    assert [(o.start, o.end, o.minutes) for o in r.outages] == [(OUTAGE[0], OUTAGE[1], 1)]
    assert f"| Uptime | {up:.3f} % | ≥ 99.9 % | ✅ met |" in md
    assert "**✅ SLA COMPLIANCE: PASS**" in md


def test_sla_fails_on_the_window_with_the_outage(rehearsal):
    at = OUTAGE[1] + H
    r, md = make(rehearsal, "sla", at, timedelta(hours=2))
    lines = by_key(r.lines)
    assert lines["uptime"].value == pytest.approx(100 * 119 / 120)
    assert lines["uptime"].met is False and r.verdict == "FAIL"
    assert "**❌ SLA COMPLIANCE: FAIL**" in md
    assert "- 2026-11-15 18:00 UTC: 1 min" in md


# -- cost ---------------------------------------------------------------------------------------

def test_cost_at_full_uses_the_baseline_control(rehearsal):
    r, md = make(rehearsal, "cost", END)
    rows = rehearsal["rows"]
    can = ref(pick(rows, END - 2 * D, END, "canary"))
    assert not pick(rows, END - 2 * D, END, "control")         # nobody in control at 100 %
    base = ref(pick(rows, T0 - 7 * D, END, "control"))
    assert r.baseline_source.startswith("control cohort 2026-10-26 09:00 UTC to 2026-11-16 17:00 UTC")
    f = r.figures
    assert f.with_skills == pytest.approx(can["cost_total"])
    assert f.without_skills == pytest.approx(can["n"] * base["cost"])
    assert f.saved == pytest.approx(can["n"] * base["cost"] - can["cost_total"])
    assert f.savings_pct == pytest.approx((base["cost"] - can["cost"]) / base["cost"] * 100)
    assert 36 < f.savings_pct < 42 and r.verdict == "MET"
    lines = by_key(r.lines)
    assert lines["cost_per_request"].value == pytest.approx(can["cost"])
    assert lines["cost_per_request"].met is True
    assert lines["cost_ratio"].value == pytest.approx(can["cost"] / base["cost"] * 100)
    assert lines["cost_ratio"].met is True and str(lines["cost_ratio"].target) == "not > 150"
    tokens = [x["tokenSavings"] for x in pick(rows, END - 2 * D, END, "canary")]
    assert lines["token_reduction"].value == pytest.approx(sum(tokens) / len(tokens))
    mix = {m.model: m for m in r.canary_models}
    window = pick(rows, END - 2 * D, END, "canary")
    for family, model in (("Haiku", "claude-3-5-haiku"), ("Sonnet", "claude-sonnet-4-5"),
                          ("Opus", "claude-opus-4")):
        mine = [x for x in window if x["model"] == model]
        assert mix[family].requests == len(mine)
        assert mix[family].share == pytest.approx(100 * len(mine) / len(window))
        assert mix[family].cost == pytest.approx(sum(x["cost"] for x in mine))
    assert f"- Total cost with skills: ${can['cost_total']:,.2f}" in md
    assert "**✅ COST SAVINGS TARGET: MET**" in md


# -- final --------------------------------------------------------------------------------------

def test_final_checklist_all_data_criteria_met(rehearsal):
    r, md = make(rehearsal, "final", END)
    rows = rehearsal["rows"]
    can = ref(pick(rows, FULL, END, "canary"))
    items = by_key(r.items)
    assert items["soak"].met is True
    assert items["soak"].note == "soak of step full served: 49h of 48h"
    assert items["p95"].value == pytest.approx(can["p95"]) and items["p95"].met is True
    assert items["p95"].note == "17 of 17 3h buckets met it"
    assert items["error_rate"].value == pytest.approx(can["error_rate"])
    assert items["error_rate"].met is True
    assert items["cost_savings"].met is True
    assert items["sla"].met is True
    assert items["incidents"].met is True and items["incidents"].value == 0
    assert items["feedback"].met is None and items["confidence"].met is None
    assert r.verdict == "ALL DATA CRITERIA MET"
    up, down = uptime(rows, FULL, END)
    assert by_key(r.sla)["uptime"].value == pytest.approx(up) and down == 1
    assert "- [x] 48h of intensive monitoring complete — ✅ met (soak of step full served: 49h of 48h)" in md
    assert "- [ ] User feedback positive or neutral (for people to decide)" in md


def test_final_before_full_is_not_met(rehearsal):
    at = FULL - H
    r, _ = make(rehearsal, "final", at)
    items = by_key(r.items)
    assert items["soak"].met is False and items["soak"].note == "applied 25% (beta), not 100%"
    assert r.verdict == "NOT MET" and r.failed[0] == "48h of intensive monitoring complete"


def test_final_with_the_abort_in_its_window_reports_a_critical_incident(rehearsal):
    r, _ = make(rehearsal, "final", ABORT + H)          # current period: 0 % since the abort
    assert by_key(r.items)["incidents"].met is False    # the abort opened this window
    r, _ = make(rehearsal, "final", RESUME + H)
    assert by_key(r.items)["incidents"].met is True
    # a report over the beta period that holds the abort: the critical incident counts
    with open_store(rehearsal["url"]) as store:
        history = store.history(FLAG, until=ABORT + H)
    p = reports.plan("final", rehearsal["state"], history, ABORT + H)
    p = dataclasses.replace(p, main=Window(BETA, ABORT + H))
    source = SQLiteReportSource(rehearsal["path"])
    catalog = load_catalog()
    summaries = source.summaries(catalog, p.windows, reports.latency_limits(catalog))
    built = reports.build(p, state=rehearsal["state"], history=history, catalog=catalog,
                          data=reports.Measured.collect(p, summaries, {}))
    inc = by_key(built.items)["incidents"]
    assert inc.met is False and inc.value == 1
    assert inc.note == f"SEV1 rollback at 2026-11-07 09:00 UTC: {ABORT_REASON}"


# -- review -------------------------------------------------------------------------------------

def test_review_prefilled_from_history_and_data(rehearsal):
    r, md = make(rehearsal, "review", END)
    rows = rehearsal["rows"]
    phases = {p.step: p for p in r.phases}
    assert phases["canary"].started == T0 and phases["canary"].completed == BETA
    assert phases["canary"].duration == 73 * H and phases["canary"].complete is True
    assert phases["beta"].started == BETA and phases["beta"].completed == FULL
    assert phases["beta"].duration == (ABORT - BETA) + (FULL - RESUME)
    assert phases["beta"].complete is True
    assert [e.at for e in phases["beta"].rollbacks] == [ABORT]
    assert phases["full"].started == FULL and phases["full"].complete is True
    for step, (a, b) in (("canary", (T0, BETA)), ("beta", (BETA, FULL)), ("full", (FULL, END))):
        window = pick(rows, a, b)
        canary = [x for x in window if x["cohort"] == "canary"]
        assert phases[step].actual == pytest.approx(100 * len(canary) / len(window))
        assert phases[step].error_rate == pytest.approx(ref(canary)["error_rate"])
    assert round(phases["canary"].actual) == 5 and 20 < phases["beta"].actual < 25   # 6 h at 0 % inside
    assert r.decisions == (Decision("canary", "beta", True, 1, T0 + 2 * D, (HOLD_REASON,)),
                           Decision("beta", "full", True, 0, None, ()))
    assert r.status == "successful"
    assert r.total_duration == FULL + 48 * H - T0
    can = ref(pick(rows, T0, END, "canary"))
    assert r.performance.p95 == pytest.approx(can["p95"])
    assert r.performance.p50 == pytest.approx(percentile(
        [x["executionTime"] for x in pick(rows, T0, END, "canary")], 50))
    up, down = uptime(rows, T0, END)
    assert r.uptime.percent == pytest.approx(up) and r.uptime.down_minutes == down == 1
    assert [w.week for w in r.weeks] == [1, 2, 3]
    wk1 = pick(rows, T0, T0 + 7 * D)
    c1, k1 = ref([x for x in wk1 if x["cohort"] == "canary"]), ref([x for x in wk1 if x["cohort"] == "control"])
    assert r.weeks[0].with_skills == pytest.approx(c1["cost_total"])
    assert r.weeks[0].without_skills == pytest.approx(c1["n"] * k1["cost"])
    assert r.weeks[0].savings_pct == pytest.approx((k1["cost"] - c1["cost"]) / k1["cost"] * 100)
    assert r.weeks_total.met is True
    assert [(e.at, e.evidence["severity"]) for e in r.critical] == [(ABORT, "SEV1")]
    assert r.ac["AC#1"].met is True and r.ac["AC#4"].met is True
    assert r.ac["AC#9"].met is True
    # the seed's template, filled where the data knows, blank where people do
    assert "**Deployment Date:** 2026-11-02" in md
    assert "**Deployment Status:** ☑ Successful ☐ Partial ☐ Rollback Required" in md
    assert (f"| Canary (5%) | 5% | {phases['canary'].actual:.1f}% | 73h | ☑ Complete ☐ Incomplete "
            f"| 1 hold(s) |") in md
    assert (f"| Beta (25%) | 25% | {phases['beta'].actual:.1f}% | 215h55m | ☑ Complete ☐ Incomplete "
            f"| 1 rollback(s) |") in md
    assert "- Start Date: 2026-11-02 09:00 UTC" in md
    assert "- Canary Completion: 2026-11-05 10:00 UTC" in md
    assert "- Beta Completion: 2026-11-14 16:00 UTC" in md
    assert "- Full Deployment: 2026-11-14 16:00 UTC" in md
    assert f"- Total Duration: {(FULL + 48 * H - T0) / D:.1f} days" in md
    assert f"- Canary → Beta: ☑ Proceed ☑ Hold (Reason: {HOLD_REASON})" in md
    assert "- Beta → Full: ☑ Proceed ☐ Hold (Reason: —)" in md
    assert f"- Uptime during deployment: {up:.3f}%" in md and up < 100
    assert "**Rollbacks Performed:** 1 times" in md
    assert (f"| 2026-11-07 09:00 UTC | {ABORT_REASON} | feature flag 25% → 0% (automatic, guard) "
            f"|  |  |") in md
    assert "**Total Critical Incidents:** 1" in md
    assert "- Downtime incidents: 1 (total 1 minutes)" in md
    assert "- [x] **AC#1:** Staged rollout plan executed (5% → 25% → 100%)" in md
    for blank in ("**Reviewers:** [Names]", "**Review Date:** YYYY-MM-DD",
                  "- User impact: ☐ None ☐ Minimal ☐ Moderate ☐ Significant",
                  "  - Alert count: \\_\\_\\_/6 configured", "- Average routing overhead: **\\_** ms",
                  "- Total tokens saved: ******\\_******", "> [Quote 1]", "## 12. Sign-Off"):
        assert blank in md


def test_review_template_keeps_the_seed_structure():
    template = (ROOT / "rollout/data/post_deployment_review.md").read_text()
    blank = fill(template, {})
    assert "{{" not in blank and "{{/}}" not in blank
    headings = [l for l in blank.splitlines() if l.startswith("#")]
    assert headings[0] == "# Post-Deployment Review Template" and "## 11. Acceptance Criteria Validation" in headings
    assert len(headings) == 52


def test_review_template_without_values_is_the_seed_character_for_character():
    template = (ROOT / "rollout/data/post_deployment_review.md").read_text()
    assert fill(template, {}) == seed("000").read_text()      # skips without the seeds, fails under CI


# -- the chart ----------------------------------------------------------------------------------

def test_timeline_svg_is_valid_and_marks_the_events(rehearsal, tmp_path):
    from rollout.core.reports import chart

    catalog = load_catalog()
    with open_store(rehearsal["url"]) as store:
        history = store.history(FLAG)
    p = reports.plan("review", rehearsal["state"], history, END)
    w, bucket = p.chart.window, p.chart.bucket
    buckets = SQLiteReportSource(rehearsal["path"]).series(catalog, w.start, w.end, bucket,
                                                            reports.SERIES_METRICS)
    assert bucket == timedelta(hours=12) and len(buckets) == math.ceil((w.end - w.start) / bucket) == 31
    spike = next(b for b in buckets if b.start <= SPIKE[0] < b.end)
    in_spike = pick(rehearsal["rows"], spike.start, spike.end, "canary")
    assert spike.cohort("canary").requests == len(in_spike)
    assert spike.cohort("canary").values[reports.ERROR_RATE] == pytest.approx(ref(in_spike)["error_rate"])
    svg = chart.render(FLAG, reports.timeline(rehearsal["state"], history, END), buckets,
                       catalog, w.start, w.end, (p.main.start, p.main.end))
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    titles = [t.text for t in root.iter(f"{ns}title")]
    assert f"2026-11-07 09:00 UTC rollback: {ABORT_REASON}" in titles
    assert f"2026-11-04 09:00 UTC held: {HOLD_REASON}" in titles
    assert f"2026-11-07 15:00 UTC retry: {RETRY_REASON}" in titles
    texts = {t.text for t in root.iter(f"{ns}text")}
    assert {"rollback 5 %", "target 2 %", "target 5 s", "rollback 10 s", "5%", "25%", "100%"} <= texts
    assert len([e for e in root.iter(f"{ns}polyline")]) >= 5


# -- New Relic, against a local server speaking NerdGraph ---------------------------------------

class _NerdGraph(BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append((self.headers.get("API-Key"), body))
        query = body["query"]
        aliases = re.findall(r"(\w+): nrql\(query: \"((?:[^\"\\]|\\.)*)\"", query)
        account = {}
        for alias, nrql in aliases:
            if "FACET cohort, model" in nrql:
                rows = [{"facet": ["canary", "claude-3-5-haiku"], "requests": 60, "cost": 0.84},
                        {"facet": ["canary", "claude-sonnet-4-5"], "requests": 40, "cost": 0.88},
                        {"facet": ["control", "claude-sonnet-4-5"], "requests": 900, "cost": 27.0}]
            elif "SyntheticCheck" in nrql:
                rows = [{"uptime": 99.95, "checks": 2880}]
            elif "FROM (SELECT" in nrql:
                rows = [{"peak": 41}]
            elif "TIMESERIES" in nrql:
                begin = int(datetime(2026, 11, 10, 9, tzinfo=timezone.utc).timestamp())
                rows = [{"beginTimeSeconds": begin + 3600 * i, "endTimeSeconds": begin + 3600 * (i + 1),
                         "facet": c, "cohort": c, "requests": 50, "skill_error_rate": 1.0 + i,
                         "p95_response_time": {"95": 3000.0}} for i in range(2) for c in ("canary", "control")]
            else:
                rows = [{"facet": "canary", "cohort": "canary", "requests": 100, "p50": {"50": 1400.0},
                         "p99": {"99": 6100.0}, "max": 9000.0, "cost_total": 1.72, "under_0": 97.0,
                         "under_1": 100.0, "skill_error_rate": 1.0, "p95_response_time": {"95": 3500.0},
                         "cost_per_request": 0.0172},
                        {"facet": "control", "cohort": "control", "requests": 900, "p50": {"50": 1800.0},
                         "skill_error_rate": 0.9, "p95_response_time": {"95": 3900.0},
                         "cost_per_request": 0.03, "cost_total": 27.0}]
            account[alias] = {"results": rows}
        data = json.dumps({"data": {"actor": {"account": account}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def nerdgraph():
    _NerdGraph.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _NerdGraph)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/graphql"
    server.shutdown()


def test_newrelic_report_source_one_request_for_all_windows(nerdgraph):
    from rollout.adapters.metrics.newrelic import NewRelicSource
    from rollout.adapters.reportdata.newrelic import NewRelicReportSource

    catalog = load_catalog()
    src = NewRelicReportSource(NewRelicSource(1234567, "NRAK-test", nerdgraph))
    windows = {"main": Window(T0, T0 + D), "baseline": Window(T0 - 7 * D, T0 + D)}
    got = src.summaries(catalog, windows, reports.latency_limits(catalog))
    assert len(_NerdGraph.bodies) == 1
    key, body = _NerdGraph.bodies[0]
    assert key == "NRAK-test" and body["variables"] == {"account": 1234567}
    q = body["query"]
    assert f"SINCE {int(T0.timestamp() * 1000)} UNTIL {int((T0 + D).timestamp() * 1000)}" in q
    assert "percentage(count(*), WHERE executionTime < 5000) AS 'under_0'" in q
    assert "percentage(count(*), WHERE success IS FALSE) AS 'skill_error_rate'" in q
    health = catalog.metrics["service_health"].nrql_override      # its monitor, without the result
    monitor = health[health.index(" FROM SyntheticCheck WHERE ") + len(" FROM SyntheticCheck "):]
    assert ("SELECT percentage(count(*), WHERE result = 'SUCCESS') AS 'uptime', count(*) AS 'checks' "
            f"FROM SyntheticCheck {monitor} SINCE") in q.replace('\\"', '"')
    assert "FROM (SELECT count(*) AS n FROM SkillExecution TIMESERIES 1 minute)" in q
    main = got["main"]
    can = main.cohort("canary")
    assert (can.requests, can.p50, can.p99, can.max, can.cost_total) == (100, 1400.0, 6100.0, 9000.0, 1.72)
    assert can.under == {5000.0: 97.0, 10000.0: 100.0}
    assert can.value("p95_response_time") == 3500.0 and can.value("skill_error_rate") == 1.0
    assert can.models["claude-3-5-haiku"].requests == 60 and can.models["claude-3-5-haiku"].cost == 0.84
    assert main.cohort("control").requests == 900
    assert main.uptime.percent == 99.95 and main.uptime.outages is None
    assert main.peak_per_minute == 41 and main.errors == {}
    assert reports.savings(catalog, can, main.cohort("control")) == pytest.approx(42.666666, rel=1e-5)
    buckets = src.series(catalog, datetime(2026, 11, 10, 9, tzinfo=timezone.utc),
                         datetime(2026, 11, 10, 11, tzinfo=timezone.utc), H, reports.SERIES_METRICS)
    assert [b.cohort("canary").values["skill_error_rate"] for b in buckets] == [1.0, 2.0]
    assert "TIMESERIES 60 minutes" in _NerdGraph.bodies[1][1]["query"]


# -- the command line ---------------------------------------------------------------------------

@pytest.fixture
def repo(tmp_path, rehearsal):
    repo = make_repo(tmp_path)
    shutil.copy(rehearsal["path"], repo / "flags.db")
    return repo


def test_cli_daily_json_matches_and_markdown_prints(repo, rehearsal):
    at = T0 + 2 * D + 9 * H
    r = rollout(["report", "daily", FLAG, "--store", "sqlite:///flags.db", "--at", at.isoformat(),
                 "--output", "json"], repo)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    can = ref(pick(rehearsal["rows"], at - D, at, "canary"))
    s = {l["key"]: l for l in got["summary"]}
    assert s["requests"]["value"] == can["n"]
    assert s["error_rate"]["value"] == pytest.approx(can["error_rate"])
    assert s["p95"]["value"] == pytest.approx(can["p95"])
    assert got["recommendation"]["verdict"] == "hold"         # not yet enough evidence
    md = rollout(["report", "daily", FLAG, "--store", "sqlite:///flags.db", "--at", at.isoformat()], repo)
    assert md.returncode == 0 and md.stdout.startswith("## Canary Report - Day 3\n")


def test_cli_output_dir_writes_report_and_chart(repo):
    r = rollout(["report", "final", FLAG, "--store", "sqlite:///flags.db", "--at", END.isoformat(),
                 "--output-dir", "reports"], repo)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["reports/final-skills_rollout-2026-11-16.md",
                                "reports/final-skills_rollout-2026-11-16.svg"]
    md = (repo / "reports/final-skills_rollout-2026-11-16.md").read_text()
    assert "](final-skills_rollout-2026-11-16.svg)" in md and "**Verdict: ALL DATA CRITERIA MET**" in md
    ET.fromstring((repo / "reports/final-skills_rollout-2026-11-16.svg").read_text())
    review = rollout(["report", "review", FLAG, "--store", "sqlite:///flags.db", "--at", END.isoformat(),
                      "--chart", "out/review.svg"], repo)
    assert review.returncode == 0, review.stderr
    assert "![Rollout timeline](out/review.svg)" in review.stdout and (repo / "out/review.svg").exists()


@pytest.mark.parametrize("args, code, message", [
    (["report", "weekly", FLAG], 2, "invalid choice: 'weekly'"),
    (["report", "daily", "nope"], 2, "flag 'nope': no file rollout/flags/nope.yaml"),
    (["report", "daily", FLAG, "--at", "yesterday"], 2, "--at 'yesterday': expected an ISO-8601 time"),
    (["report", "daily", FLAG, "--window", "1w"], 2, "--window: expected a duration"),
    (["report", "daily", FLAG, "--metrics", "sqlite:///garbage.db"], 4, "events database garbage.db"),
    (["report", "daily", FLAG, "--metrics", "ftp://x"], 2, "unknown scheme 'ftp'"),
])
def test_cli_bad_input_and_failing_source(repo, args, code, message):
    (repo / "garbage.db").write_bytes(b"this is not a database" * 100)
    r = rollout(args + ["--store", "sqlite:///flags.db"], repo)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert message in r.stderr.strip().splitlines()[-1]
    assert "Traceback" not in r.stderr


def test_cli_report_after_a_drill(tmp_path):
    """`rollout drill --store` then `rollout report` on that rehearsal: its own numbers."""
    repo = make_repo(tmp_path)
    drill = rollout(["drill", "--store", "sqlite:///drill.db", "--output", "json"], repo)
    assert drill.returncode == 0, drill.stderr
    summary = json.loads(drill.stdout)
    end = datetime.fromisoformat(summary["simulated"]["end"])
    r = rollout(["report", "final", FLAG, "--store", "sqlite:///drill.db", "--at", "latest",
                 "--output", "json"], repo)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["applied"] == 100 and got["verdict"] == "ALL DATA CRITERIA MET"
    assert datetime.fromisoformat(got["at"]) >= end - timedelta(minutes=15)
    db = sqlite3.connect(repo / "drill.db")
    start = datetime.fromisoformat(got["window"]["start"])
    at = datetime.fromisoformat(got["at"])
    n, fails = db.execute("SELECT count(*), sum(success = 0) FROM skill_events WHERE cohort = 'canary' "
                          "AND timestamp >= ? AND timestamp < ?",
                          (round(start.timestamp() * 1000), round(at.timestamp() * 1000))).fetchone()
    assert {l["key"]: l for l in got["items"]}["error_rate"]["value"] == pytest.approx(100 * fails / n)

"""`rollout report`: every number asserted against the rehearsal's history and events
(tests/report_rehearsal.py: the playbook's timeline, an abort, a retry, a minute without
traffic), recomputed there with plain Python, never with the code under test. The chart,
the New Relic report source and the command line: tests/test_reports_output.py.
"""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from rollout.adapters.reportdata.sqlite import SQLiteReportSource
from rollout.adapters.store import open_store
from rollout.core import reports
from rollout.core.catalog import load_catalog
from rollout.core.reports.daily import Issue
from rollout.core.reports.review import Decision
from rollout.core.reports.summaries import Window
from rollout.core.state import HELD
from tests.report_rehearsal import (ABORT, ABORT_REASON, BETA, D, END, FLAG, FULL, H,
                                    HOLD_REASON, OUTAGE, RESUME, RETRY_AT, T0, by_key, make,
                                    percentile, pick, ref, uptime)

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


def test_review_fills_the_seed_template_where_the_data_knows(rehearsal):
    """...and leaves it blank where people do."""
    r, md = make(rehearsal, "review", END)
    phases = {p.step: p for p in r.phases}
    up, _ = uptime(rehearsal["rows"], T0, END)
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

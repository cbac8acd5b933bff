"""The gate, criterion by criterion: every row is one rule of the playbook (003) or the
canary monitor (002), judged on observations shaped as the metric sources produce them
(per-bucket tallies over the step, tests/judge_obs.py)."""
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from rollout.core.catalog import load_catalog
from rollout.core.gate import (ERROR, HOLD, INCONCLUSIVE, PASS, PROCEED, ROLLBACK, Check, Code,
                               evaluate, soak_check)
from rollout.core.gate_render import render_json, render_markdown, render_table
from tests.judge_obs import observations, spreads_of, steady, steady_observations

CATALOG = load_catalog()
END = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
SOAKED = soak_check(True, "soak of step canary served: 80h of 72h", "72h")

HEALTHY = {"skill_error_rate": 0.6, "skills_api_success": 99.4, "p95_response_time": 3600.0,
           "avg_response_time": 1900.0, "cost_per_request": 0.018, "cache_hit_rate": 50.0,
           "timeout_rate": 0.2}
CONTROL = {**HEALTHY, "cost_per_request": 0.03, "cache_hit_rate": 30.0}
# service-level metrics: successful /health checks in the last 3 minutes, peak memory %
SERVICE = {"service_health": 3.0, "memory_usage": 60.0}
RAN = {"service_health": 9.0}
PLENTY = (2000, 2000)           # requests an hour per cohort: evidence settles every question


def observe(canary=None, control=None, *, per_hour=PLENTY, hours=72, service=None, ran=None,
            **kw):
    can = {**HEALTHY, **(canary or {})}
    if "skill_error_rate" in (canary or {}) and "skills_api_success" not in (canary or {}):
        can["skills_api_success"] = 100 - can["skill_error_rate"]
    ctl = {**CONTROL, **(control or {})}
    return steady_observations(CATALOG, can, ctl, hours=hours, per_hour=per_hour, end=END,
                               service={**SERVICE, **(service or {})},
                               ran=RAN if ran is None else ran, **kw)


HEALTHY_OBS = object()


def run(step="canary", obs=HEALTHY_OBS, catalog=CATALOG, **kw):
    kw.setdefault("soak", SOAKED)
    return evaluate(catalog, step, observe() if obs is HEALTHY_OBS else obs,
                    flag="skills_rollout", **kw)


def check(result, name) -> Check:
    found = [c for c in result.checks if c.name == name]
    assert found, f"no check {name} in {[c.name for c in result.checks]}"
    return found[0]


def savings(pct):   # canary cost per request giving `pct` % savings against control's $0.03
    return {"cost_per_request": 0.03 * (1 - pct / 100)}


def api(success):
    return {"skill_error_rate": 100 - success, "skills_api_success": success}


# (id, step, canary values, control values, check, verdict, code)
CRITERIA = [
    # 003 canary decision, error rate: < 2 proceed, 2-5 hold and investigate, > 5 roll back
    ("error 1.5 meets the target", "canary", {"skill_error_rate": 1.5}, {}, "skill_error_rate", PASS, Code.TARGET_MET),
    ("error 2.0 is never shown below 2", "canary", {"skill_error_rate": 2.0}, {}, "skill_error_rate", INCONCLUSIVE, Code.INSUFFICIENT_EVIDENCE),
    ("error 3.5 holds in the band", "canary", {"skill_error_rate": 3.5}, {"skill_error_rate": 3.5}, "skill_error_rate", HOLD, Code.HOLD_BAND),
    ("error 5.0 holds, never rolls back", "canary", {"skill_error_rate": 5.0}, {"skill_error_rate": 5.0}, "skill_error_rate", HOLD, Code.HOLD_BAND),
    ("error 5.5 rolls back", "canary", {"skill_error_rate": 5.5}, {}, "skill_error_rate", ROLLBACK, Code.THRESHOLD_CROSSED),
    ("error rule at beta too", "beta", {"skill_error_rate": 7.0}, {}, "skill_error_rate", ROLLBACK, Code.THRESHOLD_CROSSED),
    ("error 3 at full holds", "full", {"skill_error_rate": 3.0}, {}, "skill_error_rate", HOLD, Code.HOLD_BAND),
    # p95 < 5 s proceed, 5-10 s hold, > 10 s roll back (AC#4)
    ("p95 4000 meets the target", "canary", {"p95_response_time": 4000}, {}, "p95_response_time", PASS, Code.TARGET_MET),
    ("p95 5000 is never shown below 5 s", "canary", {"p95_response_time": 5000}, {}, "p95_response_time", INCONCLUSIVE, Code.INSUFFICIENT_EVIDENCE),
    ("p95 7500 holds in the band", "canary", {"p95_response_time": 7500}, {}, "p95_response_time", HOLD, Code.HOLD_BAND),
    ("p95 10000 holds, never rolls back", "canary", {"p95_response_time": 10000}, {}, "p95_response_time", HOLD, Code.HOLD_BAND),
    ("p95 10500 rolls back", "canary", {"p95_response_time": 10500}, {}, "p95_response_time", ROLLBACK, Code.THRESHOLD_CROSSED),
    # Skills API success > 95 %; "completely failing" is a 100 % error rate: rolls back
    ("api 97 meets the target", "canary", api(97.0), {}, "skills_api_success", PASS, Code.TARGET_MET),
    ("api 95 is never shown above 95", "canary", api(95.0), {}, "skills_api_success", INCONCLUSIVE, Code.INSUFFICIENT_EVIDENCE),
    ("api 40 holds", "canary", api(40.0), {}, "skills_api_success", HOLD, Code.HOLD_BAND),
    ("api completely failing rolls back", "canary", api(0.0), {}, "skill_error_rate", ROLLBACK, Code.THRESHOLD_CROSSED),
    # cost savings: canary "trending toward > 35", 20-35 hold, nothing rolls back
    ("savings 40 at canary", "canary", savings(40), {}, "cost_savings", PASS, Code.TARGET_MET),
    ("savings 25 at canary holds", "canary", savings(25), {}, "cost_savings", HOLD, Code.HOLD_BAND),
    ("savings 10 at canary holds", "canary", savings(10), {}, "cost_savings", HOLD, Code.HOLD_BAND),
    # beta decision: > 35 proceed, 30-35 hold, < 30 roll back (AC#5)
    ("savings 37 at beta", "beta", savings(37), {}, "cost_savings", PASS, Code.TARGET_MET),
    ("savings 35 at beta is never shown above 35", "beta", savings(35), {}, "cost_savings", INCONCLUSIVE, Code.INSUFFICIENT_EVIDENCE),
    ("savings 32 at beta holds", "beta", savings(32), {}, "cost_savings", HOLD, Code.HOLD_BAND),
    ("savings 30 at beta holds, never rolls back", "beta", savings(30), {}, "cost_savings", HOLD, Code.HOLD_BAND),
    ("savings 28 at beta rolls back", "beta", savings(28), {}, "cost_savings", ROLLBACK, Code.THRESHOLD_CROSSED),
    # cache hit rate, a proceed criterion only for leaving beta: > 40 proceed, 30-40 hold
    ("cache 45 at beta", "beta", {"cache_hit_rate": 45.0}, {}, "cache_hit_rate", PASS, Code.TARGET_MET),
    ("cache 35 at beta holds", "beta", {"cache_hit_rate": 35.0}, {}, "cache_hit_rate", HOLD, Code.HOLD_BAND),
    ("cache 20 at beta holds", "beta", {"cache_hit_rate": 20.0}, {}, "cache_hit_rate", HOLD, Code.HOLD_BAND),
    # AI-service table and budget
    ("avg 4000 passes", "canary", {"avg_response_time": 4000}, {"avg_response_time": 4000}, "avg_response_time", PASS, Code.TARGET_MET),
    ("avg 6000 holds", "canary", {"avg_response_time": 6000}, {"avg_response_time": 6000}, "avg_response_time", HOLD, Code.HOLD_BAND),
    ("cost 0.015 passes", "canary", {"cost_per_request": 0.015}, {}, "cost_per_request", PASS, Code.TARGET_MET),
    ("cost 0.025 holds", "canary", {"cost_per_request": 0.025}, {}, "cost_per_request", HOLD, Code.HOLD_BAND),
    ("timeouts 0.5 pass", "canary", {"timeout_rate": 0.5}, {}, "timeout_rate", PASS, Code.TARGET_MET),
    ("timeouts 2 hold", "canary", {"timeout_rate": 2.0}, {}, "timeout_rate", HOLD, Code.HOLD_BAND),
    # 003 emergency: cost spike > 150 % of baseline (canary as % of control)
    ("cost 155 % of control rolls back", "canary", {"cost_per_request": 0.0465}, {}, "cost_per_request vs control", ROLLBACK, Code.THRESHOLD_CROSSED),
    ("cost 145 % of control does not", "canary", {"cost_per_request": 0.0435}, {}, "cost_per_request vs control", PASS, Code.CLEAR),
    # 002 canary monitor: +1 point of errors, +1000 ms against control hold and alert SEV3
    ("error +2 points over control holds", "canary", {"skill_error_rate": 3.0}, {"skill_error_rate": 1.0}, "skill_error_rate vs control", HOLD, Code.REGRESSION_VS_CONTROL),
    ("error +0.5 points is within the margin", "canary", {"skill_error_rate": 1.5}, {"skill_error_rate": 1.0}, "skill_error_rate vs control", PASS, Code.CLEAR),
    ("error better than control passes", "canary", {"skill_error_rate": 0.5}, {"skill_error_rate": 1.0}, "skill_error_rate vs control", PASS, Code.CLEAR),
    ("latency +1500 ms over control holds", "canary", {"avg_response_time": 3400}, {}, "avg_response_time vs control", HOLD, Code.REGRESSION_VS_CONTROL),
    ("latency +300 ms is within the margin", "canary", {"avg_response_time": 2200}, {}, "avg_response_time vs control", PASS, Code.CLEAR),
]


@pytest.mark.parametrize("step,canary,control,name,verdict,code",
                         [c[1:] for c in CRITERIA], ids=[c[0] for c in CRITERIA])
def test_playbook_criteria(step, canary, control, name, verdict, code):
    result = run(step, observe(canary, control, per_hour=(2000, 0 if step == "full" else 2000)))
    c = check(result, name)
    assert (c.verdict, c.code) == (verdict, code), c.reason
    # the overall verdict follows: a rollback row rolls back, a hold or inconclusive one never proceeds
    assert result.verdict == ROLLBACK if verdict == ROLLBACK else \
        (verdict == PASS or result.verdict != PROCEED)
    if verdict != ROLLBACK and "skills_api_success" not in canary:
        assert result.verdict != ROLLBACK, result.reasons


def test_a_healthy_canary_proceeds():
    result = run("canary")
    assert result.verdict == PROCEED and result.code == Code.TARGET_MET, result.reasons
    assert result.exit_code == 0 and result.reasons == [] and result.alerts == []


def test_the_hold_band_alerts_and_never_rolls_back():
    result = run("canary", observe({"skill_error_rate": 3.5}, {"skill_error_rate": 3.5}))
    assert result.verdict == HOLD and result.code == Code.HOLD_BAND and result.exit_code == 1
    assert [c.name for c in result.alerts] == ["skill_error_rate"]
    c = check(result, "skill_error_rate")
    assert "misses target < 2 (hold band 2..5)" in c.reason and "hold and investigate" in c.reason
    assert c.target == "< 2" and c.threshold == "hold 2..5; rollback > 5"
    assert c.evidence["bounds"]["low"] > 2 and c.evidence["bounds"]["confidence"] == 0.95


def test_a_regression_rolls_back_only_when_the_catalog_says_so():
    obs = observe({"skill_error_rate": 3.0}, {"skill_error_rate": 1.0})
    assert check(run("canary", obs), "skill_error_rate vs control").verdict == HOLD
    strict = replace(CATALOG, judge=replace(CATALOG.judge, regression_rolls_back=True))
    c = check(run("canary", obs, catalog=strict), "skill_error_rate vs control")
    assert (c.verdict, c.code) == (ROLLBACK, Code.REGRESSION_VS_CONTROL)


@pytest.mark.parametrize("step,present,absent", [
    ("canary", ["skill_error_rate", "p95_response_time", "cost_savings"], ["cache_hit_rate"]),
    ("beta", ["cache_hit_rate", "cost_savings"], []),
    ("full", ["skill_error_rate"], ["cache_hit_rate"]),
])
def test_which_metrics_gate_at_which_step(step, present, absent):
    names = {c.name for c in run(step).checks}
    assert set(present) <= names and not set(absent) & names
    # alert-only metrics never gate; the service-level rollback triggers gate at every live step
    assert not {"token_reduction", "fallback_rate"} & names
    assert {"memory_usage", "service_health"} <= names


# -- evidence, not a sample floor ------------------------------------------------------------

def fine_steps(values_by_phase, per_hour):
    """Fine tallies of a canary behaving as each (hours, values) phase in turn."""
    parts = [steady(CATALOG, {**HEALTHY, **v}, per_hour / 12, round(h * 12)) for h, v in values_by_phase]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def phased(phases, per_hour=(21, 400)):
    hours = sum(h for h, _ in phases)
    start = END - timedelta(hours=hours)
    fine = {"canary": fine_steps(phases, per_hour[0]),
            "control": steady(CATALOG, CONTROL, per_hour[1] / 12, round(hours * 12))}
    last = {**HEALTHY, **phases[-1][1]}
    return observations(CATALOG, start, END, fine, {"canary": last, "control": CONTROL},
                        {"canary": spreads_of(last), "control": spreads_of(CONTROL)},
                        service=SERVICE, ran=RAN)


def test_a_few_damning_requests_roll_back_without_any_floor():
    # the playbook's 1x traffic: a 5 % canary sees ~21 requests an hour; after 2 h of a
    # completely failing Skills API (about 40 requests, all failed) the evidence suffices
    result = run("canary", phased([(24, {}), (2, api(0.0))]))
    c = check(result, "skill_error_rate")
    assert (c.verdict, c.code) == (ROLLBACK, Code.THRESHOLD_CROSSED), c.reason
    assert "14 errors in 14 canary requests (100.0 %) against the line 5 %" in c.reason


def test_thin_data_is_not_yet_known_and_neither_proceeds_nor_rolls_back():
    result = run("canary", phased([(1, {"skill_error_rate": 10.0})]))
    c = check(result, "skill_error_rate")
    assert (c.verdict, c.code) == (INCONCLUSIVE, Code.INSUFFICIENT_EVIDENCE), c.reason
    assert result.verdict == HOLD and result.exit_code == 1


def test_a_recent_move_into_the_hold_band_holds_although_the_step_average_is_fine():
    # 60 h healthy at 1,000 requests an hour, then 12 h at 4 %: the step's error rate is
    # 1.2 %, the target "met" on average, but the hold chart sees the recent change
    result = run("canary", phased([(60, {}), (12, {"skill_error_rate": 4.0})], (1000, 1000)))
    c = check(result, "skill_error_rate")
    assert (c.verdict, c.code) == (HOLD, Code.HOLD_BAND), c.reason
    assert "a recent move over the target line >= 2" in c.reason
    assert c.evidence["crossed"]["role"] == "hold"


def test_a_rollback_crossing_stays_in_the_step_even_after_recovery():
    # the chart crossed during a 6-hour outage; a look the guard missed cannot hide it
    result = run("canary", phased([(24, {}), (6, {"skill_error_rate": 40.0}), (12, {})]))
    assert check(result, "skill_error_rate").verdict == ROLLBACK


def test_enough_canary_data_rolls_back_without_control():
    # at 100 % there is no control: the absolute breach still rolls back
    result = run("full", observe({"skill_error_rate": 6.0}, {}, per_hour=(2000, 0)))
    assert check(result, "skill_error_rate").verdict == ROLLBACK
    c = check(result, "skill_error_rate vs control")
    assert (c.verdict, c.code) == (INCONCLUSIVE, Code.NO_DATA)
    assert result.verdict == ROLLBACK and result.exit_code == 3


def test_savings_at_full_are_judged_against_the_catalog_baseline():
    # no control at 100 %: the playbook's baseline $0.03 per request stands in for it
    result = run("full", observe(savings(25), per_hour=(2000, 0)))
    c = check(result, "cost_savings")
    assert c.verdict == ROLLBACK and "of the reference" in c.reason


def test_no_data_holds():
    empty = observations(CATALOG, END - timedelta(hours=1), END, {}, {}, {})
    for obs in (empty, None):
        result = run("canary", obs)
        targets = [c for c in result.checks if c.scope == "cohort" and c.metric and c.target
                   and not c.name.endswith("vs control")]
        assert targets and all((c.verdict, c.code) == (INCONCLUSIVE, Code.NO_DATA) for c in targets)
        # the rollback-only cost spike check has nothing against it, and says so
        spike = check(result, "cost_per_request vs control")
        assert spike.verdict in (PASS, INCONCLUSIVE) and spike.code in (Code.CLEAR, Code.NO_DATA)
        assert result.verdict == HOLD and result.exit_code == 1


def test_source_failure_holds_with_exit_4():
    result = evaluate(CATALOG, "canary", None, soak=SOAKED, source_error="New Relic: HTTP 503")
    metric_checks = [c for c in result.checks if c.name != "soak"]
    assert metric_checks and all((c.verdict, c.code) == (ERROR, Code.SOURCE_FAILED)
                                 for c in metric_checks)
    assert all("New Relic: HTTP 503" in c.reason for c in metric_checks)
    assert result.verdict == HOLD and result.exit_code == 4 and result.code == Code.SOURCE_FAILED


def test_one_failed_metric_errors_alone():
    result = run("canary", observe(errors={"cost_per_request": "NRQL Syntax Error (INVALID_INPUT)"}))
    failed = {c.name for c in result.checks if c.verdict == ERROR}
    # the derived savings depend on it, so they fail with it
    assert failed == {"cost_per_request", "cost_per_request vs control", "cost_savings"}
    assert result.verdict == HOLD and result.exit_code == 4


def test_rollback_wins_over_a_failed_metric():
    obs = observe({"skill_error_rate": 8.0}, errors={"p95_response_time": "timeout"})
    result = run("canary", obs)
    assert result.verdict == ROLLBACK and result.exit_code == 3
    assert result.code == Code.THRESHOLD_CROSSED


# -- service-level metrics: one service-wide value, no cohort ------------------------------------

# (id, step, service values, checks that ran, check, verdict, code)
SERVICE_CRITERIA = [
    # 002 automatic rollback trigger "Memory usage > 95 %"; 003 secondary target < 80 %
    ("memory 96 rolls back", "canary", {"memory_usage": 96.0}, None, "memory_usage", ROLLBACK, Code.THRESHOLD_CROSSED),
    ("memory 96 rolls back at full", "full", {"memory_usage": 96.0}, None, "memory_usage", ROLLBACK, Code.THRESHOLD_CROSSED),
    ("memory 95 holds", "canary", {"memory_usage": 95.0}, None, "memory_usage", HOLD, Code.HOLD_BAND),
    ("memory 94 holds, misses target 80", "beta", {"memory_usage": 94.0}, None, "memory_usage", HOLD, Code.HOLD_BAND),
    ("memory 79 passes", "canary", {"memory_usage": 79.0}, None, "memory_usage", PASS, Code.TARGET_MET),
    ("memory without value is inconclusive", "canary", {"memory_usage": None}, None, "memory_usage", INCONCLUSIVE, Code.NO_DATA),
    # 002 "Health check failures (3 consecutive)": the monitor ran and nothing succeeded
    ("health 0 successes of 9 checks rolls back", "canary", {"service_health": 0.0}, 9.0, "service_health", ROLLBACK, Code.THRESHOLD_CROSSED),
    ("health 0 of exactly 3 checks rolls back", "beta", {"service_health": 0.0}, 3.0, "service_health", ROLLBACK, Code.THRESHOLD_CROSSED),
    ("health 0 of 2 checks: the monitor is silent", "canary", {"service_health": 0.0}, 2.0, "service_health", INCONCLUSIVE, Code.MONITOR_SILENT),
    ("health 0 of no checks: an empty account is not down", "canary", {"service_health": 0.0}, 0.0, "service_health", INCONCLUSIVE, Code.MONITOR_SILENT),
    ("health 1 success passes", "beta", {"service_health": 1.0}, 9.0, "service_health", PASS, Code.CLEAR),
    ("health without value is inconclusive", "full", {"service_health": None}, 9.0, "service_health", INCONCLUSIVE, Code.NO_DATA),
]


@pytest.mark.parametrize("step,service,ran,name,verdict,code",
                         [c[1:] for c in SERVICE_CRITERIA], ids=[c[0] for c in SERVICE_CRITERIA])
def test_service_level_criteria(step, service, ran, name, verdict, code):
    ran = RAN if ran is None else {"service_health": ran}
    result = run(step, observe(service=service, ran=ran, per_hour=(2000, 0 if step == "full" else 2000)))
    c = check(result, name)
    assert (c.verdict, c.code) == (verdict, code) and c.scope == "service" and c.control is None
    assert [x.name for x in result.checks].count(name) == 1       # judged once, not per cohort


def test_service_rollback_reason_names_metric_window_and_criterion():
    c = check(run("canary", observe(service={"service_health": 0.0})), "service_health")
    assert c.reason == ("Skills service health 0 meets the rollback criterion < 1 "
                        "(service-wide, over the last 3 min, 9 checks ran)")
    c = check(run("canary", observe(service={"service_health": 0.0}, ran={})), "service_health")
    assert "the monitor ran no checks there (it takes 3 to call the service down)" in c.reason
    c = check(run("canary", observe(service={"memory_usage": 96.0})), "memory_usage")
    assert "meets the rollback criterion > 95 (service-wide, over the window)" in c.reason


def test_service_metric_is_judged_however_thin_the_traffic():
    result = run("canary", observe(per_hour=(2, 2), hours=1, service={"memory_usage": 97.0}))
    assert check(result, "skill_error_rate").verdict == INCONCLUSIVE
    assert check(result, "memory_usage").verdict == ROLLBACK and result.exit_code == 3


def test_service_metric_the_source_failed_is_an_error():
    result = run("canary", observe(errors={"memory_usage": "NRQL Syntax Error (INVALID_INPUT)"}))
    assert check(result, "memory_usage").code == Code.SOURCE_FAILED and result.exit_code == 4


def test_unmeasured_service_metrics_are_omitted_with_a_note():
    obs = observe(service={"memory_usage": 99.0}, unmeasured={"memory_usage", "service_health"})
    result = run("canary", obs, at=END)
    names = {c.name for c in result.checks}
    assert not {"memory_usage", "service_health"} & names
    assert result.verdict == PROCEED, result.reasons
    assert [m for m, _ in result.omitted] == ["service_health", "memory_usage"]
    omitted = result.to_json()["omitted"]
    assert omitted[1] == {"metric": "memory_usage", "code": "NOT_MEASURED",
                          "reason": "Memory usage (ai-service): the metric source does not "
                                    "measure it"}
    assert "_Not judged: Skills service health: the metric source does not measure it; Memory" \
        in render_markdown(result, CATALOG)
    assert render_table(result, CATALOG).endswith("Memory usage (ai-service): the metric source "
                                                  "does not measure it")


def test_service_metrics_are_not_judged_at_off():
    result = evaluate(CATALOG, "off", observe(service={"memory_usage": 99.0}),
                      soak=soak_check(True, "step off has no soak time"))
    assert [c.name for c in result.checks] == ["soak"] and result.verdict == PROCEED


# -- soak and the step before the canary --------------------------------------------------------

def test_soak_is_the_first_check_and_can_hold():
    waiting = soak_check(False, "soak of step canary: 50h of 72h served, 22h remaining", "72h")
    result = run("canary", soak=waiting)
    assert result.checks[0].name == "soak" and result.checks[0].code == Code.SOAK_NOT_SERVED
    assert result.verdict == HOLD and result.reasons == [waiting.reason]
    assert result.code == Code.SOAK_NOT_SERVED


def test_off_step_has_only_the_soak():
    result = evaluate(CATALOG, "off", None, soak=soak_check(True, "step off has no soak time"))
    assert [c.name for c in result.checks] == ["soak"] and result.verdict == PROCEED


# -- outputs ------------------------------------------------------------------------------------

def test_json_shape_carries_codes_and_evidence():
    out = run("canary", observe({"skill_error_rate": 3.0}), at=END, next_step="beta").to_json()
    assert {"flag", "verdict", "code", "checks"} <= set(out) and out["flag"] == "skills_rollout"
    assert out["step"] == "canary" and out["next_step"] == "beta" and out["verdict"] == HOLD
    assert out["code"] == "HOLD_BAND"
    for c in out["checks"]:
        assert {"name", "verdict", "code", "canary", "control", "threshold", "reason",
                "evidence"} <= set(c)
    error = next(c for c in out["checks"] if c["name"] == "skill_error_rate")
    assert [x["line"] for x in error["evidence"]["charts"]] == ["> 5", "> 10", ">= 2"]
    assert '"code": "TARGET_MET"' in render_json(run())


def test_markdown_is_the_playbook_table_with_codes():
    result = run("canary", observe({"skill_error_rate": 3.0}), at=END, next_step="beta")
    md = render_markdown(result, CATALOG)
    assert "| Metric | Canary | Control | Δ | Target | Threshold | Verdict |" in md
    assert ("| Skill error rate | 3.00 % | 0.60 % | +2.40 pts | < 2 | hold 2..5; rollback > 5 | "
            "⚠️ hold `HOLD_BAND` |") in md
    assert "canary → beta: **HOLD** (`HOLD_BAND`)" in md
    assert "**Skill error rate** (hold, `HOLD_BAND`)" in md
    assert "| Memory usage (ai-service) (service-wide) | 60.00 % | — | — | < 80 |" in md
    assert "Not judged" not in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + len(result.checks)
    assert "HOLD_BAND" in render_table(result, CATALOG)

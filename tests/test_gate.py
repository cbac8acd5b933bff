"""The gate, criterion by criterion: every row is one rule of the playbook (003) or the
canary monitor (002), judged on observations built by hand."""
from datetime import datetime, timezone

import numpy as np
import pytest

from rollout.core.catalog import load_catalog
from rollout.core.gate import (ERROR, HOLD, INCONCLUSIVE, PASS, PROCEED, ROLLBACK, Check,
                               evaluate, soak_check)
from rollout.core.gate_render import render_json, render_markdown, render_table
from rollout.core.observations import CohortData, Observations

CATALOG = load_catalog()
START = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
END = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
SOAKED = soak_check(True, "soak of step canary served: 80h of 72h", "72h")

HEALTHY = {"skill_error_rate": 1.0, "skills_api_success": 99.0, "p95_response_time": 3000.0,
           "avg_response_time": 1500.0, "cost_per_request": 0.012, "cache_hit_rate": 50.0,
           "token_reduction": 75.0, "fallback_rate": 2.0, "timeout_rate": 0.2}
CONTROL = {**HEALTHY, "cost_per_request": 0.02, "cache_hit_rate": 0.0, "token_reduction": 0.0}
# service-level metrics: successful /health checks in the last 3 minutes, peak memory %
SERVICE = {"service_health": 3.0, "memory_usage": 60.0}


def latency(n, median, seed):
    return np.random.default_rng(seed).lognormal(np.log(median), 0.5, n)


def cohort(values, n, seed, samples=None):
    """Counts follow from the percentages, as every source reports them."""
    counts = {m.name: round(values[m.name] * n / 100) for m in CATALOG.metrics.values()
              if m.aggregate and "percentage" in m.aggregate and values.get(m.name) is not None}
    if samples is None:
        samples = latency(n, values["avg_response_time"] / 1.13, seed) if n else []
    return CohortData(n, dict(values), {"executionTime": samples}, counts)


def observe(canary=None, control=None, n=(2000, 2000), samples=(None, None), errors=None,
            service=None, unmeasured=frozenset()):
    return Observations(START, END, {
        "canary": cohort({**HEALTHY, **(canary or {})}, n[0], 1, samples[0]),
        "control": cohort({**CONTROL, **(control or {})}, n[1], 2, samples[1])}, errors or {},
        {**SERVICE, **(service or {})}, frozenset(unmeasured))


HEALTHY_OBS = object()


def run(step="canary", obs=HEALTHY_OBS, **kw):
    kw.setdefault("soak", SOAKED)
    return evaluate(CATALOG, step, observe() if obs is HEALTHY_OBS else obs,
                    flag="skills_rollout", **kw)


def check(result, name) -> Check:
    found = [c for c in result.checks if c.name == name]
    assert found, f"no check {name} in {[c.name for c in result.checks]}"
    return found[0]


def savings(pct):   # canary cost per request giving `pct` % savings against control's $0.02
    return {"cost_per_request": 0.02 * (1 - pct / 100)}


# (id, step, canary values, control values, check, expected verdict)
CRITERIA = [
    # 003 canary decision: error rate < 2 proceed, 2-5 hold, > 5 rollback (AC#6)
    ("error 1.5 passes", "canary", {"skill_error_rate": 1.5}, {"skill_error_rate": 1.5}, "skill_error_rate", PASS),
    ("error 2.0 holds", "canary", {"skill_error_rate": 2.0}, {"skill_error_rate": 2.0}, "skill_error_rate", HOLD),
    ("error 3.5 holds", "canary", {"skill_error_rate": 3.5}, {"skill_error_rate": 3.5}, "skill_error_rate", HOLD),
    ("error 5.0 holds", "canary", {"skill_error_rate": 5.0}, {"skill_error_rate": 5.0}, "skill_error_rate", HOLD),
    ("error 5.1 rolls back", "canary", {"skill_error_rate": 5.1}, {"skill_error_rate": 5.1}, "skill_error_rate", ROLLBACK),
    ("error rule at beta too", "beta", {"skill_error_rate": 7.0}, {"skill_error_rate": 7.0}, "skill_error_rate", ROLLBACK),
    ("error rule at full", "full", {"skill_error_rate": 3.0}, {}, "skill_error_rate", HOLD),
    # p95 < 5 s proceed, 5-10 s hold, > 10 s rollback (AC#4)
    ("p95 4999 passes", "canary", {"p95_response_time": 4999}, {}, "p95_response_time", PASS),
    ("p95 5000 holds", "canary", {"p95_response_time": 5000}, {}, "p95_response_time", HOLD),
    ("p95 7500 holds", "canary", {"p95_response_time": 7500}, {}, "p95_response_time", HOLD),
    ("p95 10000 holds", "canary", {"p95_response_time": 10000}, {}, "p95_response_time", HOLD),
    ("p95 10001 rolls back", "canary", {"p95_response_time": 10001}, {}, "p95_response_time", ROLLBACK),
    # Skills API success > 95 %; "completely failing" rolls back
    ("api 96 passes", "canary", {"skills_api_success": 96.0}, {}, "skills_api_success", PASS),
    ("api 95 holds", "canary", {"skills_api_success": 95.0}, {}, "skills_api_success", HOLD),
    ("api 40 holds", "canary", {"skills_api_success": 40.0}, {}, "skills_api_success", HOLD),
    ("api 0 rolls back", "canary", {"skills_api_success": 0.0}, {}, "skills_api_success", ROLLBACK),
    # cost savings: canary "trending toward > 35", 20-35 hold, nothing rolls back
    ("savings 40 at canary", "canary", savings(40), {}, "cost_savings", PASS),
    ("savings 25 at canary", "canary", savings(25), {}, "cost_savings", HOLD),
    ("savings 10 at canary", "canary", savings(10), {}, "cost_savings", HOLD),
    # beta decision: > 35 proceed, 30-35 hold, < 30 rollback (AC#5)
    ("savings 36 at beta", "beta", savings(36), {}, "cost_savings", PASS),
    ("savings 35 at beta", "beta", savings(35), {}, "cost_savings", HOLD),
    ("savings 32 at beta", "beta", savings(32), {}, "cost_savings", HOLD),
    ("savings 30 at beta", "beta", savings(30), {}, "cost_savings", HOLD),
    ("savings 29 at beta", "beta", savings(29), {}, "cost_savings", ROLLBACK),
    ("savings 25 at full", "full", savings(25), {}, "cost_savings", ROLLBACK),
    # cache hit rate, a proceed criterion only for leaving beta: > 40 proceed, 30-40 hold
    ("cache 45 at beta", "beta", {"cache_hit_rate": 45.0}, {}, "cache_hit_rate", PASS),
    ("cache 35 at beta", "beta", {"cache_hit_rate": 35.0}, {}, "cache_hit_rate", HOLD),
    ("cache 20 at beta holds", "beta", {"cache_hit_rate": 20.0}, {}, "cache_hit_rate", HOLD),
    # AI-service table and budget
    ("avg 4000 passes", "canary", {"avg_response_time": 4000}, {"avg_response_time": 4000}, "avg_response_time", PASS),
    ("avg 6000 holds", "canary", {"avg_response_time": 6000}, {"avg_response_time": 6000}, "avg_response_time", HOLD),
    ("cost 0.015 passes", "canary", {"cost_per_request": 0.015}, {}, "cost_per_request", PASS),
    ("cost 0.025 holds", "canary", {"cost_per_request": 0.025}, {"cost_per_request": 0.025}, "cost_per_request", HOLD),
    ("timeouts 0.5 pass", "canary", {"timeout_rate": 0.5}, {}, "timeout_rate", PASS),
    ("timeouts 2 hold", "canary", {"timeout_rate": 2.0}, {}, "timeout_rate", HOLD),
    # 003 emergency: cost spike > 150 % of baseline (canary as % of control)
    ("cost 155 % of control", "canary", {"cost_per_request": 0.031}, {}, "cost_per_request vs control", ROLLBACK),
    ("cost 145 % of control", "canary", {"cost_per_request": 0.029}, {}, "cost_per_request vs control", PASS),
]


@pytest.mark.parametrize("step,canary,control,name,expected",
                         [c[1:] for c in CRITERIA], ids=[c[0] for c in CRITERIA])
def test_playbook_criteria(step, canary, control, name, expected):
    result = run(step, observe(canary, control))
    assert check(result, name).verdict == expected


def test_hold_reason_names_the_band():
    c = check(run("canary", observe({"skill_error_rate": 3.5}, {"skill_error_rate": 3.5})),
              "skill_error_rate")
    assert "misses target < 2" in c.reason and "hold band 2..5" in c.reason
    assert c.target == "< 2" and c.threshold == "hold 2..5; rollback > 5"


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


# -- service-level metrics: one service-wide value, no cohort ------------------------------------

# (id, step, service values, check, expected verdict)
SERVICE_CRITERIA = [
    # 002 automatic rollback trigger "Memory usage > 95 %"; 003 secondary target < 80 %
    ("memory 96 rolls back", "canary", {"memory_usage": 96.0}, "memory_usage", ROLLBACK),
    ("memory 96 rolls back at full", "full", {"memory_usage": 96.0}, "memory_usage", ROLLBACK),
    ("memory 95 holds", "canary", {"memory_usage": 95.0}, "memory_usage", HOLD),
    ("memory 94 holds, misses target 80", "beta", {"memory_usage": 94.0}, "memory_usage", HOLD),
    ("memory 79 passes", "canary", {"memory_usage": 79.0}, "memory_usage", PASS),
    ("memory without value is inconclusive", "canary", {"memory_usage": None}, "memory_usage",
     INCONCLUSIVE),
    # 002 "Health check failures (3 consecutive)": no successful check in the last 3 minutes
    ("health 0 successes rolls back", "canary", {"service_health": 0.0}, "service_health", ROLLBACK),
    ("health 1 success passes", "beta", {"service_health": 1.0}, "service_health", PASS),
    ("health without value is inconclusive", "full", {"service_health": None}, "service_health",
     INCONCLUSIVE),
]


@pytest.mark.parametrize("step,service,name,expected",
                         [c[1:] for c in SERVICE_CRITERIA], ids=[c[0] for c in SERVICE_CRITERIA])
def test_service_level_criteria(step, service, name, expected):
    result = run(step, observe(service=service))
    c = check(result, name)
    assert c.verdict == expected and c.scope == "service" and c.control is None
    assert [x.name for x in result.checks].count(name) == 1       # judged once, not per cohort
    assert result.verdict == {PASS: PROCEED, INCONCLUSIVE: HOLD}.get(expected, expected)


def test_service_rollback_reason_names_metric_window_and_criterion():
    c = check(run("canary", observe(service={"service_health": 0.0})), "service_health")
    assert c.reason == ("Skills service health 0 meets the rollback criterion < 1 "
                        "(service-wide, over the last 3 min)")
    c = check(run("canary", observe(service={"memory_usage": 96.0})), "memory_usage")
    assert "meets the rollback criterion > 95 (service-wide, over the window)" in c.reason


def test_service_metric_needs_no_request_minimum():
    # a few canary requests hold the cohort checks, but the service itself is judged
    result = run("canary", observe(n=(10, 10), service={"memory_usage": 97.0}))
    assert check(result, "skill_error_rate").verdict == INCONCLUSIVE
    assert check(result, "memory_usage").verdict == ROLLBACK and result.exit_code == 3


def test_service_metric_the_source_failed_is_an_error():
    result = run("canary", observe(errors={"memory_usage": "NRQL Syntax Error (INVALID_INPUT)"}))
    assert check(result, "memory_usage").verdict == ERROR and result.exit_code == 4


def test_unmeasured_service_metrics_are_omitted_with_a_note():
    obs = observe(service={"memory_usage": 99.0}, unmeasured={"memory_usage", "service_health"})
    result = run("canary", obs, at=END)
    names = {c.name for c in result.checks}
    assert not {"memory_usage", "service_health"} & names
    assert result.verdict == PROCEED, result.reasons
    assert [m for m, _ in result.omitted] == ["service_health", "memory_usage"]
    omitted = result.to_json()["omitted"]
    assert omitted[1] == {"metric": "memory_usage",
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


# -- canary against control: significance AND the playbook's effect size ------------------------

N_BIG = (20000, 20000)
COMPARISONS = [
    # error rate: + 1 point over control (002 canary monitor)
    ("clearly worse error rate rolls back", {"skill_error_rate": 3.0}, {"skill_error_rate": 1.0},
     (5000, 5000), "skill_error_rate vs control", ROLLBACK, "significantly degraded"),
    ("significant but below +1 point holds", {"skill_error_rate": 1.5}, {"skill_error_rate": 1.0},
     N_BIG, "skill_error_rate vs control", HOLD, "minor regression"),
    ("+1.2 points on a small sample is noise", {"skill_error_rate": 2.0}, {"skill_error_rate": 0.8},
     (150, 150), "skill_error_rate vs control", PASS, "no significant regression"),
    ("better than control passes", {"skill_error_rate": 0.5}, {"skill_error_rate": 1.0},
     N_BIG, "skill_error_rate vs control", PASS, "no significant regression"),
    ("equal error rates pass", {}, {}, N_BIG, "skill_error_rate vs control", PASS, "no significant"),
]


@pytest.mark.parametrize("canary,control,n,name,expected,words",
                         [c[1:] for c in COMPARISONS], ids=[c[0] for c in COMPARISONS])
def test_two_proportion(canary, control, n, name, expected, words):
    c = check(run("canary", observe(canary, control, n)), name)
    assert c.verdict == expected and words in c.reason
    assert c.delta == pytest.approx(c.canary - c.control)


LATENCY = [
    # + 1000 ms over control (002 canary monitor), judged by Mann-Whitney U
    ("clearly slower rolls back", 2700, 1500, 3000, ROLLBACK, "significantly degraded"),
    ("slower by 300 ms holds", 1800, 1500, 20000, HOLD, "minor regression"),
    # with 3 values a side the smallest one-sided p is 1/20: never below 0.05
    ("+1500 ms on 3 samples is not significant", 3000, 1500, 3, PASS, "no significant"),
    ("equal latency passes", 1500, 1500, 3000, PASS, "no significant"),
]


@pytest.mark.parametrize("canary_ms,control_ms,n,expected,words",
                         [c[1:] for c in LATENCY], ids=[c[0] for c in LATENCY])
def test_mann_whitney(canary_ms, control_ms, n, expected, words):
    can, ctl = latency(n, canary_ms, 11), latency(n, control_ms, 12)
    obs = observe({"avg_response_time": float(can.mean())}, {"avg_response_time": float(ctl.mean())},
                  (2000, 2000), (can, ctl))
    c = check(run("canary", obs), "avg_response_time vs control")
    assert c.verdict == expected and words in c.reason
    assert c.p_value is not None


def test_equal_cohorts_proceed():
    result = run("canary", observe({"cost_per_request": 0.012}, {}, (5000, 5000)))
    assert result.verdict == PROCEED, result.reasons
    assert result.exit_code == 0 and result.reasons == []


# -- too little data, no data, failed source ----------------------------------------------------

def test_noisy_small_sample_is_inconclusive_not_rollback():
    # 50 canary requests at 10 % errors: past the rollback line, but too few to act on
    result = run("canary", observe({"skill_error_rate": 10.0}, {}, (50, 5000)))
    c = check(result, "skill_error_rate")
    assert c.verdict == INCONCLUSIVE and "50 canary requests" in c.reason and "need 100" in c.reason
    assert check(result, "skill_error_rate vs control").verdict == INCONCLUSIVE
    assert result.verdict == HOLD and result.exit_code == 1


def test_min_requests_is_configurable():
    obs = observe({"skill_error_rate": 10.0}, {}, (50, 5000))
    assert check(run("canary", obs, min_requests=40), "skill_error_rate").verdict == ROLLBACK


def test_enough_canary_data_rolls_back_without_control():
    # at 100 % there is no control: the absolute breach still rolls back
    result = run("full", observe({"skill_error_rate": 6.0}, {}, (5000, 0)))
    assert check(result, "skill_error_rate").verdict == ROLLBACK
    assert check(result, "skill_error_rate vs control").verdict == INCONCLUSIVE
    assert result.verdict == ROLLBACK and result.exit_code == 3


def test_derived_savings_need_both_cohorts():
    c = check(run("beta", observe(savings(10), {}, (5000, 60))), "cost_savings")
    assert c.verdict == INCONCLUSIVE and "60 control" in c.reason


def test_no_data_holds():
    empty = Observations(START, END, {"canary": CohortData(0), "control": CohortData(0)})
    for obs in (empty, None):
        result = run("canary", obs)
        metric_checks = [c for c in result.checks if c.name != "soak"]
        assert metric_checks and all(c.verdict == INCONCLUSIVE for c in metric_checks)
        assert result.verdict == HOLD and result.exit_code == 1


def test_missing_value_with_enough_requests_is_inconclusive():
    obs = observe({"p95_response_time": None}, {}, (2000, 2000))
    assert check(run("canary", obs), "p95_response_time").verdict == INCONCLUSIVE


def test_source_failure_holds_with_exit_4():
    result = evaluate(CATALOG, "canary", None, soak=SOAKED, source_error="New Relic: HTTP 503")
    metric_checks = [c for c in result.checks if c.name != "soak"]
    assert metric_checks and all(c.verdict == ERROR for c in metric_checks)
    assert all("New Relic: HTTP 503" in c.reason for c in metric_checks)
    assert result.verdict == HOLD and result.exit_code == 4


def test_one_failed_metric_errors_alone():
    obs = observe(errors={"cost_per_request": "NRQL Syntax Error (INVALID_INPUT)"})
    result = run("canary", obs)
    failed = {c.name for c in result.checks if c.verdict == ERROR}
    # the derived savings depend on it, so they fail with it
    assert failed == {"cost_per_request", "cost_per_request vs control", "cost_savings"}
    assert result.verdict == HOLD and result.exit_code == 4


def test_rollback_wins_over_a_failed_metric():
    obs = observe({"skill_error_rate": 8.0}, {"skill_error_rate": 8.0},
                  errors={"p95_response_time": "timeout"})
    result = run("canary", obs)
    assert result.verdict == ROLLBACK and result.exit_code == 3


# -- soak and the step before the canary --------------------------------------------------------

def test_soak_is_the_first_check_and_can_hold():
    waiting = soak_check(False, "soak of step canary: 50h of 72h served, 22h remaining", "72h")
    result = run("canary", soak=waiting)
    assert result.checks[0].name == "soak" and result.checks[0].verdict == HOLD
    assert result.verdict == HOLD and result.reasons == [waiting.reason]


def test_off_step_has_only_the_soak():
    result = evaluate(CATALOG, "off", None, soak=soak_check(True, "step off has no soak time"))
    assert [c.name for c in result.checks] == ["soak"] and result.verdict == PROCEED


# -- outputs ------------------------------------------------------------------------------------

def test_json_shape():
    out = run("canary", observe({"skill_error_rate": 3.0}, {}), at=END, next_step="beta").to_json()
    assert {"flag", "verdict", "checks"} <= set(out) and out["flag"] == "skills_rollout"
    assert out["step"] == "canary" and out["next_step"] == "beta" and out["verdict"] in (HOLD, ROLLBACK)
    for c in out["checks"]:
        assert {"name", "verdict", "canary", "control", "threshold", "reason"} <= set(c)
    assert '"verdict"' in render_json(run())


def test_markdown_is_the_playbook_table():
    result = run("canary", observe({"skill_error_rate": 3.0}, {}), at=END, next_step="beta")
    md = render_markdown(result, CATALOG)
    assert "| Metric | Canary | Control | Δ | Target | Threshold | Verdict |" in md
    assert "| Skill error rate | 3.00 % | 1.00 % | +2.00 pts | < 2 | hold 2..5; rollback > 5 | ⚠️ hold |" in md
    assert "**Reasons**" in md and "canary → beta" in md
    assert "| Memory usage (ai-service) (service-wide) | 60.00 % | — | — | < 80 |" in md
    assert "Not judged" not in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + len(result.checks)
    assert "Skill error rate" in render_table(result, CATALOG)

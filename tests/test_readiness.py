"""The readiness gate of the first step up (playbook 003, pre-deployment checklist): each
kind of evidence missing, failed, stale or passing, one row each; then how decide() and the
flag file's `preflight:` block use it."""
from datetime import datetime, timedelta, timezone

import pytest

from rollout.core.readiness import (FAILED, MISSING, PASSING, STALE, is_first_step,
                                    judge_readiness, merged)
from rollout.core.rules import APPLY, HOLD, NOOP, REFUSE, decide, judge_move
from rollout.core.state import (APPLIED, BASELINE, DRILL, LOADTEST, RETRY, ABORTED, Applied,
                                Event, Requirement, build_flag)
from rollout.errors import UserError

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
FLAG = "f"
LADDER = [{"percentage": 0, "step": "off"}, {"percentage": 5, "step": "canary", "soak": "72h"},
          {"percentage": 25, "step": "beta", "soak": "168h"},
          {"percentage": 100, "step": "full", "soak": "48h"}]
PREFLIGHT = {"loadtest": {"profile": "seed", "within": "14d"},
             "baseline": {"days": 7, "within": "14d"}, "drill": {"within": "14d"}}
REQ = {LOADTEST: Requirement(LOADTEST, timedelta(days=14), profile="seed"),
       BASELINE: Requirement(BASELINE, timedelta(days=14), days=7),
       DRILL: Requirement(DRILL, timedelta(days=14))}


def row(kind, days_ago, flag=FLAG, reasons=("r",), **evidence):
    return Event(flag, NOW - timedelta(days=days_ago), kind, None, None, tuple(reasons),
                 evidence=evidence)


def loadtest(days_ago, verdict="pass", profile="seed", **kw):
    return row(LOADTEST, days_ago, profile=profile, verdict=verdict, **kw)


def baseline(days_ago, verdict="pass", days=7, **kw):
    return row(BASELINE, days_ago, verdict=verdict, days=days, **kw)


def drill(days_ago, verdict="pass", tests="rollback", fault="error-rate", **kw):
    return row(DRILL, days_ago, verdict=verdict, tests=tests, fault=fault, **kw)


PASSING_ALL = [loadtest(2), baseline(1), drill(3)]

CASES = [
    # id, kind, history, status, fragment of the reason
    ("loadtest missing", LOADTEST, [], MISSING, "no load test (profile seed) recorded for f"),
    ("loadtest of another profile is missing", LOADTEST, [loadtest(1, profile="smoke")], MISSING,
     "rollout loadtest --target STAGING_URL --profile seed"),
    ("loadtest of another flag is missing", LOADTEST, [loadtest(1, flag="g")], MISSING, "no load test"),
    ("loadtest recorded after now is missing", LOADTEST, [loadtest(-1)], MISSING, "no load test"),
    ("loadtest failed", LOADTEST, [loadtest(1, "fail", reasons=("budget missed",))], FAILED,
     "did not pass: budget missed"),
    ("a failed loadtest after a passing one", LOADTEST, [loadtest(3), loadtest(1, "fail")], FAILED,
     "did not pass"),
    ("loadtest stale", LOADTEST, [loadtest(15)], STALE, "older than the 14d"),
    ("loadtest passing", LOADTEST, [loadtest(13)], PASSING, "passed"),
    ("a passing loadtest after a failed one", LOADTEST, [loadtest(3, "fail"), loadtest(1)], PASSING,
     "passed"),
    ("baseline missing", BASELINE, [], MISSING, "rollout baseline capture f --days 7"),
    ("baseline failed", BASELINE, [baseline(1, "fail", reasons=("no control requests",))], FAILED,
     "no control requests"),
    ("baseline too short", BASELINE, [baseline(1, days=3)], FAILED,
     "it covers 3 days, the flag file asks for 7"),
    ("baseline stale", BASELINE, [baseline(20)], STALE, "older than the 14d"),
    ("baseline passing", BASELINE, [baseline(1, days=8)], PASSING, "passed"),
    ("old days captured today are stale", BASELINE,
     [baseline(0, window={"start": "2026-10-24T09:00:00+00:00", "end": "2026-10-31T09:00:00+00:00"})],
     STALE, "2026-10-31 09:00 UTC (20d ago)"),
    ("drill missing", DRILL, [], MISSING, "--record-in PRODUCTION_STORE"),
    ("a drill without a rollback fault is missing", DRILL, [drill(1, tests="ladder", fault="none")],
     MISSING, "no rollback drill"),
    ("drill failed", DRILL, [drill(1, "fail", reasons=("did not roll back",))], FAILED,
     "did not roll back"),
    ("drill stale", DRILL, [drill(14.5)], STALE, "older than the 14d"),
    ("drill passing", DRILL, [drill(14)], PASSING, "passed"),
]


@pytest.mark.parametrize("name, kind, history, status, fragment", CASES, ids=[c[0] for c in CASES])
def test_each_kind_of_evidence(name, kind, history, status, fragment):
    (check,) = judge_readiness([REQ[kind]], history, NOW, FLAG).checks
    assert (check.kind, check.status) == (kind, status)
    assert fragment in check.reason


def test_ready_only_when_every_piece_passes():
    assert judge_readiness(REQ.values(), PASSING_ALL, NOW, FLAG).ready
    r = judge_readiness(REQ.values(), [loadtest(2), drill(3)], NOW, FLAG)
    assert not r.ready
    (blocking,) = r.blocking
    assert r.reasons() == (f"preflight baseline missing: {blocking.reason}",)
    assert "| baseline | ❌ missing |" in r.to_markdown(FLAG)


def test_no_requirement_is_ready():
    assert judge_readiness([], [], NOW, FLAG).ready


@pytest.mark.parametrize("frm, to, first", [(0, 5, True), (0, 25, True), (5, 25, False),
                                            (0, 0, False), (25, 0, False)])
def test_the_gate_guards_only_the_move_up_from_zero(frm, to, first):
    assert is_first_step(frm, to) is first


def flag(pct, preflight=PREFLIGHT, revision="rev-b"):
    data = {"flag": FLAG, "percentage": pct, "ladder": LADDER}
    if preflight is not None:
        data["preflight"] = preflight
    return build_flag(data, "f.yaml", revision=revision)


def applied(pct):
    return Applied(FLAG, pct, pct > 0, 3)


CREATED = [Event(FLAG, NOW - timedelta(days=30), APPLIED, None, 0, ("create",), "rev-a")]

DECISIONS = [
    # id, committed, observed, history, action, reason fragment
    ("0 -> 5 without evidence: held", 5, 0, CREATED, HOLD, "preflight loadtest missing"),
    ("never applied, 0 -> 5 without evidence: held", 5, None, [], HOLD, "preflight drill missing"),
    ("0 -> 5 with every piece passing: applied", 5, 0, CREATED + PASSING_ALL, APPLY,
     "preflight evidence loadtest passing"),
    ("0 -> 5 with a stale drill: held", 5, 0, CREATED + [loadtest(2), baseline(1), drill(30)],
     HOLD, "preflight drill stale"),
    ("0 -> 25 is still a skip, not a readiness question", 25, 0, CREATED, REFUSE, "skips step canary"),
    ("committing 0 needs no evidence", 0, None, [], APPLY, "create the flag at 0%"),
    ("0 stays 0", 0, 0, CREATED, NOOP, "already at 0%"),
    ("5 -> 25 is not the first step", 25, 5,
     CREATED + [Event(FLAG, NOW - timedelta(days=4), APPLIED, 0, 5, (), "rev-a")], APPLY,
     "soak of step canary served"),
    ("a rollback needs no evidence", 0, 5, CREATED, APPLY, "always allowed"),
]


@pytest.mark.parametrize("name, want, have, history, action, fragment", DECISIONS,
                         ids=[d[0] for d in DECISIONS])
def test_decide_holds_the_first_step_until_ready(name, want, have, history, action, fragment):
    d = decide(flag(want), applied(have) if have is not None else None, history, NOW)
    assert d.action == action, d.reasons
    assert any(fragment in r for r in d.reasons), d.reasons


def test_a_file_without_preflight_is_not_gated():
    d = decide(flag(5, preflight=None), applied(0), CREATED, NOW)
    assert d.action == APPLY and not any("preflight" in r for r in d.reasons)


def test_a_retry_after_a_rollback_to_zero_climbs_only_when_ready():
    # the guard rolled 5 % back to 0; `rollout retry` lets the revision climb again, and
    # the first step is again a first step: its evidence must still be fresh
    history = CREATED + [Event(FLAG, NOW - timedelta(days=20), APPLIED, 0, 5, (), "rev-b"),
                         Event(FLAG, NOW - timedelta(days=19), ABORTED, 5, 0, ("boom",), "rev-b"),
                         Event(FLAG, NOW - timedelta(days=1), RETRY, 0, 5, ("fixed",), "rev-b")]
    stale = [loadtest(25), baseline(25), drill(25)]
    d = decide(flag(5), applied(0), history + stale, NOW)
    assert d.action == HOLD and "preflight loadtest stale" in d.reasons[0]
    d = decide(flag(5), applied(0), history + PASSING_ALL, NOW)
    assert d.action == APPLY and "resume after `rollout retry`" in d.reasons[0]


def test_merged_requirements_keep_the_bases_block():
    base, head = flag(0), flag(5, preflight=None)
    assert merged(base, head) == tuple(REQ.values())
    assert judge_move(base, head).action == APPLY      # the ladder alone allows it


BAD_PREFLIGHT = [
    ({"loadtest": {"profile": "seed"}}, "missing key 'within' in preflight.loadtest"),
    ({"drill": {"within": "two weeks"}}, "field preflight.drill.within"),
    ({"smoke": {"within": "1d"}}, "unknown key 'smoke' in preflight"),
    ({"baseline": {"days": 0, "within": "14d"}}, "field preflight.baseline.days"),
    ({"drill": {"within": "14d", "fault": "none"}}, "unknown key 'fault' in preflight.drill"),
    ({}, "field preflight"),
]


@pytest.mark.parametrize("preflight, message", BAD_PREFLIGHT, ids=[m for _, m in BAD_PREFLIGHT])
def test_a_bad_preflight_block_is_one_line_naming_the_field(preflight, message):
    with pytest.raises(UserError) as exc:
        flag(0, preflight=preflight)
    assert message in str(exc.value) and "f.yaml" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_the_committed_flag_asks_for_the_seeds_evidence():
    from tests.cli import ROOT
    from rollout.flagfiles import load_flag

    state = load_flag(ROOT / "rollout/flags/skills_rollout.yaml")
    assert state.preflight == (Requirement(LOADTEST, timedelta(days=14), profile="seed"),
                               Requirement(BASELINE, timedelta(days=14), days=7),
                               Requirement(DRILL, timedelta(days=14)))
    assert state.percentage == 0      # `make run` reconciles 0 %, which needs no evidence

"""Every transition rule of the ladder, one row each (playbook: 0 -> 5 % canary 72 h ->
25 % beta 168 h -> 100 % full 48 h; any step down; one step up after the soak)."""
from datetime import datetime, timedelta, timezone

import pytest

from rollout.core.rules import (APPLY, HOLD, NOOP, REFUSE, active_abort, decide, judge_move,
                                soak_status, with_gate)
from rollout.core.state import ABORTED, APPLIED, RETRY, Applied, Event, build_flag

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
LADDER = [{"percentage": 0, "step": "off"}, {"percentage": 5, "step": "canary", "soak": "72h"},
          {"percentage": 25, "step": "beta", "soak": "168h"},
          {"percentage": 100, "step": "full", "soak": "48h"}]


def flag(pct, revision="rev-b"):
    return build_flag({"flag": "f", "percentage": pct, "ladder": LADDER}, "f.yaml",
                      revision=revision)


def applied(pct, version=3):
    return Applied("f", pct, pct > 0, version)


def ev(kind, frm, to, hours_ago, revision="rev-a"):
    return Event("f", T0 - timedelta(hours=hours_ago), kind, frm, to, ("r",), revision)


# history: reached 5 % 80 h ago (soak of 72 h served), or 10 h ago (not served)
AT5_SERVED = [ev(APPLIED, None, 0, 200), ev(APPLIED, 0, 5, 80)]
AT5_FRESH = [ev(APPLIED, None, 0, 200), ev(APPLIED, 0, 5, 10)]
AT25_SERVED = AT5_SERVED + [ev(APPLIED, 5, 25, 170)]
AT25_SERVED[-1] = ev(APPLIED, 5, 25, 169)
AT25_FRESH = AT5_SERVED + [ev(APPLIED, 5, 25, 100)]
ABORTED_25 = AT25_FRESH + [ev(ABORTED, 25, 0, 1, revision="rev-b")]

CASES = [
    # id, committed, observed, history, action, needs_gate, reason fragment
    ("no change is a noop", 5, 5, AT5_SERVED, NOOP, False, "already at 5%"),
    ("never applied, committed 0: create", 0, None, [], APPLY, False, "create"),
    ("never applied, committed 5: first step up", 5, None, [], APPLY, False, "step up 0% → 5%"),
    ("0 -> 5 needs no gate and no soak", 5, 0, [ev(APPLIED, None, 0, 1)], APPLY, False, "no soak"),
    ("5 -> 25 after 72 h soak: apply, gated", 25, 5, AT5_SERVED, APPLY, True, "soak of step canary served"),
    ("5 -> 25 before the soak: hold", 25, 5, AT5_FRESH, HOLD, False, "62h remaining"),
    ("25 -> 100 after 168 h: apply, gated", 100, 25, AT25_SERVED, APPLY, True, "full"),
    ("25 -> 100 after 100 h: hold", 100, 25, AT25_FRESH, HOLD, False, "68h remaining"),
    ("0 -> 25 skips canary: refuse", 25, 0, [ev(APPLIED, None, 0, 1)], REFUSE, False, "skips step canary"),
    ("5 -> 100 skips beta: refuse", 100, 5, AT5_SERVED, REFUSE, False, "skips step beta"),
    ("25 -> 5 step down: always", 5, 25, AT25_FRESH, APPLY, False, "rollback is always allowed"),
    ("100 -> 0 step down: always", 0, 100, [], APPLY, False, "rollback is always allowed"),
    ("step down ignores an unserved soak", 0, 5, AT5_FRESH, APPLY, False, "always allowed"),
    ("applied off the ladder (13 %): refuse up", 25, 13, [], REFUSE, False, "not on the ladder"),
    ("applied off the ladder, step down allowed", 5, 13, [], APPLY, False, "always allowed"),
    ("soak unknown (applied outside the controller): hold", 25, 5, [], HOLD, False,
     "cannot be verified"),
    ("aborted revision is not re-applied", 25, 0, ABORTED_25, REFUSE, False, "was aborted"),
    ("a new commit after an abort starts again at 5", 5, 0,
     [*ABORTED_25], APPLY, False, "step up 0% → 5%"),
]


def test_retry_climbs_again_one_step_at_a_time():
    """After `rollout retry`, the aborted revision (25 %) is not re-applied in one jump:
    it climbs 0 -> 5 first; 5 -> 25 then needs the canary soak and the gate again."""
    retried = ABORTED_25 + [Event("f", T0, RETRY, 0, 25, ("fixed",), "rev-b")]
    d = decide(flag(25), applied(0), retried, T0)
    assert (d.action, d.from_pct, d.to_pct, d.needs_gate) == (APPLY, 0, 5, False)
    assert "climbing the ladder again" in d.reasons[0]
    climbed = retried + [Event("f", T0, APPLIED, 0, 5, ("resume",), "rev-b")]
    later = decide(flag(25), applied(5), climbed, T0 + timedelta(hours=1))
    assert later.action == HOLD and "71h remaining" in later.reasons[0]
    assert decide(flag(25), applied(5), climbed, T0 + timedelta(hours=73)).needs_gate


@pytest.mark.parametrize("name,want,have,history,action,gate,fragment", CASES,
                         ids=[c[0] for c in CASES])
def test_transition_rules(name, want, have, history, action, gate, fragment):
    committed = flag(want, revision="rev-b" if "new commit" not in name else "rev-c")
    d = decide(committed, None if have is None else applied(have), history, T0)
    assert d.action == action
    assert d.needs_gate == gate
    assert fragment in " ".join(d.reasons)
    assert (d.from_pct, d.to_pct) == ((have or 0), want)


GATE_CASES = [
    ("proceed keeps apply", "proceed", APPLY),
    ("hold holds", "hold", HOLD),
    ("rollback refuses the step up", "rollback", REFUSE),
]


@pytest.mark.parametrize("name,verdict,action", GATE_CASES, ids=[c[0] for c in GATE_CASES])
def test_gate_folds_into_step_up(name, verdict, action):
    d = decide(flag(25), applied(5), AT5_SERVED, T0)
    out = with_gate(d, verdict, ["error rate 3.1% in 2..5"])
    assert out.action == action
    if verdict != "proceed":
        assert f"gate {verdict}: error rate 3.1% in 2..5" in out.reasons


def test_gate_does_not_touch_step_down():
    d = decide(flag(5), applied(25), AT25_FRESH, T0)
    assert with_gate(d, "rollback", ["x"]) is d


MOVE_CASES = [
    ("unchanged", 5, 5, NOOP), ("one step up", 5, 25, APPLY), ("first step", 0, 5, APPLY),
    ("skip", 0, 25, REFUSE), ("skip two", 0, 100, REFUSE), ("down one", 25, 5, APPLY),
    ("down to 0", 100, 0, APPLY), ("new file at 0", None, 0, NOOP), ("new file at 5", None, 5, APPLY),
    ("new file at 25", None, 25, REFUSE),
]


@pytest.mark.parametrize("name,old,new,action", MOVE_CASES, ids=[c[0] for c in MOVE_CASES])
def test_pull_request_moves(name, old, new, action):
    d = judge_move(None if old is None else flag(old), flag(new))
    assert d.action == action
    assert d.needs_gate == (action == APPLY and new > (old or 0) > 0)


def test_soak_status_reports_served_and_remaining():
    s = soak_status(flag(25), 5, AT5_FRESH, T0)
    assert (s.step, s.served, s.remaining) == ("canary", timedelta(hours=10), timedelta(hours=62))
    assert not s.done


def test_active_abort_is_per_revision():
    assert active_abort(ABORTED_25, "f", "rev-b").kind == ABORTED
    assert active_abort(ABORTED_25, "f", "rev-c") is None

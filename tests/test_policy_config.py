"""The policy pack's configuration: the enforcement level each stack gets, the pack
configs shipped in policy/config/, and the waivers a config may carry (always advisory,
always with a reason)."""
from __future__ import annotations

import json

import pytest

from tests.policy_support import POLICY_DIR

from skills_policy import RULES
from skills_policy.levels import check_pack_config, level_for_stack
from skills_policy.registry import MIN_WAIVER_REASON, WAIVER

RULE_IDS = [r.id for r in RULES]


@pytest.mark.parametrize(("stack_name", "level"), [
    ("prod", "mandatory"), ("staging", "advisory"), ("acme/skills-rollout/prod", "mandatory"),
    ("acme/skills-rollout/staging", "advisory"), ("dev", "mandatory"), (None, "mandatory"),
])
def test_enforcement_level_per_stack(stack_name, level):
    assert level_for_stack(stack_name) == level



@pytest.mark.parametrize("name", ["prod.json", "staging.json"])
def test_the_shipped_pack_configs_are_valid(name):
    data = json.loads((POLICY_DIR / "config" / name).read_text())
    assert check_pack_config(data, RULE_IDS, WAIVER, MIN_WAIVER_REASON) == []
    assert data["all"] == level_for_stack(name.removesuffix(".json"))


@pytest.mark.parametrize(("config", "problem"), [
    ([], "expected a JSON object"),
    ({"web-helth-check": "advisory"}, "not a rule of this pack"),
    ({"all": "lenient"}, "is not one of"),
    ({"manual-deploys": {"enforcementLevel": "advisory", WAIVER: "tmp"}}, "needs a reason"),
    ({"manual-deploys": {WAIVER: "the web deploys on push during the hackathon week"}}, "must be advisory"),
    ({"manual-deploys": {"enforcementLevel": "mandatory", WAIVER: "the web deploys on push this week"}},
     "must be advisory"),
    ({"manual-deploys": "disabled"}, "disabled without a waiver reason"),
    ({"manual-deploys": {"enforcementLevel": "advisory", "until": "friday"}}, "unexpected key"),
])
def test_a_bad_pack_config_is_named(config, problem):
    problems = check_pack_config(config, RULE_IDS, WAIVER, MIN_WAIVER_REASON)
    assert len(problems) == 1 and problem in problems[0], problems


def test_a_waiver_with_its_reason_is_a_valid_config():
    config = {"all": "mandatory", "manual-deploys": {
        "enforcementLevel": "advisory", WAIVER: "deploys on push while the canary is off, OPS-7"}}
    assert check_pack_config(config, RULE_IDS, WAIVER, MIN_WAIVER_REASON) == []

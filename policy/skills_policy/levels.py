"""How hard each rule bites, per stack, and the pack config that can change it.

`pulumi preview --policy-pack policy` runs the pack with the stack's name in PULUMI_STACK
(the engine sets it for policy packs): in `prod` every rule is mandatory (a violation fails
the preview and stops `pulumi up`), in `staging` advisory (reported, not failing). A stack
not listed gets the strict level, so a typo in a stack name cannot relax production.

`--policy-pack-config FILE` (policy/config/<stack>.json, which the workflows pass) can set
any rule's level and waive it with a reason:

    {"all": "mandatory",
     "web-high-availability": {"enforcementLevel": "advisory",
                               "waiver": "one instance during the Render migration, OPS-142"}}

A waived rule stays advisory: it still runs and every finding is reported as
`waived (<reason>): ...`. `disabled` silences a rule completely; it too needs the reason.
`check_pack_config` says what the Pulumi CLI would refuse, and what it would accept but a
reviewer should not: an unknown rule id, a waiver without a reason, a waived rule left
mandatory (it would still fail), a rule disabled without a reason.
"""
from __future__ import annotations

PACK_NAME = "skills-rollout-policy"
LEVELS = ("advisory", "mandatory", "remediate", "disabled")
STACK_LEVELS = {"prod": "mandatory", "staging": "advisory"}
DEFAULT_LEVEL = "mandatory"


def stack_name(value: str | None) -> str:
    """`prod` from `prod` or `org/project/prod`."""
    return (value or "").strip().rsplit("/", 1)[-1]


def level_for_stack(stack: str | None) -> str:
    return STACK_LEVELS.get(stack_name(stack), DEFAULT_LEVEL)


def check_pack_config(data, rule_ids, waiver_key: str, min_reason: int) -> list[str]:
    """Problems of a parsed --policy-pack-config file (empty: fine)."""
    if not isinstance(data, dict):
        return [f"expected a JSON object mapping rule ids (or \"all\") to a level or an object, "
                f"got {type(data).__name__}"]
    problems = []
    for key, value in data.items():
        if key != "all" and key not in rule_ids:
            problems.append(f"{key}: not a rule of this pack (known: {', '.join(rule_ids)})")
            continue
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, dict):
            problems.append(f"{key}: expected a level or an object, got {value!r}")
            continue
        level = value.get("enforcementLevel")
        if level is not None and level not in LEVELS:
            problems.append(f"{key}: enforcementLevel {level!r} is not one of {', '.join(LEVELS)}")
        unknown = sorted(set(value) - {"enforcementLevel", waiver_key})
        if unknown or (key == "all" and waiver_key in value):
            problems.append(f"{key}: unexpected key(s) {', '.join(unknown or [waiver_key])}")
        if waiver_key in value:
            reason = value[waiver_key]
            if not isinstance(reason, str) or len(reason.strip()) < min_reason:
                problems.append(f"{key}: a waiver needs a reason of at least {min_reason} "
                                f"characters, got {reason!r}")
            if level in (None, "mandatory", "remediate"):
                problems.append(f"{key}: a waived rule must be advisory (still reported, not "
                                f"failing); it is {level or 'left at the stack level'}")
        if level == "disabled" and waiver_key not in value:
            problems.append(f"{key}: disabled without a waiver reason")
    return problems

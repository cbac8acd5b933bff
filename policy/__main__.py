"""The policy pack `skills-rollout-policy`: the playbook's guarantees, checked on every
`pulumi preview` and `pulumi up` of the stack (policy/README.md).

    pulumi preview --stack prod --policy-pack policy --policy-pack-config policy/config/prod.json

The Pulumi CLI runs this file with the pack's directory on sys.path. Building the
PolicyPack starts the analyzer's gRPC server and blocks, so only this file builds it; the
rules live in skills_policy/ where tests import them.
"""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The rules read the checkout this pack sits in: the metric catalog (rollout/) and the
# program's condition names (alerts/). With `pip install -e '.[infra]'` rollout/ is
# importable anyway; alerts/ is not a package of the distribution.
for path in (str(HERE), str(HERE.parent)):
    if path not in sys.path:
        sys.path.insert(0, path)

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from skills_policy.levels import PACK_NAME, level_for_stack  # noqa: E402
from skills_policy.pack import policies  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    # PULUMI_STACK is set by the engine for policy packs: mandatory in prod, advisory in
    # staging; --policy-pack-config overrides per rule.
    enforcement_level=EnforcementLevel(level_for_stack(os.environ.get("PULUMI_STACK"))),
    policies=policies(),
)

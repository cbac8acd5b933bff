"""The policy pack's rules driven by what the program registers under mocks.

The Pulumi CLI (which would run the pack as an analyzer) is not available here, so the
resources come from tests/pulumi_harness.py and are handed to the rules the way the
engine hands them to the pack: inputs with secrets unwrapped (pulumi-policy unwraps them),
a URN per resource, and per top-level property the URNs of the resources whose outputs
flow into it (the engine's property dependencies; here: whose id appears in the value).

    resources = policy_resources(run_main())
    evaluate(resources, load_catalog())            # [] when every rule holds
"""
from __future__ import annotations

import copy
import sys

from tests.pulumi_harness import PROJECT, ROOT, STACK, Run
from tests.trees import texts

POLICY_DIR = ROOT / "policy"
if str(POLICY_DIR) not in sys.path:      # as the CLI runs the pack: its directory on sys.path
    sys.path.insert(0, str(POLICY_DIR))

from skills_policy.model import Resource  # noqa: E402


def urn(typ: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{typ}::{name}"


def _deps(inputs: dict, by_id: dict, own_id: str) -> dict:
    """Per top-level input, the URNs of the resources whose id it holds."""
    deps = {}
    for key, value in inputs.items():
        linked = frozenset(by_id[s] for s in texts(value) if s in by_id and s != own_id)
        if linked:
            deps[key] = linked
    return deps


def _mock_id(resource: Resource) -> str:
    return f"{resource.name}-id"          # what tests/pulumi_harness.py's mocks answer


def policy_resources(run: Run) -> list[Resource]:
    """Every custom resource of the run as the rules see it."""
    by_id = {r.id: urn(r.typ, r.name) for r in run.custom}
    return [Resource(r.typ, r.name, r.inputs, urn(r.typ, r.name), _deps(r.inputs, by_id, r.id))
            for r in run.custom]


def edited(resources: list[Resource], typ: str, name: str, change) -> list[Resource]:
    """A copy of the stack where `change(props)` edited one resource's properties in place
    (its links follow the edit, as the engine's dependencies would)."""
    by_id = {_mock_id(r): r.urn for r in resources}
    out, hits = [], 0
    for r in resources:
        if r.type == typ and r.name == name:
            props = copy.deepcopy(r.props)
            change(props)
            r = Resource(r.type, r.name, props, r.urn, _deps(props, by_id, _mock_id(r)))
            hits += 1
        out.append(r)
    assert hits == 1, f"expected one {typ} {name}, found {hits}"
    return out


def added(resources: list[Resource], resource: Resource) -> list[Resource]:
    """A copy of the stack with one more resource."""
    return resources + [resource]


def without(resources: list[Resource], typ: str, name: str) -> list[Resource]:
    """A copy of the stack without one resource."""
    out = [r for r in resources if not (r.type == typ and r.name == name)]
    assert len(out) == len(resources) - 1, f"expected one {typ} {name}"
    return out

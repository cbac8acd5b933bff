"""What a rule sees: plain resources, their properties as on the wire, and their links.

Rules are plain functions over `Resource` objects, never over pulumi-policy's own types,
so the tests drive them with what the program registers under mocks
(tests/pulumi_harness.py) and the pack adapter (`pack.py`) hands them what the Pulumi
engine sends. Both give camelCase property names.

Links between resources (a condition's `policyId`, a workflow's channel, an env-var list's
`serviceId`) are read from `deps`: for each top-level property, the URNs of the resources
whose outputs flowed into it. The engine reports them even during a preview, when the ids
themselves are still unknown; under mocks they are derived from the ids.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator


class Unknown:
    """A value known only after the update (an id or URL of a resource still to be made)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown until the update>"


UNKNOWN = Unknown()


@dataclass(frozen=True)
class Resource:
    type: str
    name: str                                   # the Pulumi logical name
    props: dict                                 # inputs (resource rules) or outputs (stack rules)
    urn: str = ""
    deps: dict = field(default_factory=dict)    # top-level property -> frozenset of URNs

    def get(self, path: str, default=None):
        """The value at a dotted path (`serviceDetails.plan`), or `default`."""
        value = self.props
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        return value

    def refers_to(self, prop: str, other: "Resource") -> bool:
        """Whether `other`'s outputs flow into this resource's property `prop`."""
        return bool(other.urn) and other.urn in self.deps.get(prop, ())

    @property
    def label(self) -> str:
        """How a message names the resource: its `name` input, else its logical name."""
        given = self.props.get("name")
        return f"{given!r}" if isinstance(given, str) and given else f"{self.type} {self.name!r}"


@dataclass(frozen=True)
class Violation:
    message: str
    urn: str | None = None          # the resource in violation (stack rules); None: the stack


def walk(value, path: str = "") -> Iterator[tuple[str, object]]:
    """(path, leaf) for every leaf. A list item that is a {"key", "value"} pair (env vars,
    notification properties) is named by its key: `envVars[DATABASE_URL].value`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            label = item.get("key") if isinstance(item, dict) else None
            name = label if isinstance(label, str) and label else str(index)
            yield from walk(item, f"{path}[{name}]")
    else:
        yield path, value


_LAST_NAME = re.compile(r"(?:\[([^\]]*)\]|([^.\[\]]+))$")


def leaf_name(path: str) -> str:
    """What a leaf is called: the last key, or for `...[NAME].value` the pair's key."""
    if path.endswith("].value"):
        path = path[:-len(".value")]
    m = _LAST_NAME.search(path)
    return (m.group(1) or m.group(2) or "") if m else ""


def env_value(variables, key: str):
    """The value of `key` in a Render env-var list ([{"key", "value"}]), or None."""
    for item in variables if isinstance(variables, list) else ():
        if isinstance(item, dict) and item.get("key") == key:
            return item.get("value")
    return None


def of_type(resources, *types: str) -> list[Resource]:
    return [r for r in resources if r.type in types]


def named(resources, type_: str, name: str) -> list[Resource]:
    """Resources of `type_` whose `name` input is `name` (Render names services by it)."""
    return [r for r in resources if r.type == type_ and r.props.get("name") == name]

"""What `pulumi preview` would plan, from two runs of the program under mocks.

Mocks accept anything, so the providers' own update semantics are brought in as data:

- Render (pulumi-render): tests/data/render_update_in_place.json, derived from the
  provider's OpenAPI document by tests/data/render_update_in_place.py. A changed top-level
  input that the resource's update body does not carry is a replacement; a body that is a
  oneOf makes every change a replacement. A changed key inside an object input that the
  body carries, but not that key, is an update Render never receives (`not_carried`).
- New Relic (pulumi-newrelic, bridged from terraform-provider-newrelic):
  tests/data/newrelic_force_new.json, the inputs the Terraform schema marks ForceNew.

A replaced resource gets a new id (and a Render service a new slug and URL), so every
input of another resource that holds one of them changes too: `plan` follows that cascade
until nothing more changes, as the engine would.

    before, after = run_main(config_a), run_main(config_b)
    changes = plan(before, after)          # {(type, name): Change}
    replaced(changes)                      # {(type, name), ...}

`refresh` simulates a `pulumi preview --refresh` of an untouched stack: what Render always
returns on a read is copied into the inputs, then diffed against the program, ignoring
the paths the program ignores (ignore_changes).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.pulumi_harness import Resource, Run

DATA = Path(__file__).resolve().parent / "data"
RENDER = json.loads((DATA / "render_update_in_place.json").read_text())["resources"]
NEWRELIC = json.loads((DATA / "newrelic_force_new.json").read_text())["resources"]

UPDATE, REPLACE, CREATE, DELETE = "update", "replace", "create", "delete"
# Outputs that a Render service gets anew when it is replaced: create-before-delete finds
# the old service still holding the name, so the new one's slug (and URL) differ.
NEW_ON_REPLACE = ("slug",)
# What Render generates for an input the SDK filled with its placeholder text.
GENERATED_BY_RENDER = "legal_platform_db_x7k2"
RENDER_DEFAULT = "<render's own value>"


@dataclass(frozen=True)
class Change:
    kind: str                                  # update | replace | create | delete
    inputs: tuple = ()                         # top-level inputs that differ
    not_carried: tuple = ()                    # nested paths the update body does not carry
    why: tuple = field(default=(), compare=False)


def known(typ: str) -> bool:
    return typ in RENDER or typ in NEWRELIC


def classify(typ: str, changed: dict) -> Change:
    """`changed`: top-level input -> (old, new). Update or replace, by the provider's rules."""
    if not known(typ):
        raise KeyError(f"no update semantics recorded for {typ}: add it to tests/data")
    keys = tuple(sorted(changed))
    if typ in NEWRELIC:
        forced = tuple(k for k in keys if k in NEWRELIC[typ])
        return Change(REPLACE if forced else UPDATE, keys, (), forced)
    entry = RENDER[typ]
    if entry["one_of_update"]:
        return Change(REPLACE, keys, (), ("update body is a oneOf",))
    outside = tuple(k for k in keys if k not in entry["update_body"])
    not_carried = []
    for key, (old, new) in changed.items():
        inner = entry["nested"].get(key)
        if inner is not None and isinstance(old, dict) and isinstance(new, dict):
            not_carried += [f"{key}.{k}" for k in sorted(set(old) | set(new))
                            if old.get(k) != new.get(k) and k not in inner]
    return Change(REPLACE if outside else UPDATE, keys, tuple(not_carried), outside)


def _diff(old: dict, new: dict, ignore=()) -> dict:
    """Top-level inputs whose values differ; dotted `ignore` paths are left out."""
    out = {}
    for key in sorted(set(old) | set(new)):
        a, b = _without(old.get(key), key, ignore), _without(new.get(key), key, ignore)
        if a != b:
            out[key] = (old.get(key), new.get(key))
    return out


def _without(value, prefix: str, ignore) -> object:
    if not isinstance(value, dict):
        return value
    return {k: _without(v, f"{prefix}.{k}", ignore) for k, v in value.items()
            if f"{prefix}.{k}" not in ignore}


def _mentions(value, needles: set) -> bool:
    if isinstance(value, dict):
        return any(_mentions(v, needles) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, needles) for v in value)
    return isinstance(value, str) and any(n in value for n in needles)


def _new_values(resource: Resource) -> set:
    """Values other resources may hold that a replacement of `resource` renews."""
    values = {resource.id}
    for key in NEW_ON_REPLACE:
        if isinstance(resource.state.get(key), str):
            values.add(resource.state[key])
    url = (resource.state.get("serviceDetails") or {}).get("url")
    if isinstance(url, str) and url.startswith("https://"):
        values.add(url)
    return values


def plan(before: Run, after: Run) -> dict[tuple, Change]:
    old = {r.key: r for r in before.custom}
    new = {r.key: r for r in after.custom}
    changes: dict[tuple, Change] = {}
    for key in old.keys() - new.keys():
        changes[key] = Change(DELETE)
    for key in new.keys() - old.keys():
        changes[key] = Change(CREATE)
    diffs = {key: _diff(old[key].inputs, new[key].inputs,
                        ignore=set(new[key].opts.get("ignore_changes", ())))
             for key in old.keys() & new.keys()}
    renewed: set = set()
    while True:
        for key, diff in diffs.items():
            if diff:
                changes[key] = classify(key[0], diff)
        gone = {v for key, c in changes.items() if c.kind in (REPLACE, DELETE)
                for v in _new_values(old[key])}
        if gone <= renewed:
            return changes
        renewed |= gone
        for key, diff in diffs.items():
            for name, value in new[key].inputs.items():
                if name not in diff and _mentions(value, renewed):
                    diff[name] = (value, "<new after replacement>")


def replaced(changes: dict) -> set:
    return {key for key, c in changes.items() if c.kind == REPLACE}


def of_kind(changes: dict, kind: str) -> set:
    return {key for key, c in changes.items() if c.kind == kind}


# -- refresh ----------------------------------------------------------------------------------

def _get(data: dict, path: str):
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _set(data: dict, path: str, value) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[leaf] = value


def render_read(resource: Resource, world: dict | None = None) -> dict:
    """The inputs after a refresh: for every path Render always returns, the program's value
    if it set one (Render keeps what it was given), Render's own value otherwise, and
    Render's generated name where the SDK sent its placeholder. `world` adds what other
    actors changed on the real resource (path -> value), e.g. the autoscaler."""
    entry = RENDER[resource.typ]
    refreshed = json.loads(json.dumps(resource.inputs))
    for path in entry["always_returned"]:
        given = _get(refreshed, path)
        if path in entry["generated"] and given == "randomly generated":
            _set(refreshed, path, GENERATED_BY_RENDER)
        elif given is None:
            _set(refreshed, path, RENDER_DEFAULT)
    for path, value in (world or {}).items():
        _set(refreshed, path, value)
    return refreshed


def refresh(run: Run, world: dict | None = None) -> dict[tuple, Change]:
    """What `pulumi preview --refresh` of the untouched stack would plan, Render resources
    only (New Relic's provider reads back what it wrote). `world`: (type, name) -> changes
    made outside Pulumi that the program deliberately leaves to their owner."""
    out = {}
    for r in run.custom:
        if r.typ not in RENDER or not RENDER[r.typ]["always_returned"]:
            continue
        state = render_read(r, (world or {}).get(r.key))
        diff = _diff(state, r.inputs, ignore=set(r.opts.get("ignore_changes", ())))
        if diff:
            out[r.key] = classify(r.typ, diff)
    return out

"""pulumi-policy adapter: the rule table as policies the Pulumi engine can run.

Each rule becomes a `ResourceValidationPolicy` (resource rules, given each resource's
inputs) or a `StackValidationPolicy` (stack rules, given every resource's outputs and the
property dependencies that link them). What pulumi-policy hands over is turned into plain
`Resource` objects first: its proxies raise on a value unknown during a preview, while the
rules want to see such a value (`UNKNOWN`) and decide for themselves.

Every policy accepts one config property, `waiver` (policy/README.md, "Waive a rule").
"""
from __future__ import annotations

from functools import lru_cache

from pulumi_policy import (PolicyConfigSchema, ResourceValidationPolicy,
                           StackValidationPolicy)
from pulumi_policy import proxy

from rollout.core.catalog import load_catalog
from rollout.errors import UserError

from skills_policy.model import UNKNOWN, Resource
from skills_policy.registry import ANY_TYPE, MIN_WAIVER_REASON, RULES, WAIVER, Rule, waived

_UNKNOWNS = frozenset({proxy.UNKNOWN_BOOLEAN_VALUE, proxy.UNKNOWN_NUMBER_VALUE,
                       proxy.UNKNOWN_STRING_VALUE, proxy.UNKNOWN_ARRAY_VALUE,
                       proxy.UNKNOWN_ASSET_VALUE, proxy.UNKNOWN_ARCHIVE_VALUE,
                       proxy.UNKNOWN_OBJECT_VALUE})

CONFIG_SCHEMA = PolicyConfigSchema(properties={WAIVER: {
    "type": "string", "minLength": MIN_WAIVER_REASON,
    "description": "Why this rule is waived on this stack (who, until when, which ticket). "
                   "Findings are still reported, marked waived; set enforcementLevel advisory.",
}})


def _target(value):
    """The container behind a pulumi-policy proxy (reading it does not raise on unknowns)."""
    try:
        return value["__target"]
    except (KeyError, TypeError, IndexError):
        return value


def plain(value):
    """pulumi-policy properties as plain dicts and lists, unknown values as UNKNOWN."""
    value = _target(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str) and value in _UNKNOWNS:
        return UNKNOWN
    return value


def resource_of(args) -> Resource:
    """A resource rule's subject: type, logical name, inputs, URN."""
    return Resource(args.resource_type, args.name, plain(args.props), args.urn)


def stack_resources(args) -> list[Resource]:
    """A stack rule's subject: every resource's outputs and property dependencies."""
    return [Resource(r.resource_type, r.name, plain(r.props), r.urn,
                     {k: frozenset(d.urn for d in deps)
                      for k, deps in (r.property_dependencies or {}).items()})
            for r in args.resources]


@lru_cache(maxsize=1)
def _catalog():
    return load_catalog()


def _policy(rule: Rule):
    description = f"{rule.description} ({rule.reason})"
    if rule.types:
        def validate(args, report_violation):
            if ANY_TYPE not in rule.types and args.resource_type not in rule.types:
                return
            try:
                catalog = _catalog()
            except UserError:
                return            # the stack rules report the broken catalog, once each
            for v in waived(rule.check(resource_of(args), catalog), args.get_config()):
                report_violation(v.message)
        return ResourceValidationPolicy(name=rule.id, description=description,
                                        validate=validate, config_schema=CONFIG_SCHEMA)

    def validate_stack(args, report_violation):
        try:
            catalog = _catalog()
        except UserError as exc:
            report_violation(f"cannot check the stack against the catalog: {exc}")
            return
        for v in waived(rule.check(stack_resources(args), catalog), args.get_config()):
            report_violation(v.message, v.urn)
    return StackValidationPolicy(name=rule.id, description=description,
                                 validate=validate_stack, config_schema=CONFIG_SCHEMA)


def policies() -> list:
    """One pulumi-policy policy per rule, in the table's order."""
    return [_policy(r) for r in RULES]

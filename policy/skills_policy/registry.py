"""The rule table: every rule has an id, a one-line description and the seed it enforces.

A rule is one decorated function:

    @rule("web-health-check", "The web service has a health check path",
          reason="seed 002 Deployment Architecture: healthCheckPath /health",
          types=(WEB_SERVICE,))
    def web_health_check(resource, catalog):
        if not ...:
            yield "the web service has no health check path"

A resource rule (`types` given) is called with each resource of those types and its
*inputs*; a stack rule (no `types`) is called once with every resource of the stack and
their *outputs* (for these providers the outputs repeat the inputs). Each yields messages
(or `Violation`s naming another resource); nothing yielded means the rule holds.
`pack.py` turns the table into pulumi-policy policies, the tests into table rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from skills_policy.model import Resource, Violation

ANY_TYPE = "*"              # `types` of a resource rule that looks at every resource

# The config key a rule reads to report a finding as waived (policy/README.md, "Waive a rule").
WAIVER = "waiver"
MIN_WAIVER_REASON = 10      # characters: "ok" or "tmp" is not a reason


@dataclass(frozen=True)
class Rule:
    id: str
    description: str        # one line, shown by `pulumi preview` with each violation
    reason: str             # the seed (002 story, 003 playbook) or the catalog it enforces
    check: Callable
    types: tuple = ()       # resource types of a resource rule; () = a stack rule

    @property
    def scope(self) -> str:
        return "resource" if self.types else "stack"


RULES: list[Rule] = []


def rule(id_: str, description: str, *, reason: str, types: tuple = ()):
    def register(check: Callable) -> Callable:
        if any(r.id == id_ for r in RULES):
            raise ValueError(f"policy rule {id_!r} is defined twice")
        RULES.append(Rule(id_, description, reason, check, tuple(types)))
        return check
    return register


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    urn: str | None = None


def waived(messages: Iterable, config: dict | None) -> list[Violation]:
    """The rule's findings, each marked with the waiver reason when its config has one."""
    reason = (config or {}).get(WAIVER)
    out = []
    for m in messages:
        v = m if isinstance(m, Violation) else Violation(str(m))
        if isinstance(reason, str) and reason.strip():
            v = Violation(f"waived ({reason.strip()}): {v.message}", v.urn)
        out.append(v)
    return out


def run_rule(r: Rule, resources: list[Resource], catalog,
             config: dict | None = None) -> list[Finding]:
    """One rule over a stack: each resource of its types, or the whole stack once."""
    if r.types:
        found = []
        for res in resources:
            if res.type in r.types or ANY_TYPE in r.types:
                found += [Finding(r.id, v.message, res.urn or None)
                          for v in waived(r.check(res, catalog), config)]
        return found
    return [Finding(r.id, v.message, v.urn) for v in waived(r.check(resources, catalog), config)]


def evaluate(resources: list[Resource], catalog, config: dict | None = None) -> list[Finding]:
    """Every rule over a stack; `config` maps a rule id to its config (waivers)."""
    config = config or {}
    return [f for r in RULES for f in run_rule(r, resources, catalog, config.get(r.id))]


def rule_table() -> list[str]:
    """The rule table of policy/README.md (tests/test_policy.py keeps the two equal)."""
    from rollout.core.tables import markdown_table

    return markdown_table(["Rule", "Checks", "What it protects", "Why (source)"],
                          [[f"`{r.id}`", "each resource" if r.types else "the whole stack",
                            r.description, r.reason] for r in RULES])

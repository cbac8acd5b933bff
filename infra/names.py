"""What the stack names its resources, per stack, so two stacks of the program (prod and
staging) can live in one Render workspace and one New Relic account side by side.

`prod` keeps the names its resources were created under: Render takes a changed service
or env-group name in place, but the playbook, the runbooks, the health URL and the alert
queries all say `legal-platform-web`, so prod's names never move. Every other stack puts
its own name after the common prefix: `legal-platform-staging-web`. After the prefix, not
at the end: the catalog finds the ai-service's host with `hostname LIKE
'%legal-platform-ai-service%'`, which `legal-platform-ai-service-staging` would match, so
prod's memory alert would read staging's hosts.

The catalog's service-level queries name prod's resources (the synthetic monitor of the
web's /health, the ai-service's hosts); `Names.catalog` rewrites them for the stack, so
its monitor, alert conditions and dashboard watch its own services. Alert conditions of
another stack carry its name too ("High Skill Error Rate [SEV1] (staging)").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pulumi

from rollout.core.catalog import Catalog

PROD_STACK = "prod"
PREFIX = "legal-platform"
# role -> the name prod's resource has (and had before this module existed)
ROLES = {"web": "web", "ai_service": "ai-service", "postgres": "db", "key_value": "cache",
         "data_env": "data"}
_STACK = re.compile(r"^[a-z0-9][a-z0-9-]{0,19}$")


@dataclass(frozen=True)
class Names:
    stack: str

    @property
    def prod(self) -> bool:
        return self.stack == PROD_STACK

    def resource(self, role: str) -> str:
        kind = ROLES[role]
        return f"{PREFIX}-{kind}" if self.prod else f"{PREFIX}-{self.stack}-{kind}"

    web = property(lambda self: self.resource("web"))
    ai_service = property(lambda self: self.resource("ai_service"))
    postgres = property(lambda self: self.resource("postgres"))
    key_value = property(lambda self: self.resource("key_value"))
    data_env = property(lambda self: self.resource("data_env"))

    def label(self, text: str) -> str:
        """A display name other stacks mark as theirs (alert condition names)."""
        return text if self.prod else f"{text} ({self.stack})"

    def query(self, nrql: str) -> str:
        """A catalog query with prod's resource names replaced by this stack's."""
        if self.prod:
            return nrql
        for role in ROLES:
            nrql = nrql.replace(Names(PROD_STACK).resource(role), self.resource(role))
        return nrql

    def catalog(self, catalog: Catalog) -> Catalog:
        """The catalog whose service-level queries watch this stack's resources."""
        if self.prod:
            return catalog
        metrics = {name: replace(m, nrql_override=self.query(m.nrql_override),
                                 ran=m.ran and {**m.ran, "nrql": self.query(m.ran["nrql"])})
                   if m.nrql_override else m for name, m in catalog.metrics.items()}
        return replace(catalog, metrics=metrics)


def names_for(stack: str | None = None) -> Names:
    """The names of `stack` (default: the stack being deployed)."""
    stack = pulumi.get_stack() if stack is None else stack
    if stack != PROD_STACK and not _STACK.match(stack):
        raise pulumi.RunError(
            f"stack {stack!r}: its name goes into Render service names "
            f"({PREFIX}-<stack>-web); expected lower case letters, digits and -, "
            f"at most 20 characters (pulumi stack rename)")
    return Names(stack)

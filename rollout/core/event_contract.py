"""The SkillExecution event contract: which attributes the application must send, which it
may send, and their types, read from rollout/schema/skill_execution.schema.json.

Two readers: the catalog (a metric on an optional attribute only counts events that carry
it, so "not sent" is no data, not 0 %) and `rollout verify` (New Relic's keyset() of the
last hour against the contract).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "skill_execution.schema.json"

# JSON Schema type -> the type New Relic's keyset() reports for such an attribute.
NR_TYPES = {"boolean": "boolean", "number": "numeric", "integer": "numeric", "string": "string"}


@dataclass(frozen=True)
class EventContract:
    event: str
    required: tuple           # in the schema's order
    optional: tuple
    types: dict               # attribute -> New Relic keyset() type

    def check(self, seen: dict[str, set]) -> tuple[list, list, list]:
        """(missing required, missing optional, wrong types) of the attributes New Relic saw,
        `seen`: attribute -> the types it arrived with. A wrong type reads e.g.
        "success: string, expected boolean"."""
        missing = [a for a in self.required if a not in seen]
        absent = [a for a in self.optional if a not in seen]
        wrong = [f"{a}: {', '.join(sorted(seen[a]))}, expected {self.types[a]}"
                 for a in (*self.required, *self.optional)
                 if a in seen and self.types.get(a) and seen[a] != {self.types[a]}]
        return missing, absent, wrong


def contract_from_schema(schema: dict) -> EventContract:
    props = schema.get("properties") or {}
    required = tuple(a for a in props if a in set(schema.get("required") or ()))
    optional = tuple(a for a in props if a not in required)
    types = {a: NR_TYPES.get(p.get("type")) for a, p in props.items()}
    return EventContract(schema.get("title", ""), required, optional, types)


@lru_cache(maxsize=4)
def load_event_contract(path: str | None = None) -> EventContract:
    return contract_from_schema(json.loads(Path(path or SCHEMA_PATH).read_text(encoding="utf-8")))

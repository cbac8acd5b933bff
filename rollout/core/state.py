"""The rollout state model: committed flag files, applied values, history events.

Pure: builds typed objects from parsed data and says, in one line naming the file
and field, what is wrong with it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from rollout.errors import UserError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "flag.schema.json"
FLAG_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_UNITS = {"m": 60, "h": 3600, "d": 86400}

# History event kinds. applied/aborted change the store; the others only record
# (alerted: the guard's SEV3 "hold and investigate", rollout/guard.py).
APPLIED, ABORTED, HELD, REFUSED, RETRY = "applied", "aborted", "held", "refused", "retry"
ALERTED = "alerted"
CHANGES = (APPLIED, ABORTED)
# Evidence rows: what was proven before a step (never de-duplicated; see core/evidence.py).
LOADTEST, BASELINE, DRILL = "loadtest", "baseline", "drill"
EVIDENCE_KINDS = (LOADTEST, BASELINE, DRILL)      # the order a flag file's preflight lists them
# The flag store was found serving another value than the history's last change, and was
# put back (or, where it served less, its value was adopted): rollout/core/drift.py.
DRIFT = "drift"


def parse_duration(text: str) -> timedelta:
    """'72h', '7d', '90m' (also '30s' for drills) -> timedelta."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*", str(text))
    if not m:
        raise ValueError(f"expected a duration like 90m, 72h or 7d, got {text!r}")
    seconds = float(m.group(1)) * {"s": 1, **_UNITS}[m.group(2)]
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{text!r} is too long, expected at most 999999999 days") from None


def format_duration(td: timedelta) -> str:
    """Hours and minutes, as the playbook counts soak time: '62h', '61h30m', '45m'."""
    minutes = int(max(td.total_seconds(), 0)) // 60
    h, m = divmod(minutes, 60)
    if not h:
        return f"{m}m"
    return f"{h}h{m:02d}m" if m else f"{h}h"


def format_span(td: timedelta) -> str:
    """Whole days as days ('14d'), anything else as format_duration does."""
    seconds = int(td.total_seconds())
    return f"{seconds // 86400}d" if seconds and not seconds % 86400 else format_duration(td)


def as_utc(t: datetime) -> datetime:
    """The same instant in UTC; a naive time is taken to be UTC already."""
    return t.astimezone(timezone.utc) if t.tzinfo else t.replace(tzinfo=timezone.utc)


def format_utc(t: datetime) -> str:
    """A time as people read it in reports and comments, converted to UTC first."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Step:
    percentage: int
    name: str
    soak: timedelta | None


@dataclass(frozen=True)
class Ladder:
    steps: tuple[Step, ...]

    def index(self, percentage: int) -> int | None:
        for i, s in enumerate(self.steps):
            if s.percentage == percentage:
                return i
        return None

    def step(self, percentage: int) -> Step | None:
        i = self.index(percentage)
        return None if i is None else self.steps[i]

    def next(self, percentage: int) -> Step | None:
        i = self.index(percentage)
        return self.steps[i + 1] if i is not None and i + 1 < len(self.steps) else None

    @property
    def percentages(self) -> list[int]:
        return [s.percentage for s in self.steps]


@dataclass(frozen=True)
class Requirement:
    """One piece of phase-0 evidence a flag file demands before its first step up
    (`preflight:` in the flag file; judged by rollout/core/readiness.py)."""

    kind: str                       # loadtest | baseline | drill
    within: timedelta               # evidence older than this is stale
    profile: str | None = None      # loadtest: the profile the run must have used
    days: int | None = None         # baseline: at least this many days captured

    def describe(self) -> str:
        what = {LOADTEST: f"a passing load test{f' (profile {self.profile})' if self.profile else ''}",
                BASELINE: f"a baseline of {self.days or 1} days or more",
                DRILL: "a rollback drill that rolled back"}[self.kind]
        return f"{what} recorded within {format_span(self.within)}"


@dataclass(frozen=True)
class FlagState:
    """What git says: the committed desired state of one flag."""

    flag: str
    percentage: int
    ladder: Ladder
    path: str = ""
    revision: str = ""          # the commit that last changed the file (or a content hash)
    description: str = ""
    owner: str = ""
    preflight: tuple[Requirement, ...] = ()     # evidence the first step up requires

    @property
    def step(self) -> Step:
        return self.ladder.step(self.percentage)


@dataclass(frozen=True)
class Applied:
    """What the flag store says: the value the application reads."""

    flag: str
    percentage: int
    enabled: bool
    version: int
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Event:
    """One row of the append-only history."""

    flag: str
    at: datetime
    kind: str
    from_pct: int | None
    to_pct: int | None
    reasons: tuple[str, ...] = ()
    revision: str = ""
    commit: str = ""
    actor: str = ""
    evidence: dict = field(default_factory=dict)
    id: int | None = None

    def to_json(self) -> dict:
        return {"id": self.id, "flag": self.flag, "at": self.at.isoformat(), "kind": self.kind,
                "from": self.from_pct, "to": self.to_pct, "reasons": list(self.reasons),
                "revision": self.revision, "commit": self.commit, "actor": self.actor,
                "evidence": self.evidence}


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def _schema_error(name: str, data) -> str | None:
    errors = list(_validator().iter_errors(data))
    if not errors:
        return None
    e = min(errors, key=lambda e: (len(e.path), list(map(str, e.path))))
    where = ".".join(str(p) for p in e.path)
    if e.validator == "additionalProperties":
        extra = sorted(set(e.instance) - set(e.schema.get("properties", {})))
        return f"{name}: unknown key {extra[0]!r}" + (f" in {where}" if where else "") + \
            f", expected one of {', '.join(sorted(e.schema['properties']))}"
    if e.validator == "required":
        return f"{name}: missing key {e.message.split(chr(39))[1]!r}" + (f" in {where}" if where else "")
    if e.validator == "pattern" and where == "flag":
        return f"{name}: field flag: {e.instance!r} is not a plain identifier, expected [a-z][a-z0-9_]*"
    return f"{name}: field {where or '(top level)'}: {e.message}"


def build_flag(data, name: str, *, expected_flag: str | None = None,
               revision: str = "") -> FlagState:
    """A FlagState from parsed YAML, or a one-line UserError naming file and field."""
    if not isinstance(data, dict):
        raise UserError(f"{name}: expected a mapping with keys flag, percentage, ladder, "
                        f"got {type(data).__name__}")
    problem = _schema_error(name, data)
    if problem:
        raise UserError(problem)
    if expected_flag is not None and data["flag"] != expected_flag:
        raise UserError(f"{name}: field flag: {data['flag']!r} must equal the file name "
                        f"{expected_flag!r}")
    steps = tuple(Step(s["percentage"], s["step"],
                       parse_duration(s["soak"]) if "soak" in s else None)
                  for s in data["ladder"])
    pcts = [s.percentage for s in steps]
    if pcts[0] != 0 or pcts[-1] != 100 or any(b <= a for a, b in zip(pcts, pcts[1:])):
        raise UserError(f"{name}: field ladder: percentages {pcts} must rise strictly from 0 to 100")
    if len({s.name for s in steps}) != len(steps):
        raise UserError(f"{name}: field ladder: step names must be unique")
    ladder = Ladder(steps)
    if ladder.index(data["percentage"]) is None:
        raise UserError(f"{name}: field percentage: {data['percentage']} is not on the ladder, "
                        f"expected one of {', '.join(map(str, pcts))}")
    return FlagState(flag=data["flag"], percentage=data["percentage"], ladder=ladder,
                     path=name, revision=revision, description=data.get("description", ""),
                     owner=data.get("owner", ""),
                     preflight=_preflight(data.get("preflight") or {}, name))


def _preflight(data: dict, name: str) -> tuple[Requirement, ...]:
    """The schema has checked keys and shapes; the durations are parsed here."""
    out = []
    for kind in EVIDENCE_KINDS:
        if kind not in data:
            continue
        spec = data[kind]
        try:
            within = parse_duration(spec["within"])
        except ValueError as exc:
            raise UserError(f"{name}: field preflight.{kind}.within: {exc}") from None
        out.append(Requirement(kind, within, profile=spec.get("profile"), days=spec.get("days")))
    return tuple(out)


def check_flag_name(name: str) -> str:
    if not FLAG_NAME.fullmatch(name or ""):
        raise UserError(f"flag {name!r} is not a plain identifier, expected [a-z][a-z0-9_]*")
    return name

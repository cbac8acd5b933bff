"""The rollback drill against a staging store: "Rollback procedures tested in staging"
(playbook 003, pre-deployment checklist), recorded as evidence.

A drill on the embedded SQLite file rehearses the decisions; a drill against the staging
stack's PostgreSQL store also proves the controller's rollback path works against the
kind of store production uses (connection, migrations, compare-and-set, the abort row).
Against such a store the drill never touches a real flag:

- it walks a flag of its own, `<flag>__drill_<time>_<random>`, created for this run (a
  fresh history, so no earlier drill's abort or soak can leak into it), and leaves it at
  0 % when done (the history is append-only: its rows stay, and say it was a drill);
- its generated SkillExecution events go into a temporary SQLite file, removed after;
- its outcome is recorded for the REAL flag as a `drill` history row in the store given
  with --record-in (the production store, where the readiness gate of the first step
  reads it), never in the staging store's history of the real flag:

    evidence = {
      "verdict": "pass",                      # the drill behaved as the playbook requires
      "fault": "error-rate", "tests": "rollback",      # rollback | hold | ladder
      "store": "postgres://rollout@staging-db:5432/rollout",   # never a password
      "store_kind": "postgres", "drill_flag": "skills_rollout__drill_20261120090000_3fa2",
      "rolled_back": true, "final_percentage": 0,
      "fault_to_rollback_minutes": 30, "guard_interval_minutes": 30,
      "detection_to_rollback_ms": 81.2, "simulated": {...}, "seed": 7, "rate": 2400,
      "run_url": "https://github.com/OWNER/REPO/actions/runs/123"   # in GitHub Actions only
    }
"""
from __future__ import annotations

import secrets
from datetime import datetime

from rollout.core.state import APPLIED, DRILL, Event, FlagState, check_flag_name
from rollout.errors import UserError

SUFFIX = "__drill_"
# What a fault must end in for the playbook: the evidence says what the drill tested.
TESTS = {"error-rate": "rollback", "latency": "rollback", "provider-outage": "hold",
         "none": "ladder"}


def scheme(url: str) -> str:
    return url.split(":", 1)[0].lower()


def is_staging_store(url: str) -> bool:
    """A database store other than the embedded file: where a drill proves the real path."""
    return scheme(url) in ("postgres", "postgresql")


def check_drill_store(url: str | None, *, explicit: bool, record_in: str | None) -> None:
    """Which stores a drill may write into, in one line each way it can go wrong."""
    if url and scheme(url) in ("http", "https"):
        raise UserError("--store: a drill needs a database store, sqlite:///PATH or the staging "
                        "stack's postgres://...; the application's flag API serves real flags only")
    if url and is_staging_store(url) and not explicit:
        raise UserError("ROLLOUT_STORE is not an SQLite file: a drill never writes into it "
                        "by default; name the staging store with --store postgres://...")
    if url and not is_staging_store(url) and scheme(url) != "sqlite":
        raise UserError("--store: expected sqlite:///PATH or the staging store postgres://...")
    if record_in and not (url and is_staging_store(url)):
        raise UserError("--record-in: only a drill against the staging store (--store "
                        "postgres://...) is evidence of a rollback tested in staging; a "
                        "drill on a local SQLite file is a rehearsal only")


def same_place(a: str, b: str) -> bool:
    """Two password-free store labels (a store's own `.url`) naming one database; the
    user may differ."""
    place = lambda u: u.split("://", 1)[-1].rsplit("@", 1)[-1].rstrip("/").lower()
    return place(a) == place(b)


def drill_flag(base: FlagState, at: datetime, directory_flags: list[str]) -> FlagState:
    """The run's own flag: never a committed flag's name, never one a drill used before."""
    name = f"{base.flag}{SUFFIX}{at:%Y%m%d%H%M%S}_{secrets.token_hex(2)}"
    try:
        check_flag_name(name)
    except UserError:
        raise UserError(f"flag {base.flag!r}: too long to name a drill flag after it "
                        f"({len(name)} characters, at most 63)") from None
    if name in directory_flags:
        raise UserError(f"flag file {name}.yaml exists: a drill flag must not be a real flag")
    from dataclasses import replace

    return replace(base, flag=name, preflight=())


def leave_at_zero(store, flag: str, at: datetime, *, actor: str) -> None:
    """The drill's flag ends at 0 % whatever the drill did: the staging application never
    sees a rehearsal flag switched on."""
    applied = store.read(flag)
    if applied is None or applied.percentage == 0:
        return
    store.apply(flag, 0, applied.version, Event(
        flag, at, APPLIED, applied.percentage, 0, ("drill over: the rehearsal's flag back to 0%",),
        revision="drill", commit="", actor=actor))


def drill_event(real: FlagState, summary: dict, passed: bool, *, store_label: str,
                drill_flag_name: str, at: datetime, commit: str, actor: str, seed: int,
                rate: int) -> Event:
    """The drill's outcome as evidence for the real flag."""
    from rollout.loadtest.record import run_url

    fault = summary["fault"]
    evidence = {
        "verdict": "pass" if passed else "fail", "fault": fault, "tests": TESTS[fault],
        "store": store_label, "store_kind": scheme(store_label), "drill_flag": drill_flag_name,
        "rolled_back": summary["rolled_back"], "final_percentage": summary["final_percentage"],
        "fault_to_rollback_minutes": summary["fault_to_rollback_minutes"],
        "guard_interval_minutes": summary["guard_interval_minutes"],
        "detection_to_rollback_ms": summary["detection_to_rollback_ms"],
        "simulated": summary["simulated"], "seed": seed, "rate": rate,
    }
    url = run_url()
    if url:
        evidence["run_url"] = url
    if summary["rolled_back"]:
        outcome = (f"rolled back within {summary['fault_to_rollback_minutes']} simulated "
                   f"minutes (guard every {summary['guard_interval_minutes']})")
    else:
        outcome = f"no rollback, final {summary['final_percentage']}%"
    verdict = "as the playbook requires" if passed else "NOT as the playbook requires"
    head = f"rollback drill ({fault}) against {store_label}: {outcome}, {verdict}"
    return Event(flag=real.flag, at=at, kind=DRILL, from_pct=None, to_pct=None, reasons=(head,),
                 revision=real.revision, commit=commit, actor=actor, evidence=evidence)

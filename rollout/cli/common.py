"""What several sub-commands share: store and output options, clock, actor, printing."""
from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rollout.errors import UserError


def add_store(p: argparse.ArgumentParser, history: bool = False) -> None:
    p.add_argument("--store", metavar="URL",
                   help="flag store: sqlite:///PATH (default sqlite:///.rollout/flags.db), "
                        "postgres://..., https://...; or set ROLLOUT_STORE")
    if history:
        p.add_argument("--history", metavar="URL",
                       help="history store of an http(s) flag store (postgres://... or "
                            "sqlite:///PATH); or set ROLLOUT_HISTORY")


def required_reason(text: str) -> str:
    """--reason goes into the history, the pull request and the messages: never empty."""
    if not text.strip():
        raise UserError("--reason: expected a non-empty explanation")
    return text.strip()


def add_flags_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--flags", metavar="DIR", type=Path, default=Path("rollout/flags"),
                   help="directory of committed flag files (default: rollout/flags)")


def add_output(p: argparse.ArgumentParser, choices=("table", "json")) -> None:
    p.add_argument("--output", "-o", choices=choices, default=choices[0],
                   help=f"output format (default: {choices[0]})")


def parse_time(text: str, what: str = "--at") -> datetime:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{what} {text!r}: expected an ISO-8601 time like 2026-11-20T09:00Z") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def parse_window(text: str, what: str = "--window") -> timedelta:
    """A positive duration like 30m, 2h or 1d, or a one-line UserError."""
    from rollout.core.state import parse_duration

    try:
        window = parse_duration(text)
    except ValueError as exc:
        raise UserError(f"{what}: {exc}") from None
    if window.total_seconds() <= 0:
        raise UserError(f"{what} {text!r}: expected a positive duration like 1h")
    return window


def now() -> datetime:
    """The clock. ROLLOUT_NOW pins it (rehearsals and tests); decisions never read it."""
    pinned = os.environ.get("ROLLOUT_NOW")
    return parse_time(pinned, "ROLLOUT_NOW") if pinned else datetime.now(timezone.utc)


def actor() -> str:
    for var in ("ROLLOUT_ACTOR", "GITHUB_ACTOR"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:  # no user name in some containers
        return "unknown"


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def print_table(headers: list[str], rows: list[list]) -> None:
    from rollout.core.tables import text_table

    print("\n".join(text_table(headers, rows)))

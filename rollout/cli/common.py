"""What several sub-commands share: store and output options, clock, actor, printing, and
the settings read from the environment at the edge (ROLLOUT_NOW, ROLLOUT_HTTP_ATTEMPTS,
ROLLOUT_NOTIFY_DEADLINE) so that nothing deeper reads them."""
from __future__ import annotations

import argparse
import getpass
import json
import math
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


# Times and durations the controller can compute with: a window subtracted from a time,
# in epoch milliseconds, stays far from datetime's and the sources' limits.
EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)
LONGEST = timedelta(days=3650)


def parse_time(text, what: str = "--at") -> datetime:
    """An ISO-8601 time between EARLIEST and LATEST (UTC if no zone), or a UserError."""
    if isinstance(text, datetime):
        return text
    try:
        t = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
        t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
        if not EARLIEST <= t < LATEST:
            raise UserError(f"{what} {text!r}: expected a time between {EARLIEST.year} and "
                            f"{LATEST.year}")
        return t
    except (ValueError, OverflowError):
        raise UserError(f"{what} {text!r}: expected an ISO-8601 time like 2026-11-20T09:00Z") from None


def parse_window(text, what: str = "--window") -> timedelta:
    """A positive duration like 30m, 2h or 1d, at most LONGEST, or a one-line UserError."""
    from rollout.core.state import parse_duration

    if isinstance(text, timedelta):
        return text
    try:
        window = parse_duration(text)
    except ValueError as exc:
        raise UserError(f"{what}: {exc}") from None
    if window.total_seconds() <= 0 or window > LONGEST:
        raise UserError(f"{what} {text!r}: expected a positive duration like 1h, at most "
                        f"{LONGEST.days}d")
    return window


def now() -> datetime:
    """The clock. ROLLOUT_NOW pins it (rehearsals and tests; empty is unset); decisions
    never read it."""
    pinned = os.environ.get("ROLLOUT_NOW", "").strip()
    return parse_time(pinned, "ROLLOUT_NOW") if pinned else datetime.now(timezone.utc)


# -- argparse `type=` checks: a bad value is refused before the command starts (exit 2) --

def _argtype(parse):
    def check(text):
        try:
            return parse(text)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return check


time_arg = _argtype(lambda text: parse_time(text, "time"))
duration_arg = _argtype(lambda text: parse_window(text, "duration"))


def number_arg(low: float, high: float, *, integer: bool = False, low_open: bool = False):
    """A finite number in [low, high] (or (low, high] with low_open); integers only when
    `integer`. nan, inf and 1e308 are refused here rather than looping or overflowing."""
    def parse(text):
        try:
            value = int(text) if integer else float(text)
        except (ValueError, OverflowError):
            raise UserError(f"{text!r}: expected {'a whole number' if integer else 'a number'}") from None
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            sign = ">" if low_open else ">="
            raise UserError(f"{text!r}: expected a number {sign} {low:g} and <= {high:g}")
        return value
    return _argtype(parse)


HTTP_ATTEMPTS_ENV = "ROLLOUT_HTTP_ATTEMPTS"
NOTIFY_DEADLINE_ENV = "ROLLOUT_NOTIFY_DEADLINE"


def http_attempts_cap(env=None) -> int | None:
    """ROLLOUT_HTTP_ATTEMPTS caps the attempts of every HTTP request of a run (a guard on
    a short schedule gives up sooner; docs/failures.md). Anything but a whole number >= 1
    leaves each policy's own."""
    text = (os.environ if env is None else env).get(HTTP_ATTEMPTS_ENV, "").strip()
    return int(text) if text.isdigit() and int(text) >= 1 else None


def notify_deadline(env=None) -> float:
    """Seconds all notifications of one run share: ROLLOUT_NOTIFY_DEADLINE, else 20."""
    from rollout.deliveries import NOTIFY_DEADLINE

    text = (os.environ if env is None else env).get(NOTIFY_DEADLINE_ENV, "").strip()
    if not text:
        return NOTIFY_DEADLINE
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or not 0 < value <= 600:
        raise UserError(f"{NOTIFY_DEADLINE_ENV}={text!r}: expected seconds, 0 < value <= 600")
    return value


def notifiers():
    """The notification channels the environment configures, with the run's deadline."""
    from rollout.deliveries import Notifiers

    return Notifiers.from_env(deadline=notify_deadline())


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


def append_step_summary(text: str) -> None:
    """Append to the GitHub Actions job summary (GITHUB_STEP_SUMMARY) when one is set."""
    from rollout.errors import ExternalError
    from rollout.redact import redact

    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            # O_NONBLOCK: a FIFO without a reader fails at once instead of hanging
            fd = os.open(summary, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
            with open(fd, "a", encoding="utf-8") as f:
                f.write(redact(text) + "\n")
        except OSError as exc:
            raise ExternalError(f"GITHUB_STEP_SUMMARY {summary}: {exc.strerror}") from None


def print_outcomes(outcomes, output: str, invalid=()) -> None:
    """The guard's outcomes (rollout guard, rollout abort): a table or JSON on stdout;
    drift, flags not judged and failed deliveries on stderr."""
    from rollout.deliveries import FAILED

    if output == "json":
        print_json([o.to_json() for o in outcomes])
    else:
        print_table(["flag", "action", "at", "severity", "reasons"],
                    [[o.flag, o.action, "-" if o.from_pct is None else f"{o.from_pct}%",
                      o.severity or "-", "; ".join(o.reasons)] for o in outcomes])
        # a metric this source cannot measure is a fact about the setup: said once
        omitted = dict(m for o in outcomes for m in o.omitted)
        for metric, why in omitted.items():
            print(f"  not judged: {metric}: {why}")
    for o in outcomes:
        if o.drift:
            print(f"  {o.flag} {o.drift}", file=sys.stderr)
        if o.blind:
            print(f"  {o.flag}: NOT JUDGED (exit 4): {o.blind_reason}", file=sys.stderr)
        if output != "json":
            for channel, what in o.deliveries.items():
                stream = sys.stderr if what.startswith(FAILED) else sys.stdout
                print(f"  {o.flag} {channel}: {what}", file=stream)
    for exc in invalid:
        print(f"rollout guard: {exc}", file=sys.stderr)

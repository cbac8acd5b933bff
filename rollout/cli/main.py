"""`rollout`: the command line. Each sub-command lives in cmd_<name>.py.

Imports here stay light: `rollout validate` runs on every pull request.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from rollout.errors import EXIT_USAGE, ExternalError, RolloutError, one_line

# One module per sub-command, in the order `rollout --help` lists them.
COMMANDS = [
    "validate",
    "changed",
    "reconcile",
    "status",
    "gate",
    "events",
    "history",
    "bucket",
    "guard",
    "serve",
    "abort",
    "retry",
    "drill",
    "loadtest",
    "baseline",
    "preflight",
    "report",
    "store",
    "verify",
]

DESCRIPTION = """\
GitOps rollout controller. The committed percentage in rollout/flags/<flag>.yaml is the
desired state; `reconcile` applies it to the flag store when the ladder, the soak time and
the gate allow it; `guard` rolls back on a trigger and proposes the revert to git.

exit codes: 0 done or nothing to do; 1 a move was held or refused by a rule;
2 invalid input or usage; 3 rollback (happened, or the gate says so); 4 an outside system failed
"""

EPILOG = """\
examples:
  rollout validate                         check every committed flag file
  rollout validate --base origin/main      judge the pull request's move
  rollout reconcile --dry-run              show what would be applied
  rollout status --output json
  rollout bucket skills_rollout user-42

stores: --store or ROLLOUT_STORE, default sqlite:///.rollout/flags.db
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2
        self.exit(EXIT_USAGE, f"usage: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rollout", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"rollout.cli.cmd_{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from rollout.redact import RedactingStream, register_args

    argv = sys.argv[1:] if argv is None else argv
    register_args(argv)
    # Every line this process prints passes the redaction filter: error messages quote
    # URLs and outside answers, and any of them may carry a password or a token.
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(out), RedactingStream(err)
    try:
        return _run(argv)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):   # a closed pipe (`rollout ... | head`)
                pass
        sys.stdout, sys.stderr = out, err


def _run(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    from rollout.adapters.retry import cap_http_attempts
    from rollout.cli.common import http_attempts_cap

    previous = cap_http_attempts(http_attempts_cap())
    try:
        return args.func(args)
    except RolloutError as exc:
        # an outside system's words may hold anything (newlines, bytes of a damaged file)
        text = one_line(str(exc)) if isinstance(exc, ExternalError) else str(exc)
        print(f"rollout {args.command}: {text}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`rollout gate ... | head`): nothing left to say, no traceback;
        # stdout points at nothing from here so the final flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())
        return 141
    finally:
        cap_http_attempts(previous)


if __name__ == "__main__":
    raise SystemExit(main())

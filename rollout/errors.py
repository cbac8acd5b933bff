"""Errors that reach the user as one line and a documented exit code."""

EXIT_OK = 0
EXIT_HELD = 1        # a move was held or refused by a rule
EXIT_USAGE = 2       # invalid input or usage
EXIT_ROLLBACK = 3    # a rollback happened (guard) or the gate says roll back
EXIT_EXTERNAL = 4    # an outside system failed


def one_line(text: str) -> str:
    """Text an outside system produced (a driver's message quoting a damaged file, a
    vendor's error body) as one printable line."""
    text = "".join(c if c.isprintable() or c.isspace() else "?" for c in str(text))
    return " ".join(text.split())


class RolloutError(Exception):
    exit_code = EXIT_USAGE


class UserError(RolloutError):
    """Bad input: a file, field, flag or argument the user can fix."""

    exit_code = EXIT_USAGE


class ExternalError(RolloutError):
    """An outside system (store, New Relic, Slack, GitHub...) failed."""

    exit_code = EXIT_EXTERNAL


class ConflictError(RolloutError):
    """Another controller changed the flag first (compare-and-set lost)."""

    exit_code = EXIT_HELD

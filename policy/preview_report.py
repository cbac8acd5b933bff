"""The pull request's preview comment: `pulumi preview` output with its policy results first.

    python policy/preview_report.py PREVIEW_OUTPUT EXIT_CODE [COMMIT] > comment.md

pulumi/actions comments only after a preview that succeeded, so a preview failed by a
mandatory rule would leave the pull request without the one thing its reviewers need. The
pull-request workflow therefore runs `pulumi preview --policy-pack policy` itself and posts
this report whatever the exit code. The CLI prints its policy results in a section headed
`Policies:` (older releases: `Policy Violations:`); that section is quoted on top, the
whole output (trimmed from the front to fit a comment) below it.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

MARKER = "<!-- pulumi-preview-report -->"
MAX_OUTPUT = 50_000          # characters of output; GitHub refuses comments over 65,536
_SECTION = re.compile(r"^(Policies|Policy Violations):\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def policy_section(output: str) -> str | None:
    """The CLI's policy section (heading and indented lines), or None when it printed none."""
    lines = _ANSI.sub("", output).splitlines()
    for start, line in enumerate(lines):
        if _SECTION.match(line):
            end = start + 1
            while end < len(lines) and (not lines[end].strip() or lines[end][:1].isspace()):
                end += 1
            return "\n".join(lines[start:end]).rstrip()
    return None


def _fenced(text: str) -> str:
    """A code block no line of `text` can close early."""
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def report(output: str, exit_code: int, commit: str = "") -> str:
    output = _ANSI.sub("", output).rstrip()
    verdict = ("✅ passed" if exit_code == 0 else
               f"❌ failed (exit {exit_code}): a mandatory policy violation or an error, below")
    section = policy_section(output)
    trimmed = output if len(output) <= MAX_OUTPUT else "…" + output[-MAX_OUTPUT:]
    lines = [MARKER, f"## `pulumi preview` of prod with the policy pack: {verdict}", "",
             "### Policy results", "",
             _fenced(section) if section else
             "_The preview printed no policy section: it stopped before the pack ran (see the "
             "output below)._",
             "", "<details><summary>Full preview output</summary>", "", _fenced(trimmed), "",
             "</details>", "",
             "<sub>Mandatory violations fail this check. To waive one rule on this stack, give "
             "its reason in policy/config/prod.json (policy/README.md, \"Waive a rule\")"
             + (f". Commit {commit}." if commit else ".") + "</sub>"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or not argv[1].lstrip("-").isdigit():
        print("usage: preview_report.py PREVIEW_OUTPUT EXIT_CODE [COMMIT]", file=sys.stderr)
        return 2
    try:
        output = Path(argv[0]).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        print(f"preview_report.py: cannot read {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 2
    sys.stdout.write(report(output, int(argv[1]), argv[2] if len(argv) == 3 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Tables as the terminal and Markdown show them, and the one Markdown cell escape.

Every text table of the command line (status, history, reconcile, guard, drill, the
gate's table) and every Markdown table (the pull-request comment, the reports) is
written here, so a `|` in a reason can never break a row.
"""
from __future__ import annotations


def text_table(headers: list[str], rows: list[list]) -> list[str]:
    """Left-aligned columns two spaces apart, a dashed rule under the headers; None is
    an empty cell."""
    cells = [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells]


def md_escape(text) -> str:
    """Text safe inside a Markdown table cell (and on one line)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return out + ["| " + " | ".join(md_escape(c) for c in r) + " |" for r in rows]

"""Tables as the terminal, Markdown and HTML show them, and the one Markdown cell escape.

Every text table of the command line (status, history, reconcile, guard, drill, the
gate's table), every Markdown table (the pull-request comment, the reports) and every
HTML table (the status page of `rollout serve`) is written here, so a `|` in a reason can
never break a row, nor a `<` a page.
"""
from __future__ import annotations

from html import escape


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


def html_table(headers: list[str], rows: list[list], *, markup=(), cls: str = "") -> str:
    """An HTML table; every cell is escaped except the columns in `markup`, which the
    caller has built as HTML already."""
    taken = set(markup)
    cell = lambda i, c: str(c) if i in taken else escape("" if c is None else str(c))
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(i, c)}</td>" for i, c in enumerate(r)) + "</tr>"
                   for r in rows)
    attr = f' class="{escape(cls)}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

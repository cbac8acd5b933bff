"""The status page as HTML: small functions over the view model (rollout/core/flag_view.py).

Server-rendered, no script: the browser refreshes it every REFRESH seconds. Every text
from the store, the flag files or the metric source is escaped here (html.escape);
the only markup taken as is, the timeline chart, is the reports' own SVG, whose texts
are escaped where it is drawn. Colour is never the only signal: every state, verdict
and delivery carries a symbol and a word. Times are UTC, with how long ago.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from rollout.core.flag_view import FlagView, GateView
from rollout.core.gate_render import BASELINE_COLUMN
from rollout.core.state import Event, format_duration, format_utc
from rollout.core.tables import html_table

REFRESH = 30                    # seconds between the browser's reloads
STYLESHEET = "/static/page.css"
REASONS_IN_HISTORY = 240        # characters of a history row's reasons shown in the table

# symbol and word, beside the colour the stylesheet gives the class
STATES = {"off": "○ OFF", "soaking": "◐ SOAKING", "ready": "✔ READY", "full": "● FULL",
          "held": "⚠ HELD", "aborted": "✖ ABORTED", "drift": "⚠ DRIFT",
          "not applied": "○ NOT APPLIED"}
VERDICTS = {"pass": "✔", "proceed": "✔", "hold": "⚠", "inconclusive": "?", "error": "⚠",
            "rollback": "✖", "sent": "✔", "sending": "…", "failed": "✖"}
KINDS = {"applied": "●", "aborted": "✖", "held": "⚠", "refused": "⚠", "retry": "↻"}


def esc(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def pct(value) -> str:
    return "—" if value is None else f"{value} %"


def ago(t: datetime, now: datetime) -> str:
    """'just now', '45m ago', '5h ago', '3d 4h ago'; 'in 2d 1h' for the future."""
    seconds = (now - t).total_seconds()
    span = timedelta(seconds=abs(seconds))
    if span < timedelta(minutes=1):
        return "just now"
    if span < timedelta(hours=1):
        text = f"{int(span.total_seconds() // 60)}m"
    elif span < timedelta(hours=48):
        text = f"{int(span.total_seconds() // 3600)}h"
    else:
        days, rest = divmod(int(span.total_seconds() // 3600), 24)
        text = f"{days}d {rest}h" if rest else f"{days}d"
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def when(t: datetime | None, now: datetime) -> str:
    if t is None:
        return "—"
    return (f'<time datetime="{esc(t.isoformat())}">{esc(format_utc(t))}</time> '
            f'<span class="ago">({esc(ago(t, now))})</span>')


def mark(verdict: str, text: str | None = None) -> str:
    """A verdict or status as symbol and word, coloured by its class."""
    word = text if text is not None else verdict
    return f'<span class="v v-{esc(verdict)}">{VERDICTS.get(verdict, "•")} {esc(word)}</span>'


def _reasons(reasons, cls: str = "reasons") -> str:
    counted: dict[str, int] = {}
    for r in reasons:
        counted[r] = counted.get(r, 0) + 1
    items = "".join(f"<li>{esc(r)}{f' <b>(×{n})</b>' if n > 1 else ''}</li>"
                    for r, n in counted.items())
    return f'<ul class="{cls}">{items}</ul>' if items else ""


def _section(title: str, body: str, cls: str = "") -> str:
    return f'<section class="part {cls}"><h3>{esc(title)}</h3>{body}</section>'


# -- the card's parts --------------------------------------------------------------------------

def _headline(v: FlagView) -> str:
    st = v.status
    facts = [f'<div><dt>Committed</dt><dd data-field="desired">{pct(st.desired)}</dd></div>',
             f'<div><dt>Applied</dt><dd data-field="applied">{pct(st.applied)}</dd></div>',
             f'<div><dt>Step</dt><dd data-field="step">{esc(st.step)}</dd></div>',
             f'<div><dt>Revision</dt><dd><code>{esc(st.revision[:12] or "—")}</code></dd></div>']
    out = [f'<header class="card-head"><h2><a href="/flags/{esc(v.flag)}">{esc(v.flag)}</a></h2>'
           f'<span class="state s-{esc(v.state.replace(" ", "-"))}" data-field="state">'
           f'{esc(STATES.get(v.state, v.state))}</span></header>',
           f'<p class="summary" data-field="summary">{esc(v.summary)}</p>']
    if v.description or v.owner:
        out.append(f'<p class="muted">{esc(v.description)}'
                   f'{" · owner " + esc(v.owner) if v.owner else ""}</p>')
    out.append(f'<dl class="facts">{"".join(facts)}</dl>')
    if not st.in_sync:
        out.append(f'<p class="drift" role="alert" data-field="drift">⚠ <strong>Applied '
                   f'{pct(st.applied)} is not the committed {pct(st.desired)}</strong></p>')
    if st.drift:
        out.append(f'<p class="drift" role="alert" data-field="store-drift">⚠ <strong>The store '
                   f'contradicts the history:</strong> {esc(st.drift)}</p>')
    return "".join(out)


def _ladder(v: FlagView) -> str:
    items = []
    for r in v.ladder:
        tags = (["▶ applied"] if r.applied else []) + (["◆ committed"] if r.committed else []) \
            + (["✔ passed"] if r.passed else [])
        cls = " ".join(c for c, on in (("applied", r.applied), ("committed", r.committed),
                                       ("passed", r.passed)) if on)
        items.append(f'<li class="{cls or "ahead"}"><span class="rung-pct">{r.percentage} %</span> '
                     f'<span class="rung-name">{esc(r.name)}</span>'
                     f'{f" <span class=muted>soak {esc(r.soak)}</span>" if r.soak else ""}'
                     f'{"".join(f" <em>{esc(t)}</em>" for t in tags)}</li>')
    return _section("Ladder", f'<ol class="ladder">{"".join(items)}</ol>')


def _soak(v: FlagView) -> str:
    s, st = v.soak, v.status
    if s is None:
        return ""
    if s.required is None or s.served is None:
        return _section("Soak", f'<p>{esc(s.description)}</p>')
    served, required = int(s.served.total_seconds()), int(s.required.total_seconds())
    bar = (f'<progress max="{required}" value="{min(served, required)}">'
           f'{round(100 * (s.fraction or 0))} %</progress>')
    text = (f'<p><span data-field="time_in_step">{esc(st.time_in_step)}</span> served in step '
            f'{esc(s.step)} (soak {esc(format_duration(s.required))}); '
            f'<strong><span data-field="soak_remaining">{esc(st.soak_remaining)}</span> '
            f'remaining</strong>')
    if s.ends:
        text += f"; ends {when(s.ends, v.at)}"
    return _section("Soak", bar + text + "</p>", "soak-done" if not s.remaining else "")


def _gate_table(g: GateView, now: datetime) -> str:
    window = (f"metrics from {when(g.window_start, now)} to {when(g.window_end, now)}"
              if g.window_start and g.window_end else f"as of {when(g.at, now)}")
    move = f"{g.step} → {g.next_step}" if g.next_step else g.step
    vs_base = lambda r: [r.baseline or "—"] if g.baseline else []   # as the PR comment
    rows = [[r.metric, r.canary, r.control, r.delta, *vs_base(r), r.target, r.threshold,
             mark(r.verdict), f"<code>{esc(r.code)}</code>" if r.code else "—"] for r in g.rows]
    extra = 1 if g.baseline else 0
    table = html_table(["Metric", "Canary", "Control", "Δ",
                        *([BASELINE_COLUMN] if g.baseline else []), "Target", "Threshold",
                        "Verdict", "Code"], rows, markup=(6 + extra, 7 + extra), cls="gate")
    reasons = "".join(f"<li>{mark(r.verdict)} <strong>{esc(r.metric)}</strong>: {esc(r.reason)}"
                      f"{f' <code>{esc(r.code)}</code>' if r.code else ''}</li>" for r in g.rows)
    omitted = f'<p class="muted">Not judged: {esc("; ".join(g.omitted))}</p>' if g.omitted else ""
    base = f'<p class="muted">{esc(g.baseline)}</p>' if g.baseline else ""
    return (f'<p>{mark(g.verdict, g.verdict.upper())} at {esc(move)}; {window}</p>' + base +
            f'<div class="scroll">{table}</div>'
            f'<details><summary>Reasons</summary><ul class="reasons">{reasons}</ul></details>'
            + omitted)


def _gate(v: FlagView) -> str:
    if v.gate is None:
        text = esc(v.gate_error or "not judged")
        if v.abort is not None and v.abort.standing:
            return _section("Gate", f'<p class="muted">{text}</p>')
        return _section("Gate", f'<p>{mark("error", "unavailable")} {text}</p>')
    return _section("Gate (as the pull-request comment)", _gate_table(v.gate, v.at))


def _abort(v: FlagView) -> str:
    a = v.abort
    if a is None:
        return ""
    e = a.event
    head = (f'<p role="alert">{mark("rollback", "rolled back")} {pct(e.from_pct)} → 0 % '
            f'{when(e.at, v.at)}, {esc(a.severity)}, by {esc(e.actor or "?")}; revision '
            f'<code>{esc(e.revision[:12] or "?")}</code> '
            + ("<strong>stands: reconcile will not re-apply it until a new commit or "
               "<code>rollout retry</code></strong>" if a.standing else
               "(cleared since: a new commit or a retry)") + "</p>")
    link = (f'<p class="pr">Revert pull request: <a href="{esc(a.revert_pr)}" rel="noreferrer">'
            f'{esc(a.revert_pr)}</a></p>' if a.revert_pr else
            '<p class="pr">Revert pull request: <strong>none yet</strong></p>')
    rows = [[d.channel, mark(d.status), d.attempts,
             f'<a href="{esc(d.link)}" rel="noreferrer">{esc(d.detail)}</a>' if d.link
             else esc(d.detail)] for d in a.deliveries]
    deliveries = (f'<div class="scroll">{html_table(["Channel", "State", "Attempts", "Detail"], rows, markup=(1, 3), cls="deliveries")}</div>'
                  if rows else "<p>No notification recorded for it.</p>")
    gate = ("<h4>The verdict that rolled it back</h4>" + _gate_table(a.gate, v.at)) if a.gate else ""
    return _section("Abort", head + _reasons(e.reasons) + link + "<h4>Notifications</h4>"
                    + deliveries + gate, "abort" if a.standing else "")


def _hold(v: FlagView) -> str:
    h = v.hold
    if h is None or v.status.in_sync:
        return ""
    return _section("Hold", f'<p>{mark("hold", h.kind)} {pct(h.from_pct)} → {pct(h.to_pct)} '
                            f'{when(h.at, v.at)}</p>' + _reasons(h.reasons), "hold")


def _guard(v: FlagView) -> str:
    g = v.guard
    if g is None:
        return ""
    if g.at is None:
        text = (f"No evaluation by this instance yet ({esc(g.role)}"
                + ("; the leader runs the timed loop" if g.role == "standby" else "") + ").")
    else:
        outcome = (mark("error", "failed") + f" {esc(g.error)}" if g.error else
                   (mark("error", f"{g.action}, blind") if g.blind else esc(g.action or
                    "not part of it")))
        text = (f'Last evaluation <strong data-field="guard_age">{esc(_age(g.age_seconds))}'
                f'</strong> ({esc(g.trigger)}, this instance: {esc(g.role)}): {outcome}')
    if g.role == "standby" and g.leader:
        text += (f" The leader, <code>{esc(g.leader)}</code>, renewed its lease "
                 f"{esc(_age(g.leader_renewed_seconds))} and evaluates every live flag after "
                 f"each renewal.")
    why = f"<details><summary>Reasons</summary>{_reasons(g.reasons)}</details>" if g.reasons else ""
    return _section("Guard", f"<p>{text}</p>{why}")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{format_duration(timedelta(seconds=seconds))} ago"


def _chart(v: FlagView) -> str:
    if v.chart is None:
        return _section("Timeline", f'<p class="muted">{esc(v.chart_note or "no chart")}</p>')
    return _section("Timeline", f'<figure class="chart">{v.chart.strip()}<figcaption>Applied %, '
                                f'canary (orange) and control (blue) error rate and p95, with '
                                f'rollbacks (▼) and holds (●).</figcaption></figure>')


def _history_row(e: Event, now: datetime) -> list:
    reasons = "; ".join(dict.fromkeys(e.reasons))
    if len(reasons) > REASONS_IN_HISTORY:
        reasons = reasons[:REASONS_IN_HISTORY - 1] + "…"
    move = "—" if e.from_pct is None and e.to_pct is None else f"{pct(e.from_pct)} → {pct(e.to_pct)}"
    return [when(e.at, now), f"{KINDS.get(e.kind, '•')} {esc(e.kind)}", esc(move), esc(reasons),
            esc(e.actor)]


def _history(v: FlagView) -> str:
    if not v.history:
        return _section("History", "<p>No history yet.</p>")
    rows = [_history_row(e, v.at) for e in v.history]
    table = html_table(["When", "Kind", "Move", "Reasons", "By"], rows, markup=range(5),
                       cls="history")
    more = v.history_total - len(v.history)
    note = f'<p class="muted">{more} older rows: <code>rollout history {esc(v.flag)}</code></p>' \
        if more > 0 else ""
    return _section(f"History (last {len(v.history)})", f'<div class="scroll">{table}</div>{note}')


def card(v: FlagView) -> str:
    parts = [_headline(v), _abort(v), _hold(v), _ladder(v), _soak(v), _gate(v), _guard(v),
             _chart(v), _history(v)]
    return (f'<article class="card c-{esc(v.state.replace(" ", "-"))}" id="flag-{esc(v.flag)}">'
            + "".join(parts) + "</article>")


# -- whole pages -------------------------------------------------------------------------------

def document(title: str, body: str, *, refresh: bool = True) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH}">' if refresh else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'{meta}<title>{esc(title)}</title><link rel="icon" href="data:,">'
            f'<link rel="stylesheet" href="{STYLESHEET}"></head><body>{body}</body></html>\n')


def page(title: str, views, *, at: datetime, store: str, service: str, json_link: str) -> str:
    head = (f'<header class="top"><h1><a href="/">Rollout status</a></h1>'
            f'<p class="muted">as of {when(at, at)} · store <code>{esc(store)}</code> · '
            f'{esc(service)}</p></header>')
    cards = "".join(card(v) for v in views) or "<p>No flag files.</p>"
    foot = (f'<footer class="muted">Read-only; reloads every {REFRESH} s. All times UTC. '
            f'JSON: <a href="{esc(json_link)}">{esc(json_link)}</a>.</footer>')
    return document(title, f"{head}<main>{cards}</main>{foot}")


def error_page(status: int, message: str) -> str:
    return document(f"{status}: rollout status",
                    f'<main><article class="card"><h1>{status}</h1><p role="alert">{esc(message)}'
                    f'</p><p><a href="/">All flags</a></p></article></main>', refresh=status >= 500)

"""The rollout timeline as a hand-written SVG: three panels on one time axis.

    1. the applied percentage, as steps, with rollbacks, holds and retries marked;
    2. the error rate per cohort, with the catalog's target and rollback lines;
    3. the p95 response time per cohort, with the same.
The report's own window is shaded. A bucket with fewer than MIN_POINT_REQUESTS requests
of a cohort leaves a gap: one error in five requests would draw a 20 % spike. Pure:
returns the SVG text.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from xml.sax.saxutils import escape

from rollout.core.reports.names import ERROR_RATE, P95
from rollout.core.reports.timeline import Timeline
from rollout.core.state import format_utc
from rollout.core.units import format_axis

W, LEFT, RIGHT, TOP = 960, 70, 150, 54
PANEL_GAP = 26
MIN_POINT_REQUESTS = 10
PANELS = (("pct", 110), (ERROR_RATE, 140), (P95, 140))
COLOURS = {"canary": "#d9480f", "control": "#1c7ed6", "pct": "#2b8a3e", "target": "#2f9e44",
           "rollback": "#c92a2a", "hold": "#f08c00", "retry": "#5f3dc4", "grid": "#e9ecef",
           "text": "#212529", "muted": "#868e96", "window": "#f1f3f5"}
TICKS = [timedelta(hours=h) for h in (1, 2, 3, 6, 12, 24, 48, 72, 168, 336)]


def _bucket_text(buckets) -> str:
    if not buckets:
        return "—"
    minutes = int((buckets[0].end - buckets[0].start).total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def _nice_max(v: float) -> float:
    for e in range(-3, 8):
        for m in (1, 2, 2.5, 5):
            if m * 10 ** e >= v:
                return m * 10 ** e
    return v


def render(flag: str, tl: Timeline, buckets: list, catalog, start: datetime, end: datetime,
           window: tuple[datetime, datetime] | None = None, title: str = "") -> str:
    height = TOP + sum(h for _, h in PANELS) + PANEL_GAP * (len(PANELS) - 1) + 56
    span = max((end - start).total_seconds(), 1.0)
    plot_w = W - LEFT - RIGHT
    x = lambda t: LEFT + plot_w * min(max((t - start).total_seconds() / span, 0.0), 1.0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
           f'viewBox="0 0 {W} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{W}" height="{height}" fill="white"/>',
           f'<text x="{LEFT}" y="22" font-size="16" font-weight="bold" fill="{COLOURS["text"]}">'
           f'{escape(title or f"{flag}: rollout timeline")}</text>',
           f'<text x="{LEFT}" y="40" fill="{COLOURS["muted"]}">{escape(format_utc(start))} to '
           f'{escape(format_utc(end))}; shaded: the report window; buckets of {_bucket_text(buckets)}</text>']
    tops, y0 = {}, TOP
    for name, h in PANELS:
        tops[name] = (y0, h)
        y0 += h + PANEL_GAP
    bottom = y0 - PANEL_GAP
    if window:
        wx0, wx1 = x(window[0]), x(window[1])
        out.append(f'<rect x="{wx0:.1f}" y="{TOP}" width="{max(wx1 - wx0, 1):.1f}" '
                   f'height="{bottom - TOP}" fill="{COLOURS["window"]}"/>')
    out += _time_axis(x, start, end, span, bottom)
    out += _pct_panel(tl, x, start, end, *tops["pct"])
    for metric in (ERROR_RATE, P95):
        out += _metric_panel(catalog, metric, buckets, x, *tops[metric])
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _time_axis(x, start, end, span, bottom) -> list[str]:
    step = next((t for t in TICKS if span / t.total_seconds() <= 8), TICKS[-1])
    epoch = datetime(1970, 1, 1, tzinfo=start.tzinfo)
    t = epoch + -(-(start - epoch) // step) * step
    fmt = "%m-%d" if step >= timedelta(days=1) else "%m-%d %H:%M"
    out = []
    while t <= end:
        xi = x(t)
        out.append(f'<line x1="{xi:.1f}" y1="{TOP}" x2="{xi:.1f}" y2="{bottom}" '
                   f'stroke="{COLOURS["grid"]}"/>')
        out.append(f'<text x="{xi:.1f}" y="{bottom + 16}" text-anchor="middle" '
                   f'fill="{COLOURS["muted"]}">{t.strftime(fmt)}</text>')
        t += step
    out.append(f'<text x="{LEFT + (W - LEFT - RIGHT) / 2:.0f}" y="{bottom + 34}" text-anchor="middle" '
               f'fill="{COLOURS["muted"]}">time (UTC)</text>')
    return out


def _frame(y, h, label) -> list[str]:
    return [f'<rect x="{LEFT}" y="{y}" width="{W - LEFT - RIGHT}" height="{h}" fill="none" '
            f'stroke="#ced4da"/>',
            f'<text x="{LEFT - 52}" y="{y + h / 2:.0f}" transform="rotate(-90 {LEFT - 52} {y + h / 2:.0f})" '
            f'text-anchor="middle" font-weight="bold" fill="{COLOURS["text"]}">{escape(label)}</text>']


def _pct_panel(tl: Timeline, x, start, end, y, h) -> list[str]:
    out = _frame(y, h, "rollout %")
    yv = lambda p: y + h - h * p / 100.0
    for p in (0, 25, 50, 75, 100):
        out.append(f'<text x="{LEFT - 6}" y="{yv(p) + 4:.1f}" text-anchor="end" '
                   f'fill="{COLOURS["muted"]}">{p}</text>')
    pts, pct = [], 0
    for period in tl.periods:
        if period.start > end:
            break
        t = max(period.start, start)
        pts += [(x(t), yv(pct)), (x(t), yv(period.pct))]
        pct = period.pct
    pts.append((x(end), yv(pct)))
    if pts:
        out.append(f'<polyline fill="none" stroke="{COLOURS["pct"]}" stroke-width="2.5" points="'
                   + " ".join(f"{a:.1f},{b:.1f}" for a, b in [(x(start), yv(0))] + pts) + '"/>')
    for period in tl.periods:
        if start <= period.start <= end and period.pct > 0:
            out.append(f'<text x="{x(period.start) + 4:.1f}" y="{yv(period.pct) - 5:.1f}" '
                       f'fill="{COLOURS["pct"]}">{period.pct}%</text>')
    for e in tl.rollbacks:
        if start <= e.at <= end:
            xi = x(e.at)
            out.append(f'<path d="M{xi - 6:.1f},{y + 4} L{xi + 6:.1f},{y + 4} L{xi:.1f},{y + 14} Z" '
                       f'fill="{COLOURS["rollback"]}"><title>{escape(format_utc(e.at))} rollback: '
                       f'{escape("; ".join(e.reasons))}</title></path>')
            out.append(f'<line x1="{xi:.1f}" y1="{y}" x2="{xi:.1f}" y2="{y + h}" '
                       f'stroke="{COLOURS["rollback"]}" stroke-dasharray="3,3"/>')
    for e in tl.holds:
        if start <= e.at <= end:
            out.append(f'<circle cx="{x(e.at):.1f}" cy="{y + h - 6}" r="3.5" fill="{COLOURS["hold"]}">'
                       f'<title>{escape(format_utc(e.at))} {e.kind}: {escape("; ".join(e.reasons))}</title></circle>')
    for e in tl.retries:
        if start <= e.at <= end:
            out.append(f'<circle cx="{x(e.at):.1f}" cy="{y + h - 6}" r="3.5" fill="{COLOURS["retry"]}">'
                       f'<title>{escape(format_utc(e.at))} retry: {escape("; ".join(e.reasons))}</title></circle>')
    lx = W - RIGHT + 12
    for i, (colour, label, shape) in enumerate(((COLOURS["pct"], "applied %", "line"),
                                                (COLOURS["rollback"], "rollback", "tri"),
                                                (COLOURS["hold"], "held / refused", "dot"),
                                                (COLOURS["retry"], "retry", "dot"))):
        ly = y + 12 + 18 * i
        if shape == "line":
            out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 16}" y2="{ly - 4}" stroke="{colour}" '
                       f'stroke-width="2.5"/>')
        elif shape == "tri":
            out.append(f'<path d="M{lx + 2},{ly - 9} L{lx + 14},{ly - 9} L{lx + 8},{ly} Z" fill="{colour}"/>')
        else:
            out.append(f'<circle cx="{lx + 8}" cy="{ly - 4}" r="3.5" fill="{colour}"/>')
        out.append(f'<text x="{lx + 22}" y="{ly}" fill="{COLOURS["text"]}">{label}</text>')
    return out


def _metric_panel(catalog, metric: str, buckets: list, x, y, h) -> list[str]:
    m = catalog.metrics[metric]
    th = m.thresholds
    lines = [(k, th[k].value) for k in ("target", "rollback") if th.get(k) and th[k].op != ".."]
    seen = [b.cohort(c).values.get(metric) for b in buckets for c in ("canary", "control")]
    top = _nice_max(max([v for v in seen if v is not None] + [v * 1.25 for _, v in lines] + [1e-9]))
    yv = lambda v: y + h - h * min(v, top) / top
    unit = "s" if m.unit == "ms" else "%"
    out = _frame(y, h, f"{'p95' if metric == P95 else 'error rate'} ({unit})")
    for i in range(5):
        v = top * i / 4
        out.append(f'<text x="{LEFT - 6}" y="{yv(v) + 4:.1f}" text-anchor="end" fill="{COLOURS["muted"]}">'
                   f'{(v / 1000 if m.unit == "ms" else v):g}</text>')
    for kind, v in lines:
        out.append(f'<line x1="{LEFT}" y1="{yv(v):.1f}" x2="{W - RIGHT}" y2="{yv(v):.1f}" '
                   f'stroke="{COLOURS[kind]}" stroke-dasharray="6,4"/>')
        out.append(f'<text x="{W - RIGHT + 4}" y="{yv(v) + 4:.1f}" fill="{COLOURS[kind]}">'
                   f'{kind} {format_axis(v, m.unit)}</text>')
    for cohort in ("control", "canary"):
        runs, run = [], []
        for b in buckets:
            c = b.cohort(cohort)
            v = c.values.get(metric) if c.requests >= MIN_POINT_REQUESTS else None
            if v is None:
                if run:
                    runs.append(run)
                run = []
                continue
            run.append((x(b.start + (b.end - b.start) / 2), yv(v)))
        if run:
            runs.append(run)
        for r in runs:
            if len(r) == 1:
                out.append(f'<circle cx="{r[0][0]:.1f}" cy="{r[0][1]:.1f}" r="2" fill="{COLOURS[cohort]}"/>')
            else:
                out.append(f'<polyline fill="none" stroke="{COLOURS[cohort]}" stroke-width="1.6" points="'
                           + " ".join(f"{a:.1f},{b:.1f}" for a, b in r) + '"/>')
    if metric == ERROR_RATE:
        lx = W - RIGHT + 12
        for i, cohort in enumerate(("canary", "control")):
            ly = y + 14 + 18 * i
            out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 16}" y2="{ly - 4}" '
                       f'stroke="{COLOURS[cohort]}" stroke-width="2"/>')
            out.append(f'<text x="{lx + 22}" y="{ly}" fill="{COLOURS["text"]}">{cohort}</text>')
    return out

"""How a number is written, per unit: the catalog's (percent, ms, usd, count) and the
reports' own (uptime: a percentage to three decimals; text). One place, so the gate, the
pull-request comment, the reports, the chart and `rollout verify` write 5,000 ms alike.

    format_value      a measured value: 0.51 %, 3,172 ms, $0.0181, 2,927
    format_delta      a difference, signed: −0.03 pts, +445 ms
    format_usd_total  a sum of money: $1,234.56
    format_threshold  a catalog condition for people: < 5,000 ms, ≥ 99.9 %, > 35 %
    format_rule       a catalog condition as written, with its unit: < 5000 ms, < 2 %
    format_axis       a chart label: 5 s, 2 %
"""
from __future__ import annotations

NO_VALUE = "—"
_OPERATORS = {"<=": "≤", ">=": "≥"}       # as people write them


def format_value(v, unit: str | None) -> str:
    if v is None:
        return NO_VALUE
    if unit == "percent":
        return f"{v:.2f} %"
    if unit == "uptime":                # 99.995 must not print as 100.00 against a 99.9 SLA
        return f"{v:.3f} %"
    if unit == "ms":
        return f"{v:,.0f} ms"
    if unit == "usd":
        return f"${v:.4f}"
    if unit == "count":
        return f"{v:,}" if isinstance(v, int) else f"{v:,g}"
    if unit == "text":
        return str(v)
    return f"{v:g}"


def format_delta(v: float | None, unit: str | None) -> str:
    if v is None:
        return NO_VALUE
    sign = "+" if v >= 0 else "−"
    if unit == "percent":
        return f"{sign}{abs(v):.2f} pts"
    if unit == "ms":
        return f"{sign}{abs(v):,.0f} ms"
    if unit == "usd":
        return f"{sign}${abs(v):.4f}"
    return f"{sign}{abs(v):g}"


def format_usd_total(v: float | None) -> str:
    return NO_VALUE if v is None else f"${v:,.2f}"


def _number(v: float, unit: str | None) -> str:
    if unit in ("percent", "uptime"):
        return f"{v:g} %"
    if unit == "ms":
        return f"{v:,.0f} ms"
    if unit == "usd":
        return f"${v:g}"
    return f"{v:g}"


def format_threshold(cond, unit: str | None) -> str:
    """A catalog Condition for people: '< 5000' in ms is '< 5,000 ms'. A band stays as
    the catalog writes it ('2..5')."""
    if cond is None:
        return NO_VALUE
    if cond.op == "..":
        return str(cond)
    return f"{_OPERATORS.get(cond.op, cond.op)} {_number(cond.value, unit)}"


def format_rule(cond, unit: str | None) -> str:
    """A catalog Condition as the catalog writes it, with its unit: '< 5000 ms', '< 2 %'."""
    return f"{cond}{' %' if unit == 'percent' else f' {unit}'}"


def format_axis(v: float, unit: str | None) -> str:
    """A chart's threshold label: milliseconds in seconds ('10 s'), percentages ('5 %')."""
    if unit == "ms":
        return f"{v / 1000:g} s"
    if unit == "percent":
        return f"{v:g} %"
    return f"{v:g}"

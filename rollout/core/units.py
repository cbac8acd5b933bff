"""How a number is written, per unit: the catalog's (percent, ms, usd, count) and the
reports' own (uptime: a percentage to three decimals; text). One row per unit, so the
gate, the pull-request comment, the reports, the chart and `rollout verify` write 5,000 ms
alike.

    format_value      a measured value: 0.51 %, 3,172 ms, $0.0181, 2,927
    format_delta      a difference, signed: −0.03 pts, +445 ms
    format_usd_total  a sum of money: $1,234.56
    format_threshold  a catalog condition for people: < 5,000 ms, ≥ 99.9 %, > 35 %
    format_rule       a catalog condition as written, with its unit: < 5000 ms, < 2 %
    format_axis       a chart label: 5 s, 2 %
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

NO_VALUE = "—"
_OPERATORS = {"<=": "≤", ">=": "≥"}       # as people write them

Format = Callable[[float], str]
_plain: Format = lambda v: f"{v:g}"


@dataclass(frozen=True)
class Unit:
    value: Format                   # a measured value
    delta: Format = _plain          # the size of a difference (the sign is added)
    limit: Format = _plain          # the number in a threshold
    axis: Format = _plain           # a chart label


UNITS = {
    "percent": Unit(lambda v: f"{v:.2f} %", lambda v: f"{v:.2f} pts", lambda v: f"{v:g} %",
                    lambda v: f"{v:g} %"),
    # 99.995 must not print as 100.00 against a 99.9 SLA
    "uptime": Unit(lambda v: f"{v:.3f} %", limit=lambda v: f"{v:g} %"),
    "ms": Unit(lambda v: f"{v:,.0f} ms", lambda v: f"{v:,.0f} ms", lambda v: f"{v:,.0f} ms",
               lambda v: f"{v / 1000:g} s"),
    "usd": Unit(lambda v: f"${v:.4f}", lambda v: f"${v:.4f}", lambda v: f"${v:g}"),
    "count": Unit(lambda v: f"{v:,}" if isinstance(v, int) else f"{v:,g}"),
    "text": Unit(str),
}
PLAIN = Unit(_plain)                # no unit, or one the catalog does not know


def _unit(unit: str | None) -> Unit:
    return UNITS.get(unit, PLAIN)


def format_value(v, unit: str | None) -> str:
    return NO_VALUE if v is None else _unit(unit).value(v)


def format_delta(v: float | None, unit: str | None) -> str:
    if v is None:
        return NO_VALUE
    return ("+" if v >= 0 else "−") + _unit(unit).delta(abs(v))


def format_usd_total(v: float | None) -> str:
    return NO_VALUE if v is None else f"${v:,.2f}"


def format_threshold(cond, unit: str | None) -> str:
    """A catalog Condition for people: '< 5000' in ms is '< 5,000 ms'. A band stays as
    the catalog writes it ('2..5')."""
    if cond is None:
        return NO_VALUE
    if cond.op == "..":
        return str(cond)
    return f"{_OPERATORS.get(cond.op, cond.op)} {_unit(unit).limit(cond.value)}"


def format_rule(cond, unit: str | None) -> str:
    """A catalog Condition as the catalog writes it, with its unit: '< 5000 ms', '< 2 %'."""
    return f"{cond}{' %' if unit == 'percent' else f' {unit}'}"


def format_axis(v: float, unit: str | None) -> str:
    """A chart's threshold label: milliseconds in seconds ('10 s'), percentages ('5 %')."""
    return _unit(unit).axis(v)

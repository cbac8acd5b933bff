"""SLA validation (AC#9, seeds 002 "SLA Targets" and 003 "SLA Validation"): uptime, the
share of requests under 5 s and 10 s, p95, p99 and the error rate, each met or not,
then PASS / FAIL."""
from __future__ import annotations

from dataclasses import dataclass

from rollout.core.catalog import Catalog, Condition
from rollout.core.reports.markdown import MARK, head, lines_table, target_text
from rollout.core.reports.model import Header, Inputs, Line, all_met, line, lines_json, verdict_word
from rollout.core.reports.names import ERROR_RATE, P95
from rollout.core.reports.summaries import Outage, Summary
from rollout.core.state import format_utc
from rollout.core.units import format_axis, format_rule, format_value

# The SLA of story 2.14 (002 "SLA Targets (AC#9)"). The catalog has no uptime or p99
# metric (the gate never needs them), so these two live here; the rest comes from it.
SLA_UPTIME = Condition.parse(">= 99.9")
SLA_P99 = (99, Condition.parse("< 10000"))       # percentile, condition on it (ms)


def latency_limits(catalog: Catalog) -> tuple[float, ...]:
    """The latency limits whose "share of requests under" the reports need (5 s, 10 s)."""
    return (catalog.metrics[P95].thresholds["target"].value, SLA_P99[1].value)


def sla_lines(catalog: Catalog, s: Summary) -> tuple[Line, ...]:
    can = s.cohort("canary")
    p95 = catalog.metrics[P95]
    pct95, limit95 = p95.aggregate["percentile"]["p"], p95.thresholds["target"]
    pct99, cond99 = SLA_P99
    err = catalog.metrics[ERROR_RATE].thresholds.get("target")
    up = s.uptime
    outages = up.outages
    note = up.method + (f"; {len(outages)} outage(s), {up.down_minutes} min down" if outages else "")
    return (
        line("uptime", "Uptime", up.percent, "uptime", SLA_UPTIME, source="002 SLA (AC#9)", note=note),
        line("under_5s", f"Requests under {format_axis(limit95.value, 'ms')}",
             can.under.get(limit95.value), "percent", Condition(">=", pct95),
             source=f"catalog {P95}: p{pct95:g} {format_rule(limit95, 'ms')}",
             note=f"{can.requests:,} canary requests"),
        line("under_10s", f"Requests under {format_axis(cond99.value, 'ms')}",
             can.under.get(cond99.value), "percent", Condition(">=", pct99),
             source=f"002 SLA: p{pct99} {format_rule(cond99, 'ms')}"),
        line("p95", f"Response time p{pct95:g}", can.value(P95), "ms", limit95,
             source=f"catalog {P95} target (AC#4)"),
        line("p99", f"Response time p{pct99}", can.p99, "ms", cond99, source="002 SLA"),
        line("error_rate", "Error rate", can.value(ERROR_RATE), "percent", err,
             source=f"catalog {ERROR_RATE} target (AC#6)"),
    )


@dataclass(frozen=True)
class SlaReport:
    header: Header
    cohort: str
    lines: tuple[Line, ...]
    outages: tuple[Outage, ...]
    verdict: str                        # PASS | FAIL | INCONCLUSIVE

    def to_json(self) -> dict:
        return {**self.header.to_json(), "cohort": self.cohort, "lines": lines_json(self.lines),
                "outages": [{"start": o.start.isoformat(), "end": o.end.isoformat(),
                             "minutes": o.minutes} for o in self.outages],
                "verdict": self.verdict}

    def to_markdown(self, chart: str | None = None) -> str:
        out = head(self.header, chart) + [f"Judged on the {self.cohort}.", ""] \
            + lines_table(self.lines) + [""]
        for l in self.lines:
            out.append(f"{MARK[l.met]} {l.label}: {format_value(l.value, l.unit)} "
                       f"(target: {target_text(l.target, l.unit)})  ")
        mark = {"PASS": "✅", "FAIL": "❌"}.get(self.verdict, "⚠️")
        out += ["", f"**{mark} SLA COMPLIANCE: {self.verdict}**"]
        if self.outages:
            out += ["", "Outages (minutes without a successful request):", ""]
            out += [f"- {format_utc(o.start)}: {o.minutes} min" for o in self.outages]
        return "\n".join(out) + "\n"


def build(c: Inputs) -> SlaReport:
    lines = sla_lines(c.catalog, c.main)
    return SlaReport(c.header("SLA validation (AC#9)"), "canary (skill-enhanced requests)", lines,
                     tuple(c.main.uptime.outages or ()),
                     verdict_word(all_met(lines), "PASS", "FAIL"))

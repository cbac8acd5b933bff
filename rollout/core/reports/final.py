"""The playbook's final validation checklist (003, Day 13): each criterion decided from
data; the two only people can judge (user feedback, team confidence) stay open."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rollout.core.catalog import PAGING, Catalog, Condition
from rollout.core.reports.markdown import MET, head, lines_table
from rollout.core.reports.model import Header, Inputs, Line, all_met, line, lines_json, savings
from rollout.core.reports.names import ERROR_RATE, P95, SAVINGS
from rollout.core.reports.sla import sla_lines
from rollout.core.reports.timeline import severity
from rollout.core.rules import soak_status
from rollout.core.state import ABORTED, format_duration, format_utc
from rollout.core.units import format_rule, format_value

PEOPLE = "for people to decide"
ALL_MET = "ALL DATA CRITERIA MET"


@dataclass(frozen=True)
class Consistency:
    """How many buckets with enough canary requests met a condition."""

    buckets: int
    judged: int
    missed: int
    first_miss: datetime | None
    worst: float | None


def consistently(catalog: Catalog, metric: str, buckets, cond: Condition) -> Consistency:
    judged = [b for b in buckets if b.cohort("canary").requests >= catalog.min_requests
              and b.cohort("canary").values.get(metric) is not None]
    bad = [b for b in judged if not cond.met(b.cohort("canary").values[metric])]
    return Consistency(len(buckets), len(judged), len(bad), bad[0].start if bad else None,
                       (max if catalog.metrics[metric].worse == "higher" else min)(
                           (b.cohort("canary").values[metric] for b in judged), default=None))


@dataclass(frozen=True)
class FinalReport:
    header: Header
    items: tuple[Line, ...]
    sla: tuple[Line, ...]           # the SLA lines behind the SLA item
    baseline_source: str
    verdict: str                    # ALL DATA CRITERIA MET | NOT MET | INCONCLUSIVE
    failed: tuple[str, ...]         # labels of the items not met

    def to_json(self) -> dict:
        return {**self.header.to_json(), "items": lines_json(self.items),
                "sla": lines_json(self.sla), "baseline_source": self.baseline_source,
                "verdict": self.verdict, "failed": list(self.failed)}

    def to_markdown(self, chart: str | None = None) -> str:
        out = head(self.header, chart, self.baseline_source)
        for l in self.items:
            shown = "" if l.value is None else f": {format_value(l.value, l.unit)}"
            status = "" if l.met is None and l.note == PEOPLE else f" — {MET[l.met]}"
            out.append(f"- [{'x' if l.met else ' '}] {l.label}{shown}{status}"
                       + (f" ({l.note})" if l.note else ""))
        out += ["", f"**Verdict: {self.verdict}**", ""]
        if self.verdict == ALL_MET:
            out.append("Every criterion the data can decide is met: declare victory once people "
                       "confirm user feedback and team confidence (playbook, Day 13).")
        elif self.failed:
            out.append("Not met: " + ", ".join(self.failed) + ". Playbook: assess which metric "
                       "failed, decide whether it is fixable without rollback; if not fixable "
                       "quickly, ROLLBACK.")
        out += ["", "SLA lines behind the SLA criterion:", ""] + lines_table(self.sla)
        return "\n".join(out) + "\n"


def _soak_item(c: Inputs) -> Line:
    top, tl = c.state.ladder.steps[-1], c.tl
    at_top = tl.current is not None and tl.current.pct == top.percentage
    soak = soak_status(c.state, tl.pct, c.history, c.plan.at)
    return line("soak", f"{format_duration(top.soak) if top.soak else ''} of intensive "
                        f"monitoring complete".strip(), None, "text", None,
                met=at_top and soak.done,
                note=soak.describe() if at_top else f"applied {tl.pct}% ({c.step_of(tl.pct)}), "
                                                    f"not {top.percentage}%")


def _consistent_item(c: Inputs, key: str, metric: str, label: str, ac: str) -> Line:
    cat, bucket = c.catalog, c.plan.checks.bucket
    cond = c.target(metric)
    value = c.main.cohort("canary").value(metric)
    cons = consistently(cat, metric, c.data.checks, cond)
    met = None if value is None or not cons.judged else (cond.met(value) and cons.missed == 0)
    note = (f"{cons.judged - cons.missed} of {cons.judged} {format_duration(bucket)} buckets met it"
            + (f"; first miss {format_utc(cons.first_miss)}" if cons.first_miss else "")
            + (f" ({cons.buckets - cons.judged} with fewer than {cat.min_requests} requests not "
               f"judged)" if cons.buckets > cons.judged else ""))
    unit = cat.metrics[metric].unit
    return line(key, f"{label} {format_rule(cond, unit)} consistently ({ac})", value, unit, cond,
                met=met, note=note, source=f"catalog {metric}")


def _incidents_item(c: Inputs) -> Line:
    from rollout.core.gate import ROLLBACK

    w = c.plan.main
    critical = [e for e in c.tl.rollbacks if w.start <= e.at <= w.end and e.kind == ABORTED
                and severity(e) in PAGING]          # 003: "No critical incidents (SEV1/SEV2)"
    breaches = [k.reason for k in (c.gate.checks if c.gate else ()) if k.verdict == ROLLBACK]
    return line("incidents", "No critical incidents (SEV1/SEV2)", len(critical) + len(breaches),
                "count", None, met=not critical and not breaches,
                note="; ".join([f"{severity(e)} rollback at {format_utc(e.at)}: " + "; ".join(e.reasons)
                                for e in critical] + breaches)
                or "no abort in the window, no rollback criterion met")


def build(c: Inputs) -> FinalReport:
    base, base_note = c.baseline()
    sla = sla_lines(c.catalog, c.main)
    failed_sla = [l.label for l in sla if l.met is False]
    items = (
        _soak_item(c),
        _consistent_item(c, "p95", P95, "Response time p95", "AC#4"),
        _consistent_item(c, "error_rate", ERROR_RATE, "Error rate", "AC#6"),
        line("cost_savings", "Cost savings validated (AC#5)",
             savings(c.catalog, c.main.cohort("canary"), base), "percent",
             c.catalog.metrics[SAVINGS].thresholds["target"], note=f"baseline: {base_note}",
             source=f"catalog {SAVINGS}"),
        line("sla", "SLA compliance validated (AC#9)", None, "text", None, met=all_met(sla),
             note=("all SLA lines met" if all_met(sla) else
                   "not met: " + ", ".join(failed_sla) if failed_sla
                   else "some SLA lines have no data")),
        _incidents_item(c),
        line("feedback", "User feedback positive or neutral", None, "text", None, note=PEOPLE),
        line("confidence", "Team confidence high", None, "text", None, note=PEOPLE),
    )
    data_items = items[:-2]
    met = all_met(data_items)
    return FinalReport(c.header("Final validation checklist"), items, sla, base_note,
                       ALL_MET if met else "NOT MET" if met is False else "INCONCLUSIVE",
                       tuple(l.label for l in data_items if l.met is False))

"""The post-deployment review written into the seed's own template.

rollout/data/post_deployment_review.md is seed 000 with `{{key}}blank{{/}}` markers: each
marker is replaced by the value of `key` when the data knows it, or keeps the seed's blank
(with no values at all the seed comes back character for character). The template's own
text carries the units, so the numbers here are bare, in the template's precision.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from rollout.core.reports.review import Phase, ReviewReport
from rollout.core.state import format_duration, format_utc
from rollout.core.tables import md_escape
from rollout.core.units import format_usd_total as money

PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}(.*?)\{\{/\}\}", re.S)
ALONE = re.compile(r"^\{\{(\w+)\}\}\{\{/\}\}\n", re.M)
FAMILIES = ("haiku", "sonnet", "opus")
DATES = ["start_date", "canary_done", "beta_done", "full_date"]


def fill(template: str, values: dict) -> str:
    """Replace each {{key}}blank{{/}} by values[key], or keep the blank when it is None.
    A line that is only an empty placeholder disappears."""
    text = ALONE.sub(lambda m: f"{values[m.group(1)]}\n" if values.get(m.group(1)) else "", template)
    return PLACEHOLDER.sub(lambda m: m.group(2) if values.get(m.group(1)) is None
                           else str(values[m.group(1)]), text)


def checkbox(options: list[str], chosen) -> str:
    chosen = chosen if isinstance(chosen, (set, list, tuple)) else {chosen}
    return " ".join(f"{'☑' if i in chosen else '☐'} {o}" for i, o in enumerate(options))


def _num(v, fmt: str) -> str | None:
    return None if v is None else format(v, fmt)


def _when(t: datetime | None) -> str | None:
    return format_utc(t) if t else None


def _met(met: bool | None) -> str | None:
    return None if met is None else checkbox(["Met", "Not Met"], 0 if met else 1)


def _yes(met: bool | None, bold: bool = False) -> str | None:
    return None if met is None else checkbox(["**Yes**", "**No**"] if bold else ["Yes", "No"],
                                              0 if met else 1)


def review_values(r: ReviewReport, chart: str | None) -> dict:
    """The template's keys, from the review."""
    h = r.header
    v: dict = {"prefilled": f"\n_Pre-filled by `rollout report review {h.flag}` for "
                            f"{format_utc(h.at)} from the rollout history and the "
                            f"metric source; the blanks are for people._"}
    start = r.deployment_start
    v["deployment_date"] = start.strftime("%Y-%m-%d") if start else None
    v["status"] = checkbox(["Successful", "Partial", "Rollback Required"],
                           {"successful": 0, "partial": 1, "rollback": 2}[r.status]) if start else None
    v["uptime"] = _num(r.uptime.percent, ".3f")
    v["post_error"] = _num(r.post_error_rate, ".2f")
    v["savings"] = _num(r.weeks_total.savings_pct, ".1f")
    v.update(_phases(r.phases))
    v["start_date"] = _when(start)
    for k, p in enumerate(r.phases[:-1], 1):
        if k < len(DATES) - 1:
            v[DATES[k]] = _when(p.completed)
    if r.phases:
        v["full_date"] = _when(r.phases[-1].started)
    if r.total_duration is not None:
        v["total_days"] = f"{r.total_duration / timedelta(days=1):.1f}"
    for k, d in enumerate(r.decisions, 1):
        if d.proceed or d.held:
            chosen = ({0} if d.proceed else set()) | ({1} if d.held else set())
            reason = "; ".join(d.reasons) if d.held else "—"
            v[f"decision_{k}"] = checkbox(["Proceed", f"Hold (Reason: {reason})"], chosen)
    v["chart"] = f"\n![Rollout timeline]({chart})" if chart else None
    v.update(_performance(r))
    v.update(_costs(r))
    v.update(_sla(r))
    v.update(_incidents(r))
    v.update(_criteria(r))
    return v


def _phases(phases: tuple[Phase, ...]) -> dict:
    v = {}
    for k, p in enumerate(phases, 1):
        if p.started is None:
            continue
        issues = []
        if p.rollbacks:
            issues.append(f"{len(p.rollbacks)} rollback(s)")
        if p.holds:
            issues.append(f"{len(p.holds)} hold(s)")
        v[f"phase_{k}"] = "| " + " | ".join([
            f"{p.step.capitalize()} ({p.target}%)", f"{p.target}%",
            f"{p.actual:.1f}%" if p.actual is not None else "\\_\\_%",
            format_duration(p.duration),
            checkbox(["Complete", "Incomplete"], 0 if p.complete else 1),
            ", ".join(issues)]) + " |"
        v[f"err_{k}"] = _num(p.error_rate, ".2f")
        v[f"err_{k}_met"] = _met(p.error_met)
        v[f"ac1_{k}"] = "☑ Complete" if p.complete else None
    return v


def _performance(r: ReviewReport) -> dict:
    perf = r.performance
    v = {key: _num(getattr(perf, key), ",.0f") for key in ("p50", "p95", "p99", "max")}
    v["p95_met"] = _met(perf.p95_met)
    v["per_minute"] = _num(perf.per_minute, ".1f")
    v["peak"] = _num(perf.peak_per_minute, "d")
    v["err_skill"] = _num(r.skill_errors, ".2f")
    v["err_timeout"] = _num(r.timeouts, ".2f")
    return v


def _costs(r: ReviewReport) -> dict:
    v, extra = {}, []
    for w in r.weeks:
        if w.with_skills is None and w.without_skills is None:
            continue
        row = (f"| Week {w.week}      | {money(w.with_skills)} | {money(w.without_skills)} | "
               f"{money(w.saved)} | {_num(w.savings_pct, '.1f') or '—'}% | "
               f"{_yes(w.met) or '☐ Yes ☐ No'} |")
        if w.week <= 4:
            v[f"week_{w.week}"] = row
        else:
            extra.append(row)
    v["weeks_extra"] = "\n".join(extra) or None
    n = len(r.weeks) or 1
    t = r.weeks_total
    if t.with_skills is not None:
        avg = lambda x: None if x is None else x / n
        v["week_avg"] = (f"| **Average** | **{money(avg(t.with_skills))}** | "
                         f"**{money(avg(t.without_skills))}** | **{money(avg(t.saved))}** | "
                         f"**{_num(t.savings_pct, '.1f') or '—'}%** | "
                         f"{_yes(t.met, True) or '☐ **Yes** ☐ **No**'} |")
    for m in r.models:
        if m.model.lower() in FAMILIES and m.share is not None:
            v[f"model_{m.model.lower()}"] = f"**{m.share:.1f}% ({money(m.cost)})**"
    if r.token_reduction is not None:
        v["tokens_avg"] = (f"{r.token_reduction:.1f} % of tokens (mean `tokenSavings`; "
                           f"the events carry no absolute token count)")
    return v


def _sla(r: ReviewReport) -> dict:
    uptime = r.sla_line("uptime")
    v = {"sla_uptime": _num(uptime.value, ".3f"), "sla_uptime_met": _met(uptime.met)}
    if r.uptime.outages is not None:
        v["downtime"] = f"{r.uptime.outages} (total {r.uptime.down_minutes} minutes)"
    for key in ("under_5s", "under_10s"):
        v[key], v[f"{key}_met"] = _num(r.sla_line(key).value, ".2f"), _met(r.sla_line(key).met)
    v["success"] = _num(r.success_rate, ".2f")
    v["success_met"] = None if r.success_met is None else checkbox(
        ["Met (>98%)", "Not Met"], 0 if r.success_met else 1)
    return v


def _incidents(r: ReviewReport) -> dict:
    rb = r.header.rollbacks
    v = {"rollbacks_n": str(len(rb)), "critical_n": str(len(r.critical))}
    if rb:
        v["rollback_rows"] = "\n".join(
            f"| {format_utc(e.at)} | {md_escape('; '.join(e.reasons) or '—')} | "
            f"feature flag {e.from_pct}% → {e.to_pct}% "
            f"({'automatic, guard' if e.kind == 'aborted' else 'committed step down'}) |  |  |"
            for e in rb)
    rows = []
    for e in r.critical:
        after = next((x for x in r.header.retries if x.at > e.at), None)
        resolution = (f"retried {format_utc(after.at)}: {'; '.join(after.reasons)}" if after else "")
        sev = (e.evidence.get("severity") if e.evidence else None) or "SEV2"
        rows.append(f"| abort #{e.id} | {sev} | {format_utc(e.at)} |  |  | {md_escape(resolution)} |  |")
    if rows:
        v["critical_rows"] = "\n".join(rows)
    return v


def _criteria(r: ReviewReport) -> dict:
    v, decided = {}, 0
    for k in ("1", "4", "5", "6", "9"):
        a = r.ac[f"AC#{k}"]
        v[f"ac{k}"] = "[x]" if a.met else None
        decided += bool(a.met)
        if k != "1":
            v[f"ac{k}_met"] = _met(a.met)
    v["ac4_value"] = _num(r.ac["AC#4"].value, ",.0f")
    v["ac5_value"] = _num(r.ac["AC#5"].value, ".1f")
    v["ac6_value"] = _num(r.ac["AC#6"].value, ".2f")
    v["ac9_value"] = _num(r.ac["AC#9"].value, ".3f")
    v["ac_overall"] = (f" (from the data: {decided} of AC#1, #4, #5, #6, #9 met; AC#2, #3, #7, #8, "
                       f"#10 are for people)")
    return v

"""Reports as people read them (Markdown) and as programs read them (JSON).

Only presentation: every number and every met / not met comes from reports.py.
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta

from rollout.core.gate import format_value
from rollout.core.reports import utc
from rollout.core.state import Event, format_duration

MET = {True: "✅ met", False: "❌ not met", None: "⚠️ no data"}
TICK = {True: "x", False: " ", None: " "}
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}(.*?)\{\{/\}\}", re.S)
ALONE = re.compile(r"^\{\{(\w+)\}\}\{\{/\}\}\n", re.M)


# -- JSON ---------------------------------------------------------------------------------------

def _jsonable(obj):
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, timedelta):
        return format_duration(obj)
    if isinstance(obj, Event):
        return obj.to_json()
    return str(obj)


def _clean(obj):
    if isinstance(obj, float):
        return None if not math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def render_json(report: dict) -> str:
    return json.dumps(_clean(report), indent=2, ensure_ascii=False, default=_jsonable)


# -- numbers ------------------------------------------------------------------------------------

def value(v, unit: str) -> str:
    if unit == "count":
        return "—" if v is None else f"{v:,}"
    if unit == "text":
        return "—" if v is None else str(v)
    if unit == "uptime":                # 99.995 must not print as 100.00 against a 99.9 SLA
        return "—" if v is None else f"{v:.3f} %"
    return format_value(v, unit)


def money(v) -> str:
    return "—" if v is None else f"${v:,.2f}"


def target(text: str | None, unit: str) -> str:
    """'< 5000' in ms -> '< 5,000 ms'; '> 35' in percent -> '> 35 %'."""
    if not text:
        return "—"
    m = re.fullmatch(r"(not )?(<=|>=|<|>)\s*(-?[\d.]+)", text)
    if not m:
        return text
    num = float(m.group(3))
    shown = {"percent": f"{num:g} %", "uptime": f"{num:g} %", "ms": f"{num:,.0f} ms", "usd": f"${num:g}"}.get(unit, f"{num:g}")
    op = {"<=": "≤", ">=": "≥"}.get(m.group(2), m.group(2))
    return f"{m.group(1) or ''}{op} {shown}"


def _md(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    return out


def _lines_table(lines: list[dict]) -> list[str]:
    return _table(["Check", "Value", "Target", "Status", "Source"],
                  [[l["label"], value(l["value"], l["unit"]), target(l["target"], l["unit"]),
                    MET[l["met"]], l["source"] + (f" — {l['note']}" if l["note"] else "")]
                   for l in lines])


def _head(r: dict, chart: str | None) -> list[str]:
    where = [f"`{r['flag']}` at {r['applied']}% ({r['step']})"
             + (f" since {utc(datetime.fromisoformat(r['step_since']))}" if r.get("step_since") else ""),
             f"window {r['window_text']}"]
    if r.get("baseline_source"):
        where.append(f"baseline: {r['baseline_source']}")
    out = [f"## {r['title']}", "", " · ".join(where)]
    if r.get("source_errors"):
        out += ["", "⚠️ The metric source could not compute: "
                + "; ".join(f"{k}: {v}" for k, v in r["source_errors"].items())]
    if chart:
        out += ["", f"![Rollout timeline: percentage, error rate and p95 per cohort]({chart})"]
    return out + [""]


# -- the four short reports ---------------------------------------------------------------------

def _daily(r: dict, chart) -> list[str]:
    out = _head(r, chart) + ["### Metrics Summary", ""]
    for l in r["summary"]:
        text = f"- {l['label']}: {value(l['value'], l['unit'])}"
        if l["baseline"] is not None:
            text += f" (baseline: {value(l['baseline'], l['unit'])})"
        if l["target"]:
            verdict = f" — {MET[l['met']]}" if l["value"] is not None else ""
            text += f"{verdict} (target {target(l['target'], l['unit'])})"
        out.append(text)
    out += ["", "| Metric | Canary | Baseline | Target | Status |", "|---|---|---|---|---|"]
    for m in r["metrics"]:
        out.append("| " + " | ".join(_md(c) for c in (
            m["title"], value(m["canary"], m["unit"]), value(m["baseline"], m["unit"]),
            target(m["target"], m["unit"]), m["status"] or "—")) + " |")
    out += ["", "### Issues Detected", ""]
    icon = {"rollback": "🛑", "hold": "⚠️", "warning": "⚠️", "outage": "🛑", "aborted": "🛑",
            "held": "⏸", "refused": "⏸", "retry": "↻"}
    out += [f"- {icon.get(i['severity'], '-')} {i['text']}" for i in r["issues"]] or ["- None detected"]
    out += ["", "### User Feedback", "", "- [Feedback item 1]", "- [Feedback item 2]", "",
            "### Recommendation", ""]
    rec = r["recommendation"]
    out.append(" | ".join(f"[{'x' if i == rec['chosen'] else ' '}] {o}"
                          for i, o in enumerate(rec["options"])))
    out += ["", "Why: " + "; ".join(rec["reasons"]) + "."]
    if rec["soak"]:
        out.append(f"Soak: {rec['soak']}.")
    return out


def _sla(r: dict, chart) -> list[str]:
    out = _head(r, chart) + [f"Judged on the {r['cohort']}.", ""] + _lines_table(r["lines"]) + [""]
    for l in r["lines"]:
        out.append(f"{'✅' if l['met'] else '❌' if l['met'] is False else '⚠️'} {l['label']}: "
                   f"{value(l['value'], l['unit'])} (target: {target(l['target'], l['unit'])})  ")
    mark = {"PASS": "✅", "FAIL": "❌"}.get(r["verdict"], "⚠️")
    out += ["", f"**{mark} SLA COMPLIANCE: {r['verdict']}**"]
    if r["outages"]:
        out += ["", "Outages (minutes without a successful request):", ""]
        out += [f"- {utc(datetime.fromisoformat(o['start']))}: {o['minutes']} min" for o in r["outages"]]
    return out


def _cost(r: dict, chart) -> list[str]:
    f = r["figures"]
    sav = r["lines"][0]
    mark = {True: "✅", False: "❌", None: "⚠️"}[sav["met"]]
    out = _head(r, chart) + [
        f"{mark} Cost savings: {value(f['savings_pct'], 'percent')} (target: {target(sav['target'], 'percent')})  ",
        f"- Total cost with skills: {money(f['with_skills'])}  ",
        f"- Estimated cost without skills: {money(f['without_skills'])}  ",
        f"- Total savings: {money(f['saved'])}  ", "",
        f"**{mark} COST SAVINGS TARGET: {r['verdict']}**", ""] + _lines_table(r["lines"]) + [
        "", "Token reduction is the mean of the events' `tokenSavings` (percent of tokens saved "
            "per request); the events carry no absolute token count.", "",
        "### Model distribution", ""]
    rows = []
    ctl = {m["model"]: m for m in r["models"]["control"]}
    for m in r["models"]["canary"]:
        k = ctl.get(m["model"], {"share": None, "requests": 0, "cost": None})
        rows.append([m["model"], f"{value(m['share'], 'percent')} ({m['requests']:,})", money(m["cost"]),
                     f"{value(k['share'], 'percent')} ({k['requests']:,})", money(k["cost"])])
    for name, k in ctl.items():
        if name not in {m["model"] for m in r["models"]["canary"]}:
            rows.append([name, "—", "—", f"{value(k['share'], 'percent')} ({k['requests']:,})",
                         money(k["cost"])])
    return out + _table(["Model", "With skills (canary)", "Cost", "Baseline (control)", "Cost"], rows)


def _final(r: dict, chart) -> list[str]:
    out = _head(r, chart)
    for l in r["items"]:
        shown = "" if l["value"] is None else f": {value(l['value'], l['unit'])}"
        status = "" if l["met"] is None and l["note"] == "for people to decide" else f" — {MET[l['met']]}"
        out.append(f"- [{TICK[l['met']]}] {l['label']}{shown}{status}"
                   + (f" ({l['note']})" if l["note"] else ""))
    out += ["", f"**Verdict: {r['verdict']}**", ""]
    if r["verdict"] == "ALL DATA CRITERIA MET":
        out.append("Every criterion the data can decide is met: declare victory once people confirm "
                   "user feedback and team confidence (playbook, Day 13).")
    elif r["failed"]:
        out.append("Not met: " + ", ".join(r["failed"]) + ". Playbook: assess which metric failed, "
                   "decide whether it is fixable without rollback; if not fixable quickly, ROLLBACK.")
    out += ["", "SLA lines behind the SLA criterion:", ""] + _lines_table(r["sla"])
    return out


# -- the review: the seed's template, filled ----------------------------------------------------

def checkbox(options: list[str], chosen) -> str:
    chosen = chosen if isinstance(chosen, (set, list, tuple)) else {chosen}
    return " ".join(f"{'☑' if i in chosen else '☐'} {o}" for i, o in enumerate(options))


def fill(template: str, values: dict) -> str:
    """Replace each {{key}}blank{{/}} by values[key], or keep the blank when it is None.
    A line that is only an empty placeholder disappears."""
    text = ALONE.sub(lambda m: f"{values[m.group(1)]}\n" if values.get(m.group(1)) else "", template)
    return PLACEHOLDER.sub(lambda m: m.group(2) if values.get(m.group(1)) is None
                           else str(values[m.group(1)]), text)


def _num(v, fmt: str) -> str | None:
    return None if v is None else format(v, fmt)


def _when(t) -> str | None:
    return utc(t) if t else None


def review_values(r: dict, chart: str | None) -> dict:
    v: dict = {"prefilled": f"\n_Pre-filled by `rollout report review {r['flag']}` for "
                            f"{utc(datetime.fromisoformat(r['at']))} from the rollout history and the "
                            f"metric source; the blanks are for people._"}
    start = datetime.fromisoformat(r["deployment_start"]) if r["deployment_start"] else None
    v["deployment_date"] = start.strftime("%Y-%m-%d") if start else None
    v["status"] = checkbox(["Successful", "Partial", "Rollback Required"],
                           {"successful": 0, "partial": 1, "rollback": 2}[r["status"]]) if start else None
    v["uptime"] = _num(r["uptime"]["percent"], ".3f")
    v["post_error"] = _num(r["post_error_rate"], ".2f")
    v["savings"] = _num(r["weeks_total"]["savings_pct"], ".1f")
    phases = r["phases"]
    for k, p in enumerate(phases, 1):
        if p["started"] is None:
            continue
        issues = []
        if p["rollbacks"]:
            issues.append(f"{len(p['rollbacks'])} rollback(s)")
        if p["holds"]:
            issues.append(f"{len(p['holds'])} hold(s)")
        v[f"phase_{k}"] = "| " + " | ".join([
            f"{p['step'].capitalize()} ({p['target']}%)", f"{p['target']}%",
            f"{p['actual']:.1f}%" if p["actual"] is not None else "\\_\\_%",
            format_duration(p["duration"]),
            checkbox(["Complete", "Incomplete"], 0 if p["complete"] else 1),
            ", ".join(issues)]) + " |"
        v[f"err_{k}"] = _num(p["error_rate"], ".2f")
        v[f"err_{k}_met"] = None if p["error_met"] is None else \
            checkbox(["Met", "Not Met"], 0 if p["error_met"] else 1)
        v[f"ac1_{k}"] = "☑ Complete" if p["complete"] else None
    names = ["start_date", "canary_done", "beta_done", "full_date"]
    v["start_date"] = _when(start)
    for k, p in enumerate(phases[:-1], 1):
        if k < len(names) - 1:
            v[names[k]] = _when(p["completed"])
    if phases:
        v["full_date"] = _when(phases[-1]["started"])
    if r["total_duration"] is not None:
        v["total_days"] = f"{r['total_duration'] / timedelta(days=1):.1f}"
    for k, d in enumerate(r["decisions"], 1):
        if d["proceed"] or d["held"]:
            chosen = ({0} if d["proceed"] else set()) | ({1} if d["held"] else set())
            reason = "; ".join(d["reasons"]) if d["held"] else "—"
            v[f"decision_{k}"] = checkbox(["Proceed", f"Hold (Reason: {reason})"], chosen)
    v["chart"] = f"\n![Rollout timeline]({chart})" if chart else None
    perf = r["performance"]
    for key in ("p50", "p95", "p99", "max"):
        v[key] = _num(perf[key], ",.0f")
    v["p95_met"] = None if perf["p95_met"] is None else checkbox(["Met", "Not Met"], 0 if perf["p95_met"] else 1)
    v["per_minute"] = _num(perf["per_minute"], ".1f")
    v["peak"] = _num(perf["peak_per_minute"], "d")
    v["err_skill"] = _num(r["error_breakdown"]["skill"], ".2f")
    v["err_timeout"] = _num(r["error_breakdown"]["timeout"], ".2f")
    yes = lambda met, bold=False: None if met is None else checkbox(
        ["**Yes**", "**No**"] if bold else ["Yes", "No"], 0 if met else 1)
    extra = []
    for w in r["weeks"]:
        if w["with_skills"] is None and w["without_skills"] is None:
            continue
        row = (f"| Week {w['week']}      | {money(w['with_skills'])} | {money(w['without_skills'])} | "
               f"{money(w['saved'])} | {_num(w['savings_pct'], '.1f') or '—'}% | {yes(w['met']) or '☐ Yes ☐ No'} |")
        if w["week"] <= 4:
            v[f"week_{w['week']}"] = row
        else:
            extra.append(row)
    v["weeks_extra"] = "\n".join(extra) or None
    n = len(r["weeks"]) or 1
    t = r["weeks_total"]
    if t["with_skills"] is not None:
        avg = lambda x: None if x is None else x / n
        v["week_avg"] = (f"| **Average** | **{money(avg(t['with_skills']))}** | "
                         f"**{money(avg(t['without_skills']))}** | **{money(avg(t['saved']))}** | "
                         f"**{_num(t['savings_pct'], '.1f') or '—'}%** | {yes(t['met'], True) or '☐ **Yes** ☐ **No**'} |")
    for m in r["models"]:
        if m["model"].lower() in ("haiku", "sonnet", "opus") and m["share"] is not None:
            v[f"model_{m['model'].lower()}"] = f"**{m['share']:.1f}% ({money(m['cost'])})**"
    if r["token_reduction"] is not None:
        v["tokens_avg"] = (f"{r['token_reduction']:.1f} % of tokens (mean `tokenSavings`; "
                           f"the events carry no absolute token count)")
    sla = r["sla"]
    met = lambda l: None if l["met"] is None else checkbox(["Met", "Not Met"], 0 if l["met"] else 1)
    v["sla_uptime"], v["sla_uptime_met"] = _num(sla["uptime"]["value"], ".3f"), met(sla["uptime"])
    up = r["uptime"]
    if up["outages"] is not None:
        v["downtime"] = f"{up['outages']} (total {up['down_minutes']} minutes)"
    for key in ("under_5s", "under_10s"):
        v[key], v[f"{key}_met"] = _num(sla[key]["value"], ".2f"), met(sla[key])
    v["success"] = _num(r["success_rate"], ".2f")
    v["success_met"] = None if r["success_met"] is None else checkbox(
        ["Met (>98%)", "Not Met"], 0 if r["success_met"] else 1)
    rb = r["rollbacks"]
    v["rollbacks_n"] = str(len(rb))
    if rb:
        v["rollback_rows"] = "\n".join(
            f"| {utc(datetime.fromisoformat(e['at']))} | {_md('; '.join(e['reasons']) or '—')} | "
            f"feature flag {e['from']}% → {e['to']}% "
            f"({'automatic, guard' if e['kind'] == 'aborted' else 'committed step down'}) |  |  |"
            for e in rb)
    v["critical_n"] = str(len(r["critical"]))
    if r["critical"]:
        retries = r["retries"]
        rows = []
        for e in r["critical"]:
            after = next((x for x in retries if x["at"] > e["at"]), None)
            resolution = (f"retried {utc(datetime.fromisoformat(after['at']))}: "
                          f"{'; '.join(after['reasons'])}" if after else "")
            rows.append(f"| abort #{e['id']} | {e['severity'] or 'SEV2'} | "
                        f"{utc(datetime.fromisoformat(e['at']))} |  |  | {_md(resolution)} |  |")
        v["critical_rows"] = "\n".join(rows)
    ac = r["ac"]
    decided = 0
    for k in ("1", "4", "5", "6", "9"):
        a = ac[f"AC#{k}"]
        v[f"ac{k}"] = "[x]" if a["met"] else None
        decided += bool(a["met"])
        if k != "1":
            v[f"ac{k}_met"] = None if a["met"] is None else checkbox(["Met", "Not Met"], 0 if a["met"] else 1)
    v["ac4_value"] = _num(ac["AC#4"]["value"], ",.0f")
    v["ac5_value"] = _num(ac["AC#5"]["value"], ".1f")
    v["ac6_value"] = _num(ac["AC#6"]["value"], ".2f")
    v["ac9_value"] = _num(ac["AC#9"]["value"], ".3f")
    v["ac_overall"] = (f" (from the data: {decided} of AC#1, #4, #5, #6, #9 met; AC#2, #3, #7, #8, "
                       f"#10 are for people)")
    return v


def render_markdown(report: dict, chart: str | None = None, review_template: str | None = None) -> str:
    kind = report["kind"]
    if kind == "review":
        if review_template is None:
            raise ValueError("the review needs its template")
        return fill(review_template, review_values(report, chart))
    lines = {"daily": _daily, "sla": _sla, "cost": _cost, "final": _final}[kind](report, chart)
    return "\n".join(lines) + "\n"

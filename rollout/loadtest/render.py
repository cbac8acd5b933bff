"""A judged load test as people read it: the terminal's table, or markdown for a job
summary. Pure: the summary (summary.json) and the verdict in, text out."""
from __future__ import annotations

from rollout.core.units import format_value
from rollout.core.perfbudget import OVERALL, BudgetVerdict

HEADERS = ["scope", "requests", "errors", "p50", "p95", "p99", "rps", "budget"]
SHORT = 0.9     # a phase that got less than this share of its requests is pointed out


def rows(summary: dict, verdict: BudgetVerdict) -> list[list[str]]:
    """One row per scope (overall, then each scenario) with the figures the budget judges."""
    missed: dict[str, list[str]] = {}
    for c in verdict.missed:
        missed.setdefault(c.scope, []).append(c.figure)
    ms = lambda v: format_value(v, "ms")
    return [[scope, f"{f['requests']:,}", format_value(f["error_rate"], "percent"),
             ms(f["p50_ms"]), ms(f["p95_ms"]), ms(f["p99_ms"]),
             "—" if f["rps"] is None else f"{f['rps']:.1f}",
             ("MISSED " + ", ".join(missed[scope])) if scope in missed else "ok"]
            for scope, f in [(OVERALL, summary["overall"]), *summary["scenarios"].items()]]


def notes(summary: dict, verdict: BudgetVerdict) -> list[str]:
    """Short phases (the target could not take the load, or the generator could not give
    it), then every missed check."""
    found = [f"phase {p['name']} got {p['requests']:,} of the {p['target_requests']:,} requests "
             f"it asks for: a slow target, or a load generator short of CPU (docs/loadtest.md)"
             for p in summary["phases"] if p["requests"] < SHORT * p["target_requests"]]
    return found + [f"missed: {c.line()}" for c in verdict.missed]


def headline(summary: dict, verdict: BudgetVerdict) -> str:
    return (f"load test {summary['profile']} against {summary['target']}: budget "
            f"{'met' if verdict.passed else 'MISSED'}")


def markdown(summary: dict, verdict: BudgetVerdict) -> str:
    icon = "✅" if verdict.passed else "❌"
    lines = [f"### {icon} Load test `{summary['profile']}` against `{summary['target']}`: "
             f"budget {'met' if verdict.passed else 'missed'}", "",
             f"_{summary['started_at'][:16].replace('T', ' ')} UTC, {summary['seconds']:,.0f} s; "
             f"budget from rollout/catalog.yaml, judged overall and per scenario_", "",
             "| " + " | ".join(h.capitalize() for h in HEADERS) + " |",
             "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(summary, verdict)]
    lines += ["", "| Phase | Target | Achieved |", "|---|---|---|"]
    lines += [f"| {p['name']} | {p['target_rps']:g}/s | {p['rps']:g}/s |" for p in summary["phases"]]
    extra = notes(summary, verdict)
    return "\n".join(lines + ([""] + [f"- {n}" for n in extra] if extra else [])) + "\n"

"""Dashboard rules: the five pages exist, and every metric that gates a step is watched.

Seed 002 Task 7 asks for five dashboards: Skills overview, Cost optimization, Performance
metrics, Error tracking, User experience; dashboards/newrelic.py builds them as the five
pages of one dashboard ("Performance" is the seed's "Performance metrics").

A metric that gates a rollout step (catalog `gate_steps` absent or not empty) decides
whether 5 % becomes 25 %; between two gates someone must be able to see it, on the pager
or on a chart. Its query is found in the stack's NRQL: a condition or widget query equal to
the catalog's query for the metric, or starting with it (the dashboards add FACET cohort,
SINCE and TIMESERIES).
"""
from __future__ import annotations

from skills_policy.model import UNKNOWN, Violation, of_type
from skills_policy.registry import rule

NR = "newrelic:index/"
DASHBOARD = f"{NR}oneDashboard:OneDashboard"
CONDITION = f"{NR}nrqlAlertCondition:NrqlAlertCondition"

DASHBOARD_PAGES = ("Skills overview", "Cost optimization", "Performance", "Error tracking",
                   "User experience")


def _nrql(text) -> str:
    return " ".join(text.split()) if isinstance(text, str) else ""


def widget_queries(page: dict) -> list[str]:
    """Every NRQL query of a page, whatever the widget kind (widgetLines, widgetBillboards...)."""
    found = []
    for key, widgets in page.items():
        if key.startswith("widget") and isinstance(widgets, list):
            for widget in widgets:
                for q in (widget.get("nrqlQueries") or []) if isinstance(widget, dict) else []:
                    if isinstance(q, dict) and _nrql(q.get("query")):
                        found.append(_nrql(q.get("query")))
    return found


def _pages(dashboard) -> dict:
    pages = dashboard.props.get("pages")
    if not isinstance(pages, list):
        return {}
    return {p.get("name"): p for p in pages if isinstance(p, dict)}


@rule("dashboard-pages", "A dashboard has the five pages of the seed, each with a chart",
      reason="seed 002 Task 7: Skills overview, Cost optimization, Performance metrics, Error "
             "tracking, User experience")
def dashboard_pages(resources, catalog):
    dashboards = of_type(resources, DASHBOARD)
    if any(d.props.get("pages") is UNKNOWN for d in dashboards):
        return
    best = None
    for d in dashboards:
        pages = _pages(d)
        missing = [n for n in DASHBOARD_PAGES if not widget_queries(pages.get(n) or {})]
        if best is None or len(missing) < len(best[1]):
            best = (d, missing)
    if best is None:
        yield Violation("the stack has no New Relic dashboard")
    elif best[1]:
        d, missing = best
        yield Violation(f"{d.label} lacks the page(s) {', '.join(repr(m) for m in missing)} "
                        f"(or they have no chart)", d.urn)


def watched_queries(resources) -> list[str]:
    """Every NRQL query the stack alerts on or charts."""
    queries = [_nrql(c.get("nrql.query")) for c in of_type(resources, CONDITION)]
    for d in of_type(resources, DASHBOARD):
        for page in _pages(d).values():
            queries += widget_queries(page)
    return [q for q in queries if q]


@rule("gated-metrics-watched", "Every metric that gates a step has an alert or a chart",
      reason="the catalog (rollout/catalog.yaml): metrics with gate_steps not [] decide the "
             "playbook 003 steps 5 % -> 25 % -> 100 %; playbook 003 monitors them between gates")
def gated_metrics_watched(resources, catalog):
    if any(c.get("nrql.query") is UNKNOWN for c in of_type(resources, CONDITION)):
        return
    queries = watched_queries(resources)
    for metric in catalog.metrics.values():
        if metric.gate_steps is not None and not metric.gate_steps:
            continue
        base = _nrql(metric.nrql(catalog))
        if not any(q == base or q.startswith(base + " ") for q in queries):
            yield Violation(f"catalog metric {metric.name!r} ({metric.title}) gates a step but "
                            f"no alert condition or dashboard chart queries it ({base})")

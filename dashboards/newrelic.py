"""The skills rollout dashboard: the five pages of story 2.14 Task 7, built from the catalog.

Every widget's query is the catalog's own NRQL for a metric. Cohort metrics are charted
FACET cohort, so the canary line sits next to the control line in the same chart; metrics
without a cohort split (service-wide signals, the derived savings, the canary share itself)
are charted as one line over time.
"""
from __future__ import annotations

import pulumi
import pulumi_newrelic as newrelic

from rollout.core.catalog import Catalog, Metric, load_catalog

# Page -> metric names, in reading order. Only names: titles, units and queries come
# from the catalog.
PAGES = {
    "Skills overview": ["canary_share", "skill_error_rate", "p95_response_time",
                        "skills_api_success", "cost_savings", "service_health"],
    "Cost optimization": ["cost_savings", "cost_per_request", "hourly_ai_cost",
                          "token_reduction", "cache_hit_rate", "canary_share"],
    "Performance": ["p95_response_time", "avg_response_time", "timeout_rate",
                    "memory_usage", "cache_hit_rate", "canary_share"],
    "Error tracking": ["skill_error_rate", "skills_api_success", "timeout_rate",
                       "fallback_rate", "service_health", "canary_share"],
    "User experience": ["p95_response_time", "skill_error_rate", "fallback_rate",
                        "cache_hit_rate", "avg_response_time", "canary_share"],
}

WIDTH, HEIGHT, COLUMNS = 6, 3, 12


def side_by_side(metric: Metric) -> bool:
    """Whether a chart splits the metric by cohort (canary beside control)."""
    return not (metric.derived or metric.nrql_override or metric.name == "canary_share")


def bucket(minutes: int) -> str:
    return "1 hour" if minutes == 60 else f"{minutes} minutes"


def widget_query(metric: Metric, catalog: Catalog) -> str:
    if metric.window_minutes:
        # A metric defined over a window (the hourly AI cost) is charted per window: with
        # TIMESERIES AUTO each point would sum an automatic bucket (minutes, or a day), not
        # an hour. Buckets of an hour start on the clock hour; the chart shows the last day.
        return metric.nrql(catalog, facet=side_by_side(metric), since="1 day ago",
                           timeseries=bucket(metric.window_minutes))
    return metric.nrql(catalog, facet=side_by_side(metric), timeseries="AUTO")


def widget_title(metric: Metric) -> str:
    suffix = " - canary vs control" if side_by_side(metric) else " over time"
    return f"{metric.title} ({metric.unit}){suffix}"


def page_spec(name: str, metric_names: list[str], catalog: Catalog) -> dict:
    widgets = []
    for i, mname in enumerate(metric_names):
        metric = catalog.metrics[mname]
        widgets.append({
            "title": widget_title(metric),
            "row": 1 + (i * WIDTH // COLUMNS) * HEIGHT,
            "column": 1 + (i * WIDTH) % COLUMNS,
            "width": WIDTH, "height": HEIGHT,
            "nrql_queries": [{"query": widget_query(metric, catalog)}],
        })
    return {"name": name, "widget_lines": widgets}


class Dashboard(pulumi.ComponentResource):
    """One New Relic dashboard with the five pages."""

    def __init__(self, name: str, catalog: Catalog | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("skills-rollout:dashboards:Dashboard", name, None, opts)
        catalog = catalog or load_catalog()
        unknown = sorted({m for ms in PAGES.values() for m in ms} - set(catalog.metrics))
        if unknown:
            raise pulumi.RunError(f"dashboards: metric {unknown[0]!r} is not in the catalog "
                                  f"(rollout/catalog.yaml); expected one of "
                                  f"{', '.join(catalog.metrics)}")
        self.dashboard = newrelic.OneDashboard(
            "skills-rollout",
            name=f"Skills rollout ({pulumi.get_stack()})",
            permissions="public_read_only",
            pages=[page_spec(p, ms, catalog) for p, ms in PAGES.items()],
            opts=pulumi.ResourceOptions(parent=self))
        self.permalink = self.dashboard.permalink
        self.register_outputs({"permalink": self.permalink})

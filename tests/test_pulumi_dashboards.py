"""The New Relic dashboard: five pages, widgets built from the catalog's NRQL."""
from __future__ import annotations

import pytest

from tests.pulumi_harness import run_main
from rollout.core.catalog import load_catalog

PAGES = ["Skills overview", "Cost optimization", "Performance", "Error tracking",
         "User experience"]


@pytest.fixture(scope="module")
def pages():
    run = run_main()
    dashboard = run.one("newrelic:index/oneDashboard:OneDashboard").inputs
    return {p["name"]: p for p in dashboard["pages"]}


def widgets(page):
    return [w for key, ws in page.items() if key.startswith("widget") for w in ws]


def catalog_queries() -> dict:
    """Every query the catalog can state, mapped to its metric."""
    c = load_catalog()
    out = {}
    for m in c.metrics.values():
        for facet in (False, True):
            for ts in (None, "AUTO"):
                out[m.nrql(c, facet=facet, timeseries=ts)] = m.name
            if m.window_minutes:
                out[m.nrql(c, facet=facet, since="1 day ago", timeseries="1 hour")] = m.name
    return out


def test_the_five_pages_of_the_story(pages):
    assert list(pages) == PAGES


def test_every_widget_query_is_one_of_the_catalog(pages):
    known = catalog_queries()
    for name, page in pages.items():
        assert widgets(page), name
        for w in widgets(page):
            (q,) = w["nrqlQueries"]
            assert q["query"] in known, f"{name} / {w['title']}: {q['query']}"


def test_canary_beside_control_on_every_page(pages):
    cohort = load_catalog().cohort_attribute
    for name, page in pages.items():
        side = [w for w in widgets(page) if f"FACET {cohort}" in w["nrqlQueries"][0]["query"]]
        assert side, f"{name}: no canary-vs-control chart"
        assert all(w["nrqlQueries"][0]["query"].endswith(("TIMESERIES AUTO", "TIMESERIES 1 hour"))
                   for w in side)


def test_hourly_ai_cost_is_a_sum_per_clock_hour(pages):
    """Seed 002's cost spike is "> $10 in an hour": the chart sums whole hours (TIMESERIES
    1 hour buckets start on the hour), not the automatic bucket of the time picker."""
    c = load_catalog()
    queries = [w["nrqlQueries"][0]["query"] for p in pages.values() for w in widgets(p)
               if w["title"].startswith(c.metrics["hourly_ai_cost"].title)]
    assert queries == [f"SELECT sum(cost) FROM SkillExecution FACET {c.cohort_attribute} "
                       "SINCE 1 day ago TIMESERIES 1 hour"]


def test_rollout_percentage_over_time(pages):
    c = load_catalog()
    share = c.metrics["canary_share"].nrql(c, timeseries="AUTO")
    for name, page in pages.items():
        assert share in [w["nrqlQueries"][0]["query"] for w in widgets(page)], name


def test_widgets_do_not_overlap(pages):
    for name, page in pages.items():
        cells = set()
        for w in widgets(page):
            row, col0, width, height = (int(w[k]) for k in ("row", "column", "width", "height"))
            assert 1 <= col0 and col0 + width - 1 <= 12, name
            for r in range(row, row + height):
                for col in range(col0, col0 + width):
                    assert (r, col) not in cells, f"{name}: {w['title']} overlaps"
                    cells.add((r, col))

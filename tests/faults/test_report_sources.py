"""The review report's peak-per-minute query refused by New Relic (an account without
nested aggregation, a syntax change) is a recorded source error, never a silent null."""
import re
from datetime import datetime, timedelta, timezone

from rollout.adapters.metrics.newrelic import NewRelicSource
from rollout.adapters.reportdata.newrelic import NewRelicReportSource
from rollout.core.catalog import load_catalog
from rollout.core.reports.summaries import Window
from tests.fakes.server import FakeServer

T0 = datetime(2026, 11, 10, 9, tzinfo=timezone.utc)


class RefusesNested(FakeServer):
    """NerdGraph answering every alias with no rows, except a nested `FROM (SELECT ...)`
    query, refused per alias as NerdGraph reports a query error beside other data."""

    def handle(self, req):
        query = req.json["query"]
        account, errors = {}, []
        for alias, nrql in re.findall(r'(\w+): nrql\(query: "((?:[^"\\]|\\.)*)"', query):
            if "FROM (SELECT" in nrql:
                account[alias] = None
                errors.append({"message": "NRQL Syntax Error: nested aggregation is not allowed",
                               "path": ["actor", "account", alias],
                               "extensions": {"errorClass": "INVALID_INPUT"}})
            else:
                account[alias] = {"results": []}
        return 200, {}, {"data": {"actor": {"account": account}}, "errors": errors}


def test_a_refused_peak_query_is_a_source_error():
    with RefusesNested() as nr:
        src = NewRelicReportSource(NewRelicSource(1, "NRAK-test", nr.base_url + "/graphql"))
        got = src.summaries(load_catalog(), {"main": Window(T0, T0 + timedelta(days=1))})
    main = got["main"]
    assert main.peak_per_minute is None
    assert "nested aggregation is not allowed" in main.errors["peak"]

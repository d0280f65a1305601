"""Every query of every shipped dashboard panel returns data from the simulated site.

No Grafana server runs here (docs/grafana.md), so the queries are sent the way Grafana would
send them: PromQL to a real Prometheus that scraped every simulated reader and the collector
at 1 s; InfluxQL, its macros expanded as Grafana's data source does, to Debian's InfluxDB 1.6
holding what the real collector wrote (`solarstack run collector`, INFLUX_API=v1). A query
that names a series nobody exports, a field the collector does not write, or that Prometheus
or InfluxDB cannot parse, fails here with its dashboard, panel and refId.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from typing import Any

import pytest
from grafana_support import (
    Query,
    SimulatedSite,
    dashboards,
    has_values,
    influxql_as_grafana_sends,
    panel_queries,
    prometheus_as_grafana_sends,
    time_range,
    variable_defaults,
)

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        not all(shutil.which(b) or shutil.which(b, path="/usr/sbin") for b in ("mosquitto", "prometheus", "influxd")),
        reason="needs mosquitto, prometheus and influxd (make deps)",
    ),
]

# Generous: the first weather fetch, the slow inverter polls and two scrapes of each must land.
WAIT = 40.0


def _describe(failed: dict[str, Any]) -> str:
    return "\n".join(f"  {key}\n    last answer: {answer!r}"[:600] for key, answer in failed.items())


def test_every_prometheus_panel_query_returns_data(site: SimulatedSite) -> None:
    queries = panel_queries("prometheus")
    assert len(queries) > 40, "the dashboards lost their Prometheus panels"
    pending = {str(q): q for q in queries}

    def answers(q: Query) -> list[dict[str, Any]]:
        return site.promql(prometheus_as_grafana_sends(q.text))

    failed = site.until(pending, answers, WAIT)
    assert not failed, f"{len(failed)} of {len(queries)} Prometheus queries return no data:\n{_describe(failed)}"


def test_every_influxql_panel_query_returns_what_the_collector_wrote(site: SimulatedSite) -> None:
    queries = panel_queries("influxdb")
    assert queries, "the Energy history dashboard lost its InfluxQL panels"
    boards = dashboards()
    pending = {str(q): q for q in queries}

    def answers(q: Query) -> list[dict[str, Any]]:
        start, end = time_range(q.time_from, datetime.now(UTC))
        sent = influxql_as_grafana_sends(q.text, start, end, variable_defaults(boards[q.dashboard]))
        series = site.influxql(sent)
        return series if has_values(series) else []

    failed = site.until(pending, answers, WAIT)
    assert not failed, f"{len(failed)} of {len(queries)} InfluxQL queries return no data:\n{_describe(failed)}"

"""Fixtures of the collector tests: real sinks (VictoriaMetrics, InfluxDB 1.6) and real collectors.

The sink classes live in tests/collector/sinks.py so other folders can use them without these
fixtures (`from collector.sinks import InfluxDB1, VictoriaMetrics`); `collector_factory` starts
`solarstack run collector` processes (tests/collector/collector_support.py) and stops them all
at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from collector_support import CollectorFactory, CollectorProcess, Site, SiteFactory
from sinks import InfluxDB1, VictoriaMetrics


@pytest.fixture
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    server = VictoriaMetrics(tmp_path_factory.mktemp("victoria-metrics"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def influxdb1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    server = InfluxDB1(tmp_path_factory.mktemp("influxdb1"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def collector_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorFactory]:
    """`collector_factory(env)` -> a started collector; `start=False` to start it yourself."""
    started: list[CollectorProcess] = []

    def make(env: dict[str, str], *, start: bool = True) -> CollectorProcess:
        proc = CollectorProcess(tmp_path_factory.mktemp("collector"), env)
        started.append(proc)
        return proc.start() if start else proc

    yield make
    for proc in started:
        proc.stop()


@pytest.fixture
def site_factory() -> Iterator[SiteFactory]:
    """`site_factory(broker, client_id=…, username=…)` -> a connected `Site` publisher, closed
    at teardown (`username`: log in as that user of the shipped broker)."""
    made: list[Site] = []

    def make(broker: Any, client_id: str = "test-site", username: str | None = None) -> Site:
        password = broker.passwords[username] if username else None  # the shipped broker's
        site = Site(broker.host, broker.port, client_id, username=username, password=password)
        made.append(site)
        return site

    yield make
    for site in made:
        site.close()

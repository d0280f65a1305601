"""Fixtures for the dashboard tests: one simulated site per module (starting it costs seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from grafana_support import SimulatedSite


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedSite]:
    running = SimulatedSite(tmp_path_factory.mktemp("grafana-site"))
    try:
        yield running.start()
    finally:
        running.stop()

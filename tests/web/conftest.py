"""Fixtures for the web tests: the demo site on the shared Mosquitto fixture, and `solarstack run web`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web_support import Broker, DemoSite, WebServer


@pytest.fixture
def site(mosquitto: Broker) -> Iterator[DemoSite]:
    demo = DemoSite(mosquitto).start()
    yield demo
    demo.stop()


@pytest.fixture
def web_server(mosquitto: Broker, site: DemoSite, tmp_path: Path) -> Iterator[WebServer]:
    server = WebServer(mosquitto, tmp_path)
    server.wait_ready(devices=4)
    yield server
    server.stop()

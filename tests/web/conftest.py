"""Fixtures for the web tests: the demo site on the shared Mosquitto fixture, and `solarstack run web`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_support import Broker, DemoSite, RealInverter, WebServer


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


@pytest.fixture
def real_inverter(mosquitto: Broker, tmp_path: Path) -> Iterator[str]:
    """The PI30 simulator on TCP and the real inverter reader publishing it as device `siminv`."""
    sim, reader = RealInverter.start(mosquitto, tmp_path)
    try:
        yield "siminv"
    finally:
        for proc in (reader, sim):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

"""Fixtures for the web tests: the demo site on the shared Mosquitto fixture, and `solarstack run web`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_support import Broker, DemoSite, RealDTU, RealInverter, WebServer


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
        stop(reader, sim)


@pytest.fixture
def real_parallel(mosquitto: Broker, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A simulated parallel system of three PI30 units behind the real reader, as device `simpar`
    (and `simpar_unit1` … `simpar_unit3`); the reader's process too, for a test to kill."""
    sim, reader = RealInverter.start(mosquitto, tmp_path, name="simpar", units=3)
    try:
        yield "simpar", reader
    finally:
        stop(reader, sim)


@pytest.fixture
def real_dtu(mosquitto: Broker, tmp_path: Path) -> Iterator[str]:
    """The simulated Hoymiles DTU (three microinverters) behind the real reader, as device `simroof`."""
    sim, reader = RealDTU.start(mosquitto, tmp_path)
    try:
        yield "simroof"
    finally:
        stop(reader, sim)


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.poll() is not None:
            continue
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

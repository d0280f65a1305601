"""`solarstack sim bms` as users run it: a process printing its pty path / TCP URL first,
then answering the device layer like a real pack (every field of the table present)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest

from solarstack.core.device_url import parse_device_url
from solarstack.core.fields import Kind
from solarstack.devices.bms import open_device
from solarstack.devices.bms_ble import CHAR_UUID, Jk02BleBms
from solarstack.protocols import jk02
from solarstack.sim.ble import FakeJkBms
from solarstack.transports.ble import BleTransport


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        p.terminate()
        p.wait(5)


def _start(spawn: list[subprocess.Popen[str]], *args: str) -> str:
    proc = subprocess.Popen(
        [sys.executable, "-m", "solarstack.cli", "sim", "bms", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    spawn.append(proc)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()  # blocks until the simulator is listening
    assert line, proc.stderr.read() if proc.stderr else "no output"
    return line


@pytest.mark.parametrize("protocol", ["jkserial", "daly", "vedirect"])
def test_sim_over_pty_answers_every_field(spawn: list[subprocess.Popen[str]], protocol: str) -> None:
    path = _start(spawn, "--protocol", protocol, "--pty", "--interval", "0.2")
    assert path.startswith("/dev/pts/")
    dev = open_device(parse_device_url(f"{protocol}+serial://{path}?timeout=3"))
    try:
        reading = dev.query(dev.default_commands()[0])
    finally:
        dev.close()
    values = reading.values
    if protocol == "vedirect":  # a SmartShunt: what it sends, no cells
        expected = {"voltage", "current", "power", "soc", "consumed_capacity", "time_to_go", "energy_charged"}
        assert expected <= set(values)
    else:
        missing = [f.key for f in reading.fields if f.key not in values]
        assert not missing
        assert len(values["cell_voltages"]) == 16  # type: ignore[arg-type]
    for f in reading.fields:
        if f.key in values and f.kind in (Kind.FLOAT, Kind.INT) and f.key != "time_to_go":
            assert isinstance(values[f.key], int | float), f.key


def test_sim_over_tcp_prints_url(spawn: list[subprocess.Popen[str]]) -> None:
    url = _start(spawn, "--protocol", "daly", "--tcp", "0")
    assert url.startswith("tcp://127.0.0.1:")
    dev = open_device(parse_device_url(f"daly+{url}?timeout=3"))
    try:
        assert dev.query("soc").values["voltage"] > 40  # type: ignore[operator]
    finally:
        dev.close()


def test_ble_device_from_a_worker_thread_runs_on_the_loop() -> None:
    """The generic reader calls `query` via asyncio.to_thread: bleak work stays on the loop."""
    fake = FakeJkBms()

    async def run() -> None:
        transport = BleTransport(
            fake.address,
            notify_uuid=CHAR_UUID,
            write_uuid=CHAR_UUID,
            split=jk02.split_frames,
            client_factory=fake.client_factory,
            finder=fake.finder,
        )
        dev = Jk02BleBms("pack1", transport, timeout=2.0)  # built on the loop, like build_readers
        reading = await asyncio.to_thread(dev.query, "cell_info")
        assert reading.values["cell_count"] == 16
        await asyncio.to_thread(dev.close)
        assert fake.client is None

    asyncio.run(run())

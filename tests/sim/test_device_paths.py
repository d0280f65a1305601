"""The production path end to end: device URL -> open_transport -> Pi30Device -> simulator.

One simulator per transport the inverter can sit behind: a serial pty, a hidraw node
(the pty stands in, the simulator paces 8-byte HID reports), and TCP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from solarstack.core.device_url import parse_device_url
from solarstack.core.errors import DeviceTimeout, NakError
from solarstack.devices.pi30 import Pi30Device, open_device
from solarstack.sim.inverter import _parser, build
from solarstack.sim.stream import StreamServer


@pytest.fixture(params=["serial", "hidraw", "tcp"])
def device(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Pi30Device, StreamServer]]:
    kind = request.param
    args = ["--tcp", "0"] if kind == "tcp" else ["--pty"]
    if kind == "hidraw":
        args.append("--hid-reports")
    server, _ = build(_parser().parse_args(args))
    if kind == "tcp":
        url = f"pi30+tcp://127.0.0.1:{server.add_tcp()}?name=inv"
    else:
        url = f"pi30+{kind}://{server.add_pty(tmp_path / 'ttyINV')}?name=inv"
    server.start()
    dev = open_device(parse_device_url(url), timeout=2.0)
    yield dev, server
    dev.close()
    server.stop()


def test_queries_settings_and_faults_through_the_device_layer(device: tuple[Pi30Device, StreamServer]) -> None:
    dev, server = device
    reading = dev.query("QPIGS")
    assert reading.device == "inv" and 40 < reading.values["battery_voltage"] < 60  # type: ignore[operator]
    assert dev.query("QMOD").values["mode"] in ("battery", "line")
    result = dev.apply("output_source_priority", "utility")
    assert result.ok and result.value == "utility", result
    assert dev.query("QPIRI").values["output_source_priority"] == "utility"
    refused = dev.apply("battery_recharge_voltage", "60")  # out of range: never reaches the wire
    assert not refused.ok and "out of range" in str(refused.error)
    server.set_fault("nak", 1)
    with pytest.raises(NakError):
        dev.query("QPIGS")
    server.set_fault("silence", 1)
    dev.timeout = 0.3
    with pytest.raises(DeviceTimeout):
        dev.query("QPIGS")
    dev.timeout = 2.0
    assert "battery_capacity" in dev.query("QPIGS").values  # and back to normal

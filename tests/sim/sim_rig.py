"""A family's simulator serving its device class over one link — a serial pty, USB-HID-style
reports over a pty, or TCP — with the simulator's control port: what test_pi16_sim.py,
test_pi17_sim.py, test_pi18_sim.py and test_pi41_sim.py drive. `rig_fixtures` gives a module
its `rig` (every link) and `tcp_rig` fixtures.
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

from solarstack.core.device_url import parse_device_url
from solarstack.sim.inverter import _parser, build_any
from solarstack.sim.stream import StreamServer

D = TypeVar("D")
S = TypeVar("S")


class Rig(Generic[D, S]):
    """`protocol`'s simulator (an `S`) and device (a `D`) joined over `kind`."""

    def __init__(self, protocol: str, device: type[D], simulator: type[S], kind: str, tmp: Path) -> None:
        args = ["--protocol", protocol, "--seed", "5", *(["--tcp", "0"] if kind == "tcp" else ["--pty"])]
        if kind == "hidraw":
            args.append("--hid-reports")
        server, inverter = build_any(_parser().parse_args(args))
        assert isinstance(inverter, simulator)
        self.server: StreamServer = server
        self.inverter: S = inverter
        if kind == "tcp":
            self.port = server.add_tcp()
            url = f"{protocol}+tcp://127.0.0.1:{self.port}?name=inv"
        else:
            url = f"{protocol}+{kind}://{server.add_pty(tmp / 'ttyINV')}?name=inv"
        self.control_port = server.add_control()
        server.start()
        self.url = url
        dev = importlib.import_module(f"solarstack.devices.{protocol}").open_device(parse_device_url(url), timeout=2.0)
        assert isinstance(dev, device)
        self.dev: D = dev

    def control(self, line: str) -> str:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as s:
            s.sendall(line.encode() + b"\n")
            return s.makefile().readline().strip()

    def close(self) -> None:
        self.dev.close()  # type: ignore[attr-defined]
        self.server.stop()


def rig_fixtures(protocol: str, device: type[D], simulator: type[S]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The module's `rig` (serial, hidraw and tcp in turn) and `tcp_rig` fixtures."""

    @pytest.fixture(params=["serial", "hidraw", "tcp"])
    def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig[D, S]]:
        r = Rig(protocol, device, simulator, request.param, tmp_path)
        yield r
        r.close()

    @pytest.fixture
    def tcp_rig(tmp_path: Path) -> Iterator[Rig[D, S]]:
        r = Rig(protocol, device, simulator, "tcp", tmp_path)
        yield r
        r.close()

    return rig, tcp_rig


def simulator(protocol: str, simulator: type[S]) -> S:
    """`protocol`'s simulator alone (seed 3), for requests in process (`handle`)."""
    _, inverter = build_any(_parser().parse_args(["--tcp", "0", "--protocol", protocol, "--seed", "3"]))
    assert isinstance(inverter, simulator)
    return inverter

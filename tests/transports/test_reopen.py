"""A link comes back by itself: the simulator (a real `solarstack sim inverter` process) is
killed between polls and started again on the same pty path / TCP port, and the same
Pi30Device answers again without a restart (issue 8, item 4).

While the device is away every call fails with TransportError — never termios.error or
another raw OS error — and the link is closed, so the next call reopens it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from solarstack.core.device_url import parse_device_url
from solarstack.core.errors import TransportError
from solarstack.devices.pi30 import Pi30Device, open_device
from support import free_port


class SimProcess:
    """`solarstack sim inverter` pinned to one pty link path or one TCP port, restartable."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.link = tmp_path / "ttyINV"
        self.port = free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        if self.kind == "tcp":
            return f"pi30+tcp://127.0.0.1:{self.port}?name=inv"
        return f"pi30+{self.kind}://{self.link}?name=inv"

    def start(self) -> None:
        if self.kind == "tcp":
            where = ["--tcp", str(self.port)]
        else:
            where = ["--pty", "--link", str(self.link)] + (["--hid-reports"] if self.kind == "hidraw" else [])
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "solarstack.cli", "sim", "inverter", *where],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        # The simulator prints its endpoint once it is serving (EOF if it died instead).
        first = self.proc.stdout.readline().strip()
        assert first, f"simulator exited with {self.proc.wait(5)}"

    def kill(self) -> None:
        """Gone at once, as an unplugged adapter is: no clean-up (the pty link dangles)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


@pytest.fixture(params=["serial", "hidraw", "tcp"])
def sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SimProcess]:
    sim = SimProcess(request.param, tmp_path)
    sim.start()
    yield sim
    if sim.proc is not None:
        sim.kill()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_device_answers_again_after_the_simulator_restarts(sim: SimProcess) -> None:
    dev: Pi30Device = open_device(parse_device_url(sim.url), timeout=2.0)
    try:
        assert dev.query("QMOD").values["mode"]
        sim.kill()
        # Away: each poll fails as a link error (the reader's retry/breaker path), and the
        # dead descriptor is released rather than reused.
        for _ in range(2):
            with pytest.raises(TransportError):
                dev.query("QMOD")
            assert not dev.transport.is_open
        sim.start()
        assert dev.query("QMOD").values["mode"]  # the first poll after the restart answers
        assert dev.query("QPIGS").values["battery_voltage"]
    finally:
        dev.close()


def test_outages_never_leak_descriptors(sim: SimProcess, wait_for: Any) -> None:
    """Ten outages, each while the link is open, leave the process with the descriptors it had."""
    dev: Pi30Device = open_device(parse_device_url(sim.url), timeout=2.0)
    try:
        dev.query("QMOD")
        before = _open_fds()  # the device's link and the simulator's stdout pipe
        for _ in range(10):
            sim.kill()
            with pytest.raises(TransportError):
                dev.query("QMOD")
            sim.start()
            dev.query("QMOD")
        # Waited for, not read once: another test's client thread may hold a socket for a moment
        # (a leak of ours would stay).
        wait_for(lambda: _open_fds() == before, 5, what=f"{before} descriptors open")
    finally:
        dev.close()


def test_the_inverter_reader_reads_again_after_the_simulator_restarts(tmp_path: Path, wait_for: Any) -> None:
    """The whole `solarstack run inverter` process: the device goes unavailable while the
    simulator is gone and available again once it is back — no restart, no traceback."""
    sim = SimProcess("serial", tmp_path)
    sim.start()
    env = {
        **os.environ,
        "MQTT_HOST": "127.0.0.1",
        "MQTT_PORT": str(free_port()),  # no broker: polling does not need one (readings spool)
        "STATE_DIR": str(tmp_path / "state"),
        "METRICS_PORT": "0",
        "INVERTER_DEVICES": sim.url,
        "INVERTER_POLL_SECONDS": "0.3",
        "INVERTER_TIMEOUT": "0.5",
        "INVERTER_RETRIES": "0",
        "INVERTER_BREAKER_FAILURES": "1",
        "INVERTER_BREAKER_RESET_SECONDS": "0.5",
        "LOG_LEVEL": "INFO",
    }
    reader = subprocess.Popen(
        [sys.executable, "-m", "solarstack.cli", "run", "inverter"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(reader.stderr.readline, "")), daemon=True).start()  # type: ignore[union-attr]

    def seen(text: str) -> int:
        return sum(text in line for line in list(lines))

    try:
        wait_for(lambda: seen("inv is available") == 1, 15, what="the first reading")
        sim.kill()
        wait_for(lambda: seen("inv is unavailable") == 1, 15, what="the reader to notice the device is gone")
        sim.start()
        wait_for(lambda: seen("inv is available") == 2, 15, what="the reader to read the restarted device")
        assert reader.poll() is None
        assert "Traceback" not in "".join(lines)
    finally:
        reader.terminate()
        reader.wait(10)
        if sim.proc is not None:
            sim.kill()

"""The PI30 inverter simulator seen from the client side, over real ptys and TCP sockets.

Every reply is decoded by the codec (so its CRC is checked); faults are switched at
run time through the control port, the way an outside test harness would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from solarstack.core.errors import CrcError, FrameError, NakError, TransportError
from solarstack.core.fields import Value
from solarstack.protocols import pi30
from solarstack.sim.inverter import Pi30Inverter, _parser, build
from solarstack.transports.hidraw import HidrawTransport
from solarstack.transports.serial import SerialTransport
from solarstack.transports.tcp import TcpTransport

Transport = SerialTransport | TcpTransport | HidrawTransport


def exchange(t: Transport, request: bytes, timeout: float = 2.0) -> bytes:
    """Send one request, return the reply up to its `\\r` (b"" on timeout): the device layer's loop."""
    t.reset_input()
    t.write(request)
    deadline = time.monotonic() + timeout
    buf = b""
    while (end := pi30.frame_end(buf)) is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return b""
        buf = (buf + t.read(left)).lstrip(b"\x00")
    return buf[:end]


def ask(t: Transport, command: str, **kw: float) -> dict[str, Value]:
    return pi30.decode(command, exchange(t, pi30.encode(command), **kw))


class Sim:
    """An in-process simulator on a pty (behind a stable link) and a control port."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.server, self.inverter = build(_parser().parse_args(["--pty", "--seed", "4", *args]))
        self.path = self.server.add_pty(tmp / "ttyINV")
        self.control_port = self.server.add_control()
        self.server.start()
        self._control = socket.create_connection(("127.0.0.1", self.control_port), timeout=5)
        self._file = self._control.makefile("rwb")

    def control(self, line: str) -> str:
        self._file.write(line.encode() + b"\n")
        self._file.flush()
        return self._file.readline().decode().strip()

    def close(self) -> None:
        self._file.close()
        self._control.close()
        self.server.stop()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    s = Sim(tmp_path)
    yield s
    s.close()


@pytest.fixture
def serial_link(sim: Sim) -> Iterator[SerialTransport]:
    t = SerialTransport(sim.path)
    t.open()
    yield t
    t.close()


def test_core_queries_decode_with_valid_crc(sim: Sim, serial_link: SerialTransport) -> None:
    status = ask(serial_link, "QPIGS")
    plant = sim.inverter.plant.snapshot()
    assert status["battery_capacity"] == round(plant.soc)
    assert status["ac_output_active_power"] == round(plant.load_power_w)
    assert status["pv_input_power"] == round(plant.pv_power_w)
    assert 40.0 < status["battery_voltage"] < 60.0  # type: ignore[operator]
    assert status["switched_on"] is True and "extra_21" not in status
    rated = ask(serial_link, "QPIRI")
    assert rated["rated_battery_voltage"] == 48.0 and rated["output_source_priority"] == "sbu"
    assert ask(serial_link, "QMOD")["mode"] in ("battery", "line")
    warnings = ask(serial_link, "QPIWS")
    assert set(warnings) == {key for _, key in pi30.enums.QPIWS_BITS}
    assert all(isinstance(v, bool) for v in warnings.values())
    assert ask(serial_link, "QPI") == {"protocol_id": "PI30"}


def test_every_query_the_codec_knows_is_answered(sim: Sim) -> None:
    """In-process (no link): each query decodes; only other parallel units are refused."""
    for name, command in pi30.COMMANDS.items():
        if not command.read_only:
            continue
        reply = sim.inverter.handle(pi30.encode(command.text))
        values = pi30.decode(command.text, reply)
        assert values, name
        assert not any(k.startswith("extra_") for k in values), (name, values)
    with pytest.raises(NakError):
        pi30.decode("QPGS3", sim.inverter.handle(pi30.encode("QPGS3")))


def test_setter_ack_then_readback(sim: Sim, serial_link: SerialTransport) -> None:
    ctx = pi30.context_from(ask(serial_link, "QPIRI"), ask(serial_link, "QMCHGCR"), ask(serial_link, "QMUCHGCR"))
    for key, value in (
        ("output_source_priority", "utility"),
        ("charger_source_priority", "solar_and_utility"),
        ("battery_recharge_voltage", "46.5"),
        ("battery_redischarge_voltage", "0"),
        ("max_charging_current", "40"),
        ("max_utility_charging_current", "20"),
    ):
        command = pi30.setter_command(key, value, ctx)
        assert ask(serial_link, command) == {"ack": True}, command
    rated = ask(serial_link, "QPIRI")
    assert rated["output_source_priority"] == "utility"
    assert rated["charger_source_priority"] == "solar_and_utility"
    assert rated["battery_recharge_voltage"] == 46.5
    assert rated["battery_redischarge_voltage"] == 0.0
    assert (rated["max_charging_current"], rated["max_ac_charging_current"]) == (40, 20)
    # the plant obeys: utility first means Line mode
    sim.inverter.plant.step()
    assert sim.inverter.plant.controls.max_utility_charging_current == 20.0
    assert ask(serial_link, "QMOD")["mode"] == "line"
    assert ask(serial_link, "PDa") == {"ack": True}
    assert ask(serial_link, "PEj") == {"ack": True}
    flags = ask(serial_link, "QFLAG")
    assert flags["buzzer"] is False and flags["power_saving"] is True
    for clock in ("DAT20300102030405", "DAT300102030405"):  # long and LV6548-style short clock
        assert ask(serial_link, clock) == {"ack": True}
        assert str(ask(serial_link, "QT")["device_time"]).startswith("2030010203")


@pytest.mark.parametrize(
    "command",
    [
        *("PBCV52.0", "PBCV43.9", "PSDV39.0", "PCVV58.5", "PBDV47.9"),  # voltages outside the 48 V unit's ranges
        *("MCHGC035", "MUCHGC025", "MCHGC0600"),  # currents the unit does not offer
        *("POP03", "PCP04", "PBT03", "QXYZ", "DAT20301301000000"),  # unknown choices, commands, dates
    ],
)
def test_out_of_range_or_unknown_is_nak_and_changes_nothing(
    sim: Sim, serial_link: SerialTransport, command: str
) -> None:
    before = ask(serial_link, "QPIRI")
    with pytest.raises(NakError):
        pi30.decode("POP00", exchange(serial_link, pi30.framing.request_frame(command)))
    assert ask(serial_link, "QPIRI") == before


def test_request_crc_checked_both_variants_accepted(sim: Sim, serial_link: SerialTransport) -> None:
    # QED20240115: the two CRC rules differ (low byte 0x00 vs 0x01)
    plain, bumped = pi30.encode("QED20240115"), pi30.encode("QED20240115", bump_zero=True)
    assert plain != bumped
    for request in (plain, bumped):
        assert "pv_energy_day" in pi30.decode("QED20240115", exchange(serial_link, request))
    bad = b"QPIGS\xb7\xaa\r"
    assert exchange(serial_link, bad) == pi30.reply_frame("NAK")
    assert sim.inverter.naks == 1


def test_faults_seen_from_the_client(sim: Sim, serial_link: SerialTransport) -> None:
    assert sim.control("fault crc 1") == "ok"
    with pytest.raises(CrcError):
        ask(serial_link, "QPIGS")
    assert sim.control("fault nak 1") == "ok"
    with pytest.raises(NakError):
        ask(serial_link, "QPIGS")
    assert sim.control("fault garbage 1") == "ok"
    with pytest.raises(FrameError):
        ask(serial_link, "QPIGS")
    assert sim.control("fault silence 1") == "ok"
    start = time.monotonic()
    assert exchange(serial_link, pi30.encode("QMOD"), timeout=0.3) == b""
    assert time.monotonic() - start >= 0.3
    assert ask(serial_link, "QMOD")["mode"]  # faults were one-shot: healthy again
    assert sim.control("fault disconnect 1") == "ok"
    with pytest.raises(TransportError):
        ask(serial_link, "QMOD")
    assert not serial_link.is_open
    serial_link.open()  # the link now names the replugged pty
    assert ask(serial_link, "QPI") == {"protocol_id": "PI30"}
    assert sim.control("state").startswith("ok time=")


def test_slow_2400_baud_pacing(tmp_path: Path) -> None:
    sim = Sim(tmp_path, "--slow")
    t = SerialTransport(sim.path)
    t.open()
    try:
        start = time.monotonic()
        reply = exchange(t, pi30.encode("QPIRI"), timeout=3.0)
        elapsed = time.monotonic() - start
        pi30.decode("QPIRI", reply)
        line_time = len(reply) * 10 / 2400  # ~4.2 ms a byte
        assert line_time <= elapsed < line_time + 0.3
    finally:
        t.close()
        sim.close()


def test_hid_reports_arrive_as_8_byte_reports_at_device_pace(tmp_path: Path) -> None:
    """Reports come paced like the device; the reader wakes on each one (no sleeps), so the
    reply is complete within 20 ms of the last report leaving the device (median of 7)."""
    interval = 0.008
    sim = Sim(tmp_path, "--hid-reports", "--report-interval", str(interval))
    t = HidrawTransport(sim.path)  # the pty stands in for /dev/hidrawN, opened by path
    t.open()
    lags = []
    try:
        for _ in range(7):
            t.reset_input()
            start = time.monotonic()  # before the write: the device may answer before write() returns
            t.write(pi30.encode("QPIGS"))
            chunks = []
            while b"\r" not in b"".join(chunks):
                chunk = t.read(2.0)
                assert chunk, "reply stopped"
                chunks.append(chunk)
            done = time.monotonic()
            assert all(len(c) % 8 == 0 for c in chunks)  # whole, zero-padded reports
            frame = b"".join(chunks)
            assert "battery_voltage" in pi30.decode("QPIGS", frame)  # padding after `\r` is not frame
            assert done - start >= (len(frame) // 8 - 1) * interval  # really paced
            lags.append(done - sim.server.last_write)
        lags.sort()
        assert lags[len(lags) // 2] < 0.020, f"median {lags[len(lags) // 2] * 1000:.1f} ms after the last report"
    finally:
        t.close()
        sim.close()


def test_tcp_clients_share_one_inverter(tmp_path: Path) -> None:
    server, _ = build(_parser().parse_args(["--tcp", "0"]))
    port = server.add_tcp()
    server.start()
    a, b = TcpTransport("127.0.0.1", port), TcpTransport("127.0.0.1", port)
    try:
        a.open()
        b.open()
        assert ask(a, "POP01") == {"ack": True}
        assert ask(b, "QPIRI")["output_source_priority"] == "solar"
    finally:
        a.close()
        b.close()
        server.stop()


def test_cli_prints_the_url_first_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "solarstack.sim.inverter", "--tcp", "0", "--control", "0", "--fault", "nak:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("tcp://127.0.0.1:")
        assert proc.stdout.readline().startswith("control tcp://127.0.0.1:")
        t = TcpTransport("127.0.0.1", int(first.rsplit(":", 1)[1]))
        t.open()
        with pytest.raises(NakError):  # --fault nak:1 from the command line
            ask(t, "QPIGS")
        assert "battery_voltage" in ask(t, "QPIGS")
        t.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_pty_cli_link_removed_on_sigint(tmp_path: Path) -> None:
    link = tmp_path / "ttyINV"
    proc = subprocess.Popen(
        [sys.executable, "-m", "solarstack.sim.inverter", "--pty", "--link", str(link)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == str(link)
        assert os.path.realpath(link).startswith("/dev/pts/")
        t = SerialTransport(str(link))
        t.open()
        assert ask(t, "QMOD")["mode"]
        t.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
        assert not link.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_inverter_is_deterministic_for_a_seed() -> None:
    a = Pi30Inverter(build(_parser().parse_args(["--pty", "--start", "2026-06-21T12:00:00"]))[1].plant)
    b = Pi30Inverter(build(_parser().parse_args(["--pty", "--start", "2026-06-21T12:00:00"]))[1].plant)
    assert a.handle(pi30.encode("QPIRI")) == b.handle(pi30.encode("QPIRI"))

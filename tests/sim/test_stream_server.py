"""The protocol-agnostic stream server: pty and TCP, pacing, every fault, control port, no leaks."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from solarstack.core.errors import TransportError
from solarstack.sim.faults import Fault, Faults, Rate, parse_fault
from solarstack.sim.pacing import Pacing
from solarstack.sim.session import BaseSession
from solarstack.sim.stream import StreamServer
from solarstack.transports.serial import SerialTransport
from solarstack.transports.tcp import TcpTransport
from support import wait_for


class LineEcho(BaseSession):
    """Answers each `\\n`-terminated line with `<LINE>!\\n`."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        out = []
        while b"\n" in self.buf:
            line, _, self.buf = self.buf.partition(b"\n")
            out.append(line.upper() + b"!\n")
        return out

    def nak(self) -> bytes | None:
        return b"NO\n"


def read_line(t: SerialTransport | TcpTransport, timeout: float = 2.0) -> bytes:
    deadline = time.monotonic() + timeout
    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        buf += t.read(left)
    return buf


@pytest.fixture
def server() -> Iterator[StreamServer]:
    s = StreamServer(LineEcho)
    yield s
    s.stop()


def test_pty_and_tcp_serve_sessions(server: StreamServer, tmp_path: Path) -> None:
    path = server.add_pty(tmp_path / "ttySIM")
    port = server.add_tcp()
    server.start()
    ser = SerialTransport(path)
    tcp = TcpTransport("127.0.0.1", port)
    for t in (ser, tcp):
        t.open()
        t.write(b"hello\n")
        assert read_line(t) == b"HELLO!\n"
        t.close()


def test_faults_seen_from_the_client(server: StreamServer, tmp_path: Path) -> None:
    path = server.add_pty(tmp_path / "ttySIM")
    server.start()
    t = SerialTransport(path)
    t.open()
    server.set_fault(Fault.NAK, 1)
    t.write(b"a\n")
    assert read_line(t) == b"NO\n"
    server.set_fault(Fault.CRC, 1)
    t.write(b"abc\n")
    assert read_line(t) == b"AB" + bytes([ord("C") ^ 1]) + b"!\n"  # middle byte flipped
    server.set_fault(Fault.SILENCE, 1)
    t.write(b"x\n")
    assert read_line(t, 0.2) == b""
    t.write(b"y\n")  # one-shot faults are used up
    assert read_line(t) == b"Y!\n"
    server.set_fault(Fault.GARBAGE, 1)
    t.write(b"z\n")
    assert t.read(1.0) != b"Z!\n"
    t.reset_input()
    server.set_fault(Fault.DISCONNECT, 1)
    t.write(b"bye\n")
    with pytest.raises(TransportError):
        read_line(t)
    # the link now points at a fresh pty: reopening works, like a replugged adapter
    t.open()
    t.write(b"back\n")
    assert read_line(t) == b"BACK!\n"
    assert server.disconnects == 1
    t.close()


def test_tcp_disconnect_fault_then_reconnect(server: StreamServer) -> None:
    port = server.add_tcp()
    server.start()
    server.set_fault(Fault.DISCONNECT, 1)
    t = TcpTransport("127.0.0.1", port)
    t.open()
    t.write(b"a\n")
    with pytest.raises(TransportError, match="closed"):
        read_line(t)
    t.open()
    t.write(b"b\n")
    assert read_line(t) == b"B!\n"
    t.close()


def test_baud_pacing_takes_the_line_time(server: StreamServer) -> None:
    port = server.add_tcp()
    server.set_pacing(Pacing(baud=2400))
    server.start()
    t = TcpTransport("127.0.0.1", port)
    t.open()
    start = time.monotonic()
    t.write(b"x" * 47 + b"\n")
    assert read_line(t) == b"X" * 47 + b"!\n"
    elapsed = time.monotonic() - start
    expected = 49 * 10 / 2400  # 49 bytes, 10 bits each: ~0.204 s
    assert expected <= elapsed < expected + 0.3
    t.close()


def test_hid_report_pacing_schedule() -> None:
    plan = Pacing(report_size=8, report_interval=0.01).schedule(b"(ACK9 \r", 100.0)
    assert plan == [(100.0, b"(ACK9 \r\x00")]
    plan = Pacing(report_size=8, report_interval=0.01, latency=0.05).schedule(b"0123456789", 1.0)
    assert plan == [(1.05, b"01234567"), (1.06, b"89" + b"\x00" * 6)]


def test_control_port_line_protocol(server: StreamServer) -> None:
    port = server.add_tcp()
    control = server.add_control()
    server.start()
    with socket.create_connection(("127.0.0.1", control), timeout=2) as c:
        f = c.makefile("rwb")

        def ask(line: str) -> str:
            f.write(line.encode() + b"\n")
            f.flush()
            return f.readline().decode().strip()

        assert ask("fault nak 2") == "ok"
        assert ask("pace 9600") == "ok"
        assert ask("status") == "ok faults=nak:2 pace=baud=9600"
        assert ask("fault garbage @0.5") == "ok"
        assert ask("status") == "ok faults=nak:2,garbage:@0.5 pace=baud=9600"
        assert ask("fault garbage 0") == "ok"
        assert ask("fault meltdown").startswith("error unknown fault 'meltdown'")
        assert ask("dance").startswith("error unknown command")
        t = TcpTransport("127.0.0.1", port)
        t.open()
        t.write(b"q\n")
        assert read_line(t) == b"NO\n"
        assert ask("clear") == "ok"
        assert ask("pace off") == "ok"
        t.write(b"q\n")
        assert read_line(t) == b"Q!\n"
        t.close()


def test_parse_fault() -> None:
    assert parse_fault("crc") == (Fault.CRC, None)
    assert parse_fault("nak:3") == (Fault.NAK, 3)
    assert parse_fault("silence:always") == (Fault.SILENCE, None)
    assert parse_fault("garbage@0.25") == (Fault.GARBAGE, Rate(0.25))
    with pytest.raises(ValueError, match="whole number"):
        parse_fault("crc:x")
    with pytest.raises(ValueError, match="probability"):
        parse_fault("crc@2")


def test_fault_rate_hits_about_that_share_and_repeats_for_a_seed() -> None:
    a, b = Faults(seed=5), Faults(seed=5)
    a.arm(Fault.CRC, Rate(0.2))
    b.arm(Fault.CRC, Rate(0.2))
    hits = [a.take() for _ in range(2000)]
    assert hits == [b.take() for _ in range(2000)]
    assert 300 < hits.count(Fault.CRC) < 500
    assert set(hits) == {Fault.CRC, None}


def test_stop_releases_every_descriptor(tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        s = StreamServer(LineEcho)
        link = tmp_path / "ttySIM"
        s.add_pty(link)
        s.add_tcp()
        s.add_control()
        s.start()
        s.stop()
        s.stop()  # idempotent
        assert not link.exists()
    idle = StreamServer(LineEcho)  # never started: stop() still releases everything
    idle.add_pty(tmp_path / "ttyIDLE")
    idle.add_tcp()
    idle.stop()
    assert not (tmp_path / "ttyIDLE").exists()
    assert len(os.listdir("/proc/self/fd")) == before


def test_tcp_clients_coming_and_going_leak_nothing(server: StreamServer) -> None:
    port = server.add_tcp()
    server.start()
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(30):
        t = TcpTransport("127.0.0.1", port)
        t.open()
        t.write(b"ping\n")
        assert read_line(t) == b"PING!\n"
        t.close()
    # the server drops each client when it sees the close
    wait_for(lambda: not server._links, 5, what="every client dropped")
    assert len(os.listdir("/proc/self/fd")) == fds


class Broken(LineEcho):
    def feed(self, data: bytes) -> list[bytes]:
        if b"boom" in data:
            raise RuntimeError("simulator bug")
        return super().feed(data)


def test_a_failing_session_does_not_stop_the_server(caplog: pytest.LogCaptureFixture) -> None:
    server = StreamServer(Broken)
    port = server.add_tcp()
    server.start()
    t = TcpTransport("127.0.0.1", port)
    try:
        t.open()
        t.write(b"boom\n")
        assert read_line(t, 0.2) == b""
        t.write(b"fine\n")
        assert read_line(t) == b"FINE!\n"
        assert "session failed" in caplog.text
    finally:
        t.close()
        server.stop()

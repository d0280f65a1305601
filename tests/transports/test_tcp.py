"""TcpTransport against a real loopback server: timeouts, partial reads, peer close, reopen, fds."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from solarstack.core.errors import TransportError
from solarstack.transports.tcp import TcpTransport


class Server:
    """A one-client-at-a-time TCP server the test scripts from its own side."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self) -> socket.socket:
        self.listener.settimeout(5)
        self.conn, _ = self.listener.accept()
        return self.conn

    def close(self) -> None:
        if self.conn:
            self.conn.close()
        self.listener.close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def test_roundtrip_and_nodelay(server: Server) -> None:
    t = TcpTransport("127.0.0.1", server.port)
    t.open()
    try:
        conn = server.accept()
        t.write(b"QMOD\x49\xc1\r")
        assert conn.recv(64) == b"QMOD\x49\xc1\r"
        assert t._sock is not None
        assert t._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        conn.sendall(b"(B")
        assert t.read(1.0) == b"(B"  # partial: returned at once
        conn.sendall(b"\xe7\xc9\r")
        assert t.read(1.0) == b"\xe7\xc9\r"
    finally:
        t.close()


def test_read_timeout_returns_empty(server: Server) -> None:
    t = TcpTransport("127.0.0.1", server.port)
    t.open()
    try:
        server.accept()
        start = time.monotonic()
        assert t.read(0.15) == b""
        assert 0.13 <= time.monotonic() - start < 1.0
        assert t.read(0) == b""
    finally:
        t.close()


def test_peer_close_raises_then_reopen_works(server: Server) -> None:
    t = TcpTransport("127.0.0.1", server.port)
    t.open()
    conn = server.accept()
    conn.close()
    with pytest.raises(TransportError, match="closed"):
        t.read(1.0)
    assert not t.is_open
    t.open()
    conn = server.accept()
    conn.sendall(b"again")
    assert t.read(1.0) == b"again"
    t.close()


def test_reset_by_peer_raises_transport_error(server: Server) -> None:
    t = TcpTransport("127.0.0.1", server.port)
    t.open()
    conn = server.accept()
    # SO_LINGER 0: close sends RST, what a rebooting ESP32 bridge looks like
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()
    with pytest.raises(TransportError, match=r"reset|closed"):
        t.read(1.0)
    assert not t.is_open


def test_reset_input_drops_stale_bytes(server: Server) -> None:
    t = TcpTransport("127.0.0.1", server.port)
    t.open()
    try:
        conn = server.accept()
        conn.sendall(b"old reply\r")
        # wait until the kernel holds them on our side before dropping them
        assert t._sock is not None
        deadline = time.monotonic() + 2
        while len(t._sock.recv(64, socket.MSG_PEEK | socket.MSG_DONTWAIT) or b"") < 10:
            assert time.monotonic() < deadline
        t.reset_input()
        assert t.read(0.05) == b""
    finally:
        t.close()


def test_connect_refused_and_no_fd_leak(fd_count: Callable[[], int]) -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    t = TcpTransport("127.0.0.1", port, connect_timeout=1.0)
    before = fd_count()
    for _ in range(30):
        with pytest.raises(TransportError, match="cannot connect"):
            t.open()
    assert fd_count() == before


def test_many_connections_leak_no_descriptors(server: Server, fd_count: Callable[[], int]) -> None:
    accepted: list[socket.socket] = []

    def acceptor() -> None:
        for _ in range(40):
            accepted.append(server.listener.accept()[0])

    thread = threading.Thread(target=acceptor)
    thread.start()
    t = TcpTransport("127.0.0.1", server.port)
    before = fd_count()
    for _ in range(40):
        t.open()
        t.open()
        t.write(b"Q")
        t.close()
        t.close()
    thread.join(5)
    for conn in accepted:
        conn.close()
    assert fd_count() == before


def test_a_host_name_the_resolver_refuses_is_a_transport_error() -> None:
    """IDNA refuses a 64-character label with UnicodeError (a ValueError, not an OSError)."""
    t = TcpTransport("a" * 64 + ".example", 8899, connect_timeout=1.0)
    with pytest.raises(TransportError, match="cannot connect"):
        t.open()
    assert not t.is_open

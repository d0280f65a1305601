"""Transports layer: a TCP byte stream (serial-to-ethernet bridges, ESP32 bridges, simulators).

Connect and every read/write have explicit timeouts; TCP_NODELAY because requests
are a few bytes and Nagle would hold them back for an ACK. A reset or a peer that
closes raises TransportError and closes the socket; the next `open()` reconnects.
Must not import protocols/ and must not know where a frame ends.
"""

from __future__ import annotations

import contextlib
import socket

from solarstack.core.errors import TransportError
from solarstack.transports.base import LINK_ERRORS

RECV_SIZE = 4096


class TcpTransport:
    """A TCP client connection; `open()` is lazy and idempotent."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = 5.0, write_timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.write_timeout = write_timeout
        self._sock: socket.socket | None = None

    def __repr__(self) -> str:
        return f"TcpTransport({self.host!r}, {self.port})"

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def open(self) -> None:
        if self._sock is not None:
            return
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except LINK_ERRORS as exc:  # OSError, and UnicodeError for a host name IDNA refuses
            raise TransportError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except LINK_ERRORS as exc:
            sock.close()
            raise TransportError(f"{self.host}:{self.port}: {exc}") from exc
        self._sock = sock

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise TransportError(f"{self.host}:{self.port} is not connected")
        return self._sock

    def _fail(self, what: str, exc: BaseException | None = None) -> TransportError:
        self.close()
        detail = f": {exc}" if exc else ""
        return TransportError(f"{what} {self.host}:{self.port}{detail}")

    def write(self, data: bytes) -> None:
        sock = self._socket()
        try:
            sock.settimeout(self.write_timeout)
            sock.sendall(data)
        except LINK_ERRORS as exc:  # includes TimeoutError: a stuck peer is a dead link
            raise self._fail("write to", exc) from exc

    def read(self, timeout: float) -> bytes:
        sock = self._socket()
        try:
            sock.settimeout(max(0.0, timeout))
            data = sock.recv(RECV_SIZE)
        except TimeoutError:
            return b""
        except BlockingIOError:  # timeout 0 and nothing there
            return b""
        except LINK_ERRORS as exc:
            raise self._fail("read from", exc) from exc
        if not data:
            raise self._fail("connection closed by")
        return data

    def reset_input(self) -> None:
        sock = self._socket()
        try:
            sock.setblocking(False)
            while True:
                if not sock.recv(RECV_SIZE):
                    raise self._fail("connection closed by")
        except BlockingIOError:
            return  # drained
        except LINK_ERRORS as exc:
            raise self._fail("read from", exc) from exc

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(*LINK_ERRORS):
                sock.close()

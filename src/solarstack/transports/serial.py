"""Transports layer: a serial port (RS232 / USB-serial adapters) through pyserial.

Default line settings are the PI30 inverters' 2400 8N1; the device URL overrides them
(`?baud=9600&parity=E`). Reads wait on the port with pyserial's own timeout and then
take whatever else already arrived (`in_waiting`), so a reply costs its transfer time
and nothing more. An unplugged adapter — SerialException / OSError, and termios.error
from tcflush / tcsetattr on a hung-up tty, which is not an OSError — closes the port and
raises TransportError; the next `open()` succeeds once the node is back.
Must not import protocols/ and must not know where a frame ends.
"""

from __future__ import annotations

import contextlib
import errno
import os

import serial

from solarstack.core.errors import TransportError
from solarstack.transports.base import LINK_ERRORS

#: pyserial parity letters: none, even, odd, mark, space.
PARITIES = ("N", "E", "O", "M", "S")
BYTESIZES = (5, 6, 7, 8)
STOPBITS = (1.0, 1.5, 2.0)


class SerialTransport:
    """A serial port; `open()` is lazy and idempotent, failures close it for a clean reopen."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 2400,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1.0,
        write_timeout: float = 2.0,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.bytesize = bytesize
        self.parity = parity
        self.stopbits = stopbits
        self.write_timeout = write_timeout
        self._serial: serial.Serial | None = None
        self._timeout: float | None = None

    def __repr__(self) -> str:
        return f"SerialTransport({self.port!r}, {self.baudrate} {self.bytesize}{self.parity}{self.stopbits:g})"

    @property
    def is_open(self) -> bool:
        return self._serial is not None and bool(self._serial.is_open)

    def open(self) -> None:
        if self.is_open:
            return
        port = serial.Serial()  # unopened: configure first, so a bad setting never leaves an fd behind
        port.port = self.port
        port.baudrate = self.baudrate
        port.bytesize = self.bytesize
        port.parity = self.parity
        port.stopbits = self.stopbits
        port.timeout = self._timeout = 0.0
        # The whole request must leave in bounded time even at 2400 baud (~4 ms a byte).
        port.write_timeout = self.write_timeout
        # Two readers on one inverter interleave replies: refuse a port someone else holds.
        port.exclusive = True
        try:
            port.open()
        except LINK_ERRORS as exc:  # pyserial closes its fd itself when open() fails
            raise TransportError(f"cannot open {self.port}: {_reason(exc)}") from exc
        self._serial = port

    def _port(self) -> serial.Serial:
        if self._serial is None or not self._serial.is_open:
            raise TransportError(f"{self.port} is not open")
        return self._serial

    def write(self, data: bytes) -> None:
        port = self._port()
        try:
            sent = port.write(data)
        except LINK_ERRORS as exc:
            self.close()
            raise TransportError(f"write to {self.port} failed: {exc}") from exc
        if sent != len(data):
            self.close()
            raise TransportError(f"write to {self.port} timed out after {sent} of {len(data)} bytes")

    def read(self, timeout: float) -> bytes:
        port = self._port()
        try:
            wanted = max(0.0, timeout)
            if wanted != self._timeout:  # pyserial reconfigures the tty on every change: skip if equal
                port.timeout = self._timeout = wanted
            first: bytes = port.read(1)  # returns as soon as one byte is there, or b"" at the timeout
            if not first:
                return b""
            waiting = port.in_waiting
            return first + bytes(port.read(waiting)) if waiting else first
        except LINK_ERRORS as exc:  # e.g. termios.error EIO from the timeout's tcsetattr
            self.close()
            raise TransportError(f"read from {self.port} failed: {exc}") from exc

    def reset_input(self) -> None:
        port = self._port()
        try:
            port.reset_input_buffer()
        except LINK_ERRORS as exc:  # tcflush on a hung-up tty: termios.error EIO
            self.close()
            raise TransportError(f"cannot flush {self.port}: {exc}") from exc

    def close(self) -> None:
        port, self._serial = self._serial, None
        if port is None:
            return
        # The node may be gone already; pyserial drops its fd either way.
        with contextlib.suppress(*LINK_ERRORS):
            port.close()


def _reason(exc: BaseException) -> str:
    """`No such file or directory`, not pyserial's `[Errno 2] could not open port X: [Errno 2] …`:
    a hot-plug warning repeats at every retry, so it says it once."""
    code = getattr(exc, "errno", None)
    if code == errno.EWOULDBLOCK:  # flock refused (exclusive=True)
        return "in use by another process (it holds the port's exclusive lock)"
    return os.strerror(code) if isinstance(code, int) and code > 0 else str(exc)

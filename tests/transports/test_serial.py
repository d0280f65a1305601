"""SerialTransport over a real pty: reads, timeouts, partial reads, unplug and reopen, fds."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from solarstack.core.errors import TransportError
from solarstack.transports.serial import SerialTransport


def read_until(t: SerialTransport, end: bytes, timeout: float = 2.0) -> bytes:
    deadline = time.monotonic() + timeout
    buf = b""
    while not buf.endswith(end) and time.monotonic() < deadline:
        buf += t.read(deadline - time.monotonic())
    return buf


def test_write_reaches_the_device_and_reply_comes_back(pty_pair: Any) -> None:
    t = SerialTransport(pty_pair.path)
    t.open()
    try:
        t.write(b"QPIGS\xb7\xa9\r")
        got = b""
        while len(got) < 8:
            got += os.read(pty_pair.master, 64)
        assert got == b"QPIGS\xb7\xa9\r"
        os.write(pty_pair.master, b"(B\xe7\xc9\r")
        assert read_until(t, b"\r") == b"(B\xe7\xc9\r"
    finally:
        t.close()


def test_read_times_out_with_empty_bytes_on_time(pty_pair: Any) -> None:
    t = SerialTransport(pty_pair.path)
    t.open()
    try:
        start = time.monotonic()
        assert t.read(0.2) == b""
        elapsed = time.monotonic() - start
        assert 0.18 <= elapsed < 1.0
    finally:
        t.close()


def test_read_returns_partial_data_as_soon_as_it_arrives(pty_pair: Any) -> None:
    """A half reply is returned at once, not held until the timeout."""
    t = SerialTransport(pty_pair.path)
    t.open()
    try:
        os.write(pty_pair.master, b"(230.0 ")
        start = time.monotonic()
        assert t.read(2.0) == b"(230.0 "
        assert time.monotonic() - start < 1.0
        timer = threading.Timer(0.1, os.write, (pty_pair.master, b"50.0\r"))
        timer.start()
        assert read_until(t, b"\r") == b"50.0\r"
        timer.join()
    finally:
        t.close()


def test_reset_input_drops_stale_bytes(pty_pair: Any) -> None:
    t = SerialTransport(pty_pair.path)
    t.open()
    try:
        os.write(pty_pair.master, b"(late answer\r")
        # wait until the kernel has the bytes on our side before dropping them
        deadline = time.monotonic() + 2
        while t._serial is not None and t._serial.in_waiting < 13 and time.monotonic() < deadline:
            time.sleep(0.001)
        t.reset_input()
        assert t.read(0.05) == b""
    finally:
        t.close()


def test_open_missing_port_raises_transport_error_and_leaks_nothing(
    tmp_path: os.PathLike[str], fd_count: Callable[[], int]
) -> None:
    before = fd_count()
    t = SerialTransport(f"{tmp_path}/ttyUSB9")
    for _ in range(20):
        with pytest.raises(TransportError, match="cannot open"):
            t.open()
    assert not t.is_open
    assert fd_count() == before


def test_unplug_raises_and_reopen_works_when_the_node_returns(pty_pair: Any, tmp_path: os.PathLike[str]) -> None:
    """A stable symlink stands for /dev/serial/by-id; the pty behind it goes away and comes back."""
    link = f"{tmp_path}/ttyUSB0"
    os.symlink(pty_pair.path, link)
    t = SerialTransport(link)
    t.open()
    pty_pair.close()  # unplug: the master side hangs up
    with pytest.raises(TransportError):
        t.read(1.0)
    assert not t.is_open
    with pytest.raises(TransportError):
        t.open()  # the node is gone
    master, slave = os.openpty()
    try:
        os.unlink(link)
        os.symlink(os.ttyname(slave), link)
        t.open()
        os.write(master, b"back\r")
        assert read_until(t, b"\r") == b"back\r"
    finally:
        t.close()
        os.close(master)
        os.close(slave)


def test_many_open_close_cycles_leak_no_descriptors(pty_pair: Any, fd_count: Callable[[], int]) -> None:
    t = SerialTransport(pty_pair.path)
    before = fd_count()
    for _ in range(50):
        t.open()
        t.open()  # idempotent
        t.write(b"Q")
        t.close()
        t.close()  # idempotent
    assert fd_count() == before


def test_line_settings_from_the_constructor(pty_pair: Any) -> None:
    t = SerialTransport(pty_pair.path, baudrate=9600, parity="E", stopbits=2)
    t.open()
    try:
        assert t._serial is not None
        assert (t._serial.baudrate, t._serial.parity, t._serial.stopbits) == (9600, "E", 2)
    finally:
        t.close()


def test_operations_on_a_closed_transport_raise_transport_error(pty_pair: Any) -> None:
    t = SerialTransport(pty_pair.path)
    for call in (lambda: t.write(b"x"), lambda: t.read(0.01), t.reset_input):
        with pytest.raises(TransportError):
            call()


@pytest.mark.parametrize("call", ["reset_input", "read", "write"])
def test_every_call_on_a_hung_up_port_raises_transport_error_and_closes(call: str) -> None:
    """After the device side hangs up, tcflush/tcsetattr raise termios.error (not an OSError):
    it must leave as TransportError with the port closed, so the next open() gets the new node."""
    master, slave = os.openpty()
    t = SerialTransport(os.ttyname(slave))
    t.open()
    t.read(0.01)  # the timeout a poll normally sets, so read() changes it below (tcsetattr)
    os.close(master)
    os.close(slave)  # the device is gone: only our descriptor is left, hung up
    try:
        with pytest.raises(TransportError):
            {"reset_input": t.reset_input, "read": lambda: t.read(0.2), "write": lambda: t.write(b"QPIGS\r")}[call]()
        assert not t.is_open
    finally:
        t.close()


def test_a_port_another_process_holds_says_so(pty_pair: Any) -> None:
    """Two readers on one inverter would interleave replies: the second is refused, in words."""
    first, second = SerialTransport(pty_pair.path), SerialTransport(pty_pair.path)
    first.open()
    try:
        with pytest.raises(TransportError, match="in use by another process"):
            second.open()
        assert not second.is_open
    finally:
        first.close()

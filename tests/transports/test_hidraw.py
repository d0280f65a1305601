"""HidrawTransport: 8-byte reports out, event-driven reads in, VID:PID lookup, unplug, fds.

A raw pty stands in for /dev/hidrawN (opened by path, like the real node); the test
plays the device from the master side, sending zero-padded 8-byte reports at a pace.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from solarstack.core.errors import TransportError
from solarstack.transports.hidraw import HidrawTransport, find_hidraw, reports

QPIGS = b"QPIGS\xb7\xa9\r"


def read_frame(t: HidrawTransport, timeout: float = 2.0) -> bytes:
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\r" not in buf and time.monotonic() < deadline:
        buf += t.read(deadline - time.monotonic())
    return buf


def test_reports_split_and_pad() -> None:
    assert reports(QPIGS) == [QPIGS]  # exactly one report, no padding
    long = b"MUCHGC0030\x12\x34\r"
    assert reports(long) == [b"MUCHGC00", b"30\x12\x34\r\x00\x00\x00"]
    assert reports(b"") == [b"\x00" * 8]


def test_request_goes_out_as_zero_padded_reports(pty_pair: Any) -> None:
    t = HidrawTransport(pty_pair.path)
    t.open()
    try:
        t.write(b"QPIRI\xf8\x54\rPOP02\xe2\x0b\r")  # 16 bytes: two full reports
        t.write(b"QMOD\x49\xc1\r")  # 7 bytes: one report, one zero of padding
        got = b""
        while len(got) < 24:
            got += os.read(pty_pair.master, 64)
        assert got == b"QPIRI\xf8\x54\rPOP02\xe2\x0b\rQMOD\x49\xc1\r\x00"
    finally:
        t.close()


def test_paced_reports_arrive_without_added_delay(pty_pair: Any) -> None:
    """The reply costs the device's own pace: each read wakes on the report, not on a timer."""
    reply = b"(230.0 50.0 230.0 50.0 0115 0087 002 411 54.10 000 100 0035 0000 000.0 00.00 00000 00010101\x9f\xa6\r"
    chunks = reports(reply)
    pace = 0.008
    t = HidrawTransport(pty_pair.path)
    t.open()
    sent_at: list[float] = []

    def device() -> None:
        start = time.monotonic()
        for i, chunk in enumerate(chunks):
            delay = start + i * pace - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the simulated device's own pace
            sent_at.append(time.monotonic())
            os.write(pty_pair.master, chunk)

    lags = []
    try:
        for _ in range(5):
            sent_at.clear()
            thread = threading.Thread(target=device)
            thread.start()
            got = read_frame(t)
            done = time.monotonic()
            thread.join()
            assert got.rstrip(b"\x00") == reply
            lags.append(done - sent_at[-1])
        # median of five: one reply delayed by a busy machine is not the transport's doing
        lag = sorted(lags)[2]
        assert lag < 0.020, f"reply complete {lag * 1000:.1f} ms after the last report"
    finally:
        t.close()


def test_read_timeout_and_reset_input(pty_pair: Any) -> None:
    t = HidrawTransport(pty_pair.path)
    t.open()
    try:
        start = time.monotonic()
        assert t.read(0.1) == b""
        assert 0.09 <= time.monotonic() - start < 1.0
        os.write(pty_pair.master, b"(NAKss\r\x00")
        assert t.read(1.0) == b"(NAKss\r\x00"  # padding is the device layer's business
        os.write(pty_pair.master, b"stale\r\x00\x00")
        deadline = time.monotonic() + 2
        while not select.select([t._fd], [], [], 0)[0]:
            assert time.monotonic() < deadline
        t.reset_input()
        assert t.read(0.02) == b""
    finally:
        t.close()


def make_sysfs(root: Path, entries: dict[str, str]) -> Path:
    sysfs = root / "sys/class/hidraw"
    for name, hid_id in entries.items():
        dev = sysfs / name / "device"
        dev.mkdir(parents=True)
        (dev / "uevent").write_text(f"DRIVER=hid-generic\nHID_ID={hid_id}\nHID_NAME=Some Device\n")
    return sysfs


def test_find_by_vid_pid(tmp_path: Path) -> None:
    sysfs = make_sysfs(
        tmp_path,
        {"hidraw0": "0003:0000046D:0000C52B", "hidraw1": "0003:00000665:00005161", "hidraw2": "0003:00000665:00005161"},
    )
    assert find_hidraw(0x0665, 0x5161, sysfs=sysfs, dev_dir=tmp_path / "dev") == tmp_path / "dev/hidraw1"
    assert find_hidraw(0x046D, 0xC52B, sysfs=sysfs, dev_dir=Path("/dev")) == Path("/dev/hidraw0")
    assert find_hidraw(0x1234, 0x5678, sysfs=sysfs) is None
    assert find_hidraw(0x0665, 0x5161, sysfs=tmp_path / "nothing") is None


def test_open_by_vid_pid_follows_the_node_after_replug(pty_pair: Any, tmp_path: Path) -> None:
    """Found through sysfs; after an unplug the inverter comes back as another hidrawN."""
    sysfs = make_sysfs(tmp_path, {"hidraw0": "0003:0000046D:0000C52B", "hidraw3": "0003:00000665:00005161"})
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "hidraw3").symlink_to(pty_pair.path)
    t = HidrawTransport(vid=0x0665, pid=0x5161, sysfs=sysfs, dev_dir=dev)
    t.open()
    assert t.node == dev / "hidraw3"
    os.write(pty_pair.master, b"(B\xe7\xc9\r\x00\x00\x00")
    assert read_frame(t) == b"(B\xe7\xc9\r\x00\x00\x00"

    pty_pair.close()  # unplug
    with pytest.raises(TransportError):
        t.read(1.0)
    assert not t.is_open
    (sysfs / "hidraw3" / "device" / "uevent").unlink()
    (dev / "hidraw3").unlink()
    with pytest.raises(TransportError, match="0665:5161"):
        t.open()

    master, slave = os.openpty()  # replugged as hidraw5
    try:
        (sysfs / "hidraw5" / "device").mkdir(parents=True)
        (sysfs / "hidraw5" / "device" / "uevent").write_text("HID_ID=0003:00000665:00005161\n")
        (dev / "hidraw5").symlink_to(os.ttyname(slave))
        tty.setraw(slave)
        t.open()
        assert t.node == dev / "hidraw5"
        os.write(master, b"(L\x06\x07\r\x00\x00\x00")
        assert read_frame(t) == b"(L\x06\x07\r\x00\x00\x00"
    finally:
        t.close()
        os.close(master)
        os.close(slave)


def test_no_descriptor_leaks(pty_pair: Any, tmp_path: Path, fd_count: Callable[[], int]) -> None:
    before = fd_count()
    t = HidrawTransport(pty_pair.path)
    for _ in range(50):
        t.open()
        t.open()
        t.write(QPIGS)
        t.read(0)
        t.close()
        t.close()
    missing = HidrawTransport(tmp_path / "hidraw9")
    for _ in range(20):
        with pytest.raises(TransportError):
            missing.open()
    assert fd_count() == before


def test_needs_a_path_or_both_ids() -> None:
    with pytest.raises(ValueError):
        HidrawTransport(vid=0x0665)


def test_a_malformed_sysfs_entry_is_a_transport_error(tmp_path: Path) -> None:
    """A uevent that is not hex (a half-written sysfs entry) must not escape as ValueError."""
    sysfs = make_sysfs(tmp_path, {"hidraw0": "0003:zzzz:00005161"})
    t = HidrawTransport(vid=0x0665, pid=0x5161, sysfs=sysfs, dev_dir=tmp_path / "dev")
    with pytest.raises(TransportError, match="0665:5161"):
        t.open()
    assert not t.is_open

"""Transports layer: a USB-HID inverter through Linux hidraw (`/dev/hidrawN`).

The Voltronic USB interface (VID:PID 0665:5161) carries the serial protocol inside
8-byte HID reports with no report-id byte: a request goes out as 8-byte reports (the
last zero-padded) and the reply comes back as 8-byte reports until its `\\r`. Reads
wait on the descriptor with poll(), so a reply costs the device's own report pace
and nothing more — tools that sleep between reads spend seconds per reply. Each read
returns the report bytes as received (padding included: the device layer knows the
frame ends at `\\r`). Because hidraw numbering moves when other HID devices appear,
the node can be found by VID:PID in sysfs (`/sys/class/hidraw/*/device/uevent`,
`HID_ID=0003:00000665:00005161`). Must not import protocols/.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from pathlib import Path

from solarstack.core.errors import TransportError
from solarstack.transports.base import LINK_ERRORS

REPORT_SIZE = 8
#: A read asks for more than one report so a larger report size never truncates.
READ_SIZE = 64
SYSFS_HIDRAW = Path("/sys/class/hidraw")
DEV_DIR = Path("/dev")
_POLL_FAIL = select.POLLERR | select.POLLHUP | select.POLLNVAL


def find_hidraw(vid: int, pid: int, *, sysfs: Path = SYSFS_HIDRAW, dev_dir: Path = DEV_DIR) -> Path | None:
    """The /dev node of the first hidraw device whose HID_ID matches vid:pid, or None."""
    for entry in sorted(sysfs.glob("hidraw*")):
        try:
            uevent = (entry / "device" / "uevent").read_text()
        except OSError:
            continue  # unplugged while we looked
        for line in uevent.splitlines():
            key, _, value = line.partition("=")
            if key != "HID_ID":
                continue
            parts = value.split(":")  # bus:vendor:product, each hex
            if len(parts) == 3 and int(parts[1], 16) == vid and int(parts[2], 16) == pid:
                return dev_dir / entry.name
    return None


def reports(data: bytes, size: int = REPORT_SIZE) -> list[bytes]:
    """Split a request into `size`-byte reports, zero-padding the last one."""
    chunks = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    chunks[-1] = chunks[-1].ljust(size, b"\x00")
    return chunks


class HidrawTransport:
    """A hidraw node opened non-blocking; found by path or by VID:PID at each open."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        vid: int | None = None,
        pid: int | None = None,
        sysfs: Path = SYSFS_HIDRAW,
        dev_dir: Path = DEV_DIR,
        write_timeout: float = 2.0,
    ) -> None:
        if path is None and (vid is None or pid is None):
            raise ValueError("give a hidraw path or both vid and pid")
        self.path = Path(path) if path is not None else None
        self.vid = vid
        self.pid = pid
        self.sysfs = sysfs
        self.dev_dir = dev_dir
        self.write_timeout = write_timeout
        self._fd: int | None = None
        self._poll = select.poll()
        self.node: Path | None = None  # the node last opened (VID:PID lookups move it)

    def __repr__(self) -> str:
        where = str(self.path) if self.path else f"{self.vid:04x}:{self.pid:04x}"
        return f"HidrawTransport({where!r})"

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def _resolve(self) -> Path:
        if self.path is not None:
            return self.path
        assert self.vid is not None and self.pid is not None
        # Looked up at every open: after a replug the same inverter may be another hidrawN.
        try:
            node = find_hidraw(self.vid, self.pid, sysfs=self.sysfs, dev_dir=self.dev_dir)
        except LINK_ERRORS as exc:  # sysfs changing under us (unplug), a malformed uevent
            raise TransportError(f"looking for hidraw device {self.vid:04x}:{self.pid:04x} failed: {exc}") from exc
        if node is None:
            raise TransportError(f"no hidraw device {self.vid:04x}:{self.pid:04x} (unplugged?)")
        return node

    def open(self) -> None:
        if self._fd is not None:
            return
        node = self._resolve()
        try:
            # O_NOCTTY: harmless on hidraw, and keeps a tty stand-in from becoming our terminal.
            fd = os.open(node, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except LINK_ERRORS as exc:
            raise TransportError(f"cannot open {node}: {_reason(exc)}") from exc
        self._fd = fd
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)
        self.node = node

    def _descriptor(self) -> int:
        if self._fd is None:
            raise TransportError("hidraw device is not open")
        return self._fd

    def _fail(self, what: str, exc: BaseException | None = None) -> TransportError:
        self.close()
        return TransportError(f"{what}: {_reason(exc) if exc else 'device gone'}")

    def write(self, data: bytes) -> None:
        fd = self._descriptor()
        deadline = time.monotonic() + self.write_timeout
        for report in reports(data):
            while True:
                try:
                    if os.write(fd, report) != len(report):
                        raise self._fail("short write to hidraw device")
                    break
                except BlockingIOError:
                    # The endpoint is busy: wait until it takes the report, within the deadline.
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise self._fail("hidraw write timed out") from None
                    try:
                        select.select([], [fd], [], left)
                    except LINK_ERRORS as exc:
                        raise self._fail("write to hidraw device failed", exc) from exc
                except LINK_ERRORS as exc:
                    raise self._fail("write to hidraw device failed", exc) from exc

    def read(self, timeout: float) -> bytes:
        fd = self._descriptor()
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                events = self._poll.poll(max(0.0, deadline - time.monotonic()) * 1000.0)
            except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for clarity
                events = []
            except LINK_ERRORS as exc:
                raise self._fail("waiting on hidraw device failed", exc) from exc
            if not events:
                return b""
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                if events[0][1] & _POLL_FAIL:
                    raise self._fail("hidraw device hung up") from None
                continue  # spurious wake-up
            except LINK_ERRORS as exc:
                # ENODEV after unplug, EIO when a tty stand-in's other side closed.
                raise self._fail("read from hidraw device failed", exc) from exc
            if not data:
                raise self._fail("hidraw device closed")
            return data

    def reset_input(self) -> None:
        fd = self._descriptor()
        while True:
            try:
                if not os.read(fd, READ_SIZE):
                    raise self._fail("hidraw device closed")
            except BlockingIOError:
                return
            except InterruptedError:
                continue
            except LINK_ERRORS as exc:
                raise self._fail("read from hidraw device failed", exc) from exc

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        self._poll = select.poll()  # a fresh poll set: the old one only ever watched this fd
        with contextlib.suppress(*LINK_ERRORS):  # the node may be gone already: the fd is released anyway
            os.close(fd)


def _reason(exc: BaseException) -> str:
    """An OSError's own words (`No such device`), else the exception's text."""
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__

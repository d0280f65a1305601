"""Transports layer: build the transport a device URL names.

`serial`, `hidraw` and `tcp` live here; `ble` and `i2c` are asynchronous or bus-level
and are built by their own device classes. Option values are checked here so a typo
fails at start-up with one line (ConfigError); options this layer does not know
(`name`, `timeout`, protocol options) belong to other layers and are left alone.
The transport is returned unopened: devices open it on first use and reopen it after
a failure. Must not import protocols/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ConfigError
from solarstack.transports.base import Transport

if TYPE_CHECKING:  # each transport module is imported only when a URL names it (CLI start-up time)
    from pathlib import Path

TRANSPORTS = ("serial", "hidraw", "tcp")


def open_transport(
    url: DeviceURL,
    *,
    default_baud: int = 2400,
    sysfs: Path | None = None,
    dev_dir: Path | None = None,
) -> Transport:
    """The (unopened) transport for `url`, or ConfigError saying what to fix.

    `default_baud` is the protocol's usual speed (PI30 2400, Daly 9600, VE.Direct 19200,
    JK 115200); `?baud=` overrides it. `sysfs`/`dev_dir` are where hidraw nodes are
    looked up by `?vid=&pid=` (default: the real /sys and /dev; tests point them at a fake tree).
    """
    if url.transport == "serial":
        return _serial(url, default_baud)
    if url.transport == "hidraw":
        return _hidraw(url, sysfs, dev_dir)
    if url.transport == "tcp":
        return _tcp(url)
    raise ConfigError(
        f"device URL {url.raw!r}: unknown transport {url.transport!r}; use one of {', '.join(TRANSPORTS)}"
        " (ble and i2c only with their own protocols)"
    )


def _serial(url: DeviceURL, default_baud: int) -> Transport:
    from solarstack.transports.serial import BYTESIZES, PARITIES, STOPBITS, SerialTransport

    if not url.address:
        raise ConfigError(f"device URL {url.raw!r}: give the port, e.g. serial:///dev/ttyUSB0")
    baud = url.int_option("baud", default_baud)
    if baud <= 0:
        raise ConfigError(f"device URL {url.raw!r}: baud={baud} must be positive, e.g. baud=2400")
    bytesize = url.int_option("bytesize", 8)
    if bytesize not in BYTESIZES:
        raise ConfigError(f"device URL {url.raw!r}: bytesize={bytesize} must be one of 5, 6, 7, 8")
    parity = (url.option("parity") or "N").upper()[:1]
    if parity not in PARITIES:
        raise ConfigError(f"device URL {url.raw!r}: parity must be one of N, E, O, M, S")
    stopbits = url.float_option("stopbits", 1.0)
    if stopbits not in STOPBITS:
        raise ConfigError(f"device URL {url.raw!r}: stopbits must be 1, 1.5 or 2")
    return SerialTransport(url.address, baudrate=baud, bytesize=bytesize, parity=parity, stopbits=stopbits)


def _hidraw(url: DeviceURL, sysfs: Path | None, dev_dir: Path | None) -> Transport:
    from solarstack.transports.hidraw import DEV_DIR, SYSFS_HIDRAW, HidrawTransport

    sysfs = sysfs or SYSFS_HIDRAW
    dev_dir = dev_dir or DEV_DIR

    has_ids = "vid" in url.options or "pid" in url.options
    if has_ids:
        if "vid" not in url.options or "pid" not in url.options:
            raise ConfigError(f"device URL {url.raw!r}: give both vid and pid, e.g. ?vid=0665&pid=5161")
        vid = url.int_option("vid", 0, base=16)
        pid = url.int_option("pid", 0, base=16)
        if not (0 <= vid <= 0xFFFF and 0 <= pid <= 0xFFFF):
            raise ConfigError(f"device URL {url.raw!r}: vid and pid are 4 hex digits, e.g. vid=0665&pid=5161")
        return HidrawTransport(url.address or None, vid=vid, pid=pid, sysfs=sysfs, dev_dir=dev_dir)
    if not url.address:
        raise ConfigError(f"device URL {url.raw!r}: give a node (hidraw:///dev/hidraw0) or ?vid=0665&pid=5161")
    return HidrawTransport(url.address)


def _tcp(url: DeviceURL) -> Transport:
    from solarstack.transports.tcp import TcpTransport

    host, port = url.host_port()
    if not host or not 0 < port < 65536:
        raise ConfigError(f"device URL {url.raw!r}: give host:port, e.g. tcp://192.168.1.50:8899")
    timeout = url.float_option("connect_timeout", 5.0)
    if timeout <= 0:
        raise ConfigError(f"device URL {url.raw!r}: connect_timeout must be positive seconds")
    return TcpTransport(host, port, connect_timeout=timeout)

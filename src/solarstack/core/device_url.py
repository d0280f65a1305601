"""Core layer: parse device URLs `protocol+transport://address?options`.

    pi30+serial:///dev/ttyUSB0?baud=2400&name=inverter1
    pi30+hidraw:///dev/hidraw0   pi30+hidraw://?vid=0665&pid=5161
    pi30+tcp://192.168.1.50:8899
    jk02+ble://C8:47:8C:12:34:56?name=pack1
    bme280+i2c://1/0x76

Pure parsing: which protocols and transports exist is checked by the layer that
builds devices. `name` defaults to a slug of protocol and address.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

from solarstack.core.errors import ConfigError

_SLUG_RE = re.compile(r"[^a-z0-9]+")
DEVICE_ID_RE = re.compile(r"^[a-z0-9_]+$")


def slug(text: str) -> str:
    """`pi30`, `/dev/ttyUSB0` -> `pi30_dev_ttyusb0`: a device id ([a-z0-9_]+)."""
    return _SLUG_RE.sub("_", text.lower()).strip("_")


class DeviceURL(NamedTuple):
    """A parsed device URL (a NamedTuple: cheap to define at `solarstack query` start-up)."""

    protocol: str
    transport: str
    address: str  # path for serial/hidraw, host:port for tcp, MAC for ble, bus/addr for i2c
    options: Mapping[str, str]
    raw: str = ""

    @property
    def name(self) -> str:
        return self.options.get("name") or slug(f"{self.protocol}_{self.address}") or self.protocol

    def option(self, key: str, default: str | None = None) -> str | None:
        return self.options.get(key, default)

    def int_option(self, key: str, default: int, *, base: int = 10) -> int:
        raw = self.options.get(key)
        if raw is None:
            return default
        try:
            return int(raw, base)
        except ValueError:
            raise ConfigError(f"device URL {self.raw!r}: option {key}={raw!r} is not a whole number") from None

    def float_option(self, key: str, default: float) -> float:
        raw = self.options.get(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"device URL {self.raw!r}: option {key}={raw!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:  # a timeout, interval or rate: zero or less means nothing
            raise ConfigError(f"device URL {self.raw!r}: {key} must be positive, got {raw!r}")
        return value

    def host_port(self, default_port: int | None = None) -> tuple[str, int]:
        host, sep, port = self.address.rpartition(":")
        if not sep:
            if default_port is None:
                raise ConfigError(f"device URL {self.raw!r}: give host:port, e.g. tcp://192.168.1.50:8899")
            return self.address, default_port
        if not port.isdigit():
            raise ConfigError(f"device URL {self.raw!r}: port {port!r} is not a number")
        return host.strip("[]"), int(port)


def parse_device_url(text: str) -> DeviceURL:
    """Parse one device URL or raise ConfigError with the expected shape."""
    raw = text.strip()
    try:
        parts = urlsplit(raw)
    except ValueError as exc:  # "Invalid IPv6 URL" for an unclosed `[`, control characters
        raise ConfigError(f"device URL {raw!r}: {exc}; write it as protocol+transport://address") from None
    scheme = parts.scheme.lower()
    if "+" not in scheme or "://" not in raw:
        raise ConfigError(f"device URL {raw!r} is not protocol+transport://address, e.g. pi30+serial:///dev/ttyUSB0")
    protocol, _, transport = scheme.partition("+")
    # netloc+path: serial:///dev/x -> /dev/x, tcp://h:p -> h:p, i2c://1/0x76 -> 1/0x76
    address = (parts.netloc + parts.path) if parts.netloc else parts.path
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    url = DeviceURL(protocol, transport, address, options, raw)
    if "name" in options and not DEVICE_ID_RE.match(options["name"]):
        raise ConfigError(f"device URL {raw!r}: name={options['name']!r} must match [a-z0-9_]+")
    return url


def parse_device_list(text: str) -> list[DeviceURL]:
    """`<SERVICE>_DEVICES`: comma-separated device URLs; ids must be unique; at least one."""
    urls = [parse_device_url(item) for item in text.split(",") if item.strip()]
    if not urls:  # "" or ",,,": a reader with nothing to read would idle silently for ever
        raise ConfigError("no device URL given, e.g. pi30+serial:///dev/ttyUSB0")
    seen: set[str] = set()
    for url in urls:
        if url.name in seen:
            raise ConfigError(f"two devices are named {url.name!r}: add ?name=<unique> to one of them")
        seen.add(url.name)
    return urls

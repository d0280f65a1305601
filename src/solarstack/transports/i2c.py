"""Transports layer: one device on a Linux I2C bus, through smbus2.

I2C is register-addressed, not a byte stream, so this is not a `transports/base.py`
Transport; it keeps the same shape and promises, smaller: `open()` (idempotent) returns the
bus object register libraries take (RPi.bme280 wants an smbus2 `SMBus`), `read(register,
length)` / `write(register, value)` move registers of the one address, `close()` never
raises. Whatever the kernel says (`OSError`: no /dev/i2c-N, no ACK from the address, a bus
error) leaves as a one-line `TransportError` naming bus and address, and closes the bus, so
the caller's next `open()` starts afresh (a re-seated sensor). Blocking; readers call it from
a worker thread. Must not import protocols/.

    bme280+i2c://1/0x76         bus 1 (/dev/i2c-1), address 0x76 (hex with 0x, or decimal)

`?fake=plant` or `?fake=<register dump file>` puts a simulated bus object in place of
/dev/i2c-N: for `solarstack dev` / `make demo` and tests only — the fake is the lowest
layer, everything above it is the production path. This layer names no simulator: the bus
is a plug-in found by entry point (group `solarstack.fake_i2c`, name `bus`; solarstack's own,
sim/i2c.py, is declared in pyproject.toml), so a production install without the simulators
answers `fake=` with one line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Protocol

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ConfigError, TransportError

#: 7-bit addresses a device may use (0x00-0x07 and 0x78-0x7F are reserved by the I2C spec)
ADDRESSES = range(0x08, 0x78)
#: the entry-point group where `?fake=` finds a simulated bus (see module doc)
FAKE_GROUP = "solarstack.fake_i2c"


class SMBusLike(Protocol):
    """What register libraries call on an smbus2 `SMBus` (and the fake bus answers)."""

    def read_byte_data(self, i2c_addr: int, register: int) -> int: ...

    def read_word_data(self, i2c_addr: int, register: int) -> int: ...

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None: ...

    def close(self) -> None: ...


def _smbus(bus: int) -> SMBusLike:
    from smbus2 import SMBus

    smbus: SMBusLike = SMBus(bus)
    return smbus


class I2CDevice:
    """Registers of one address on one bus (see module doc)."""

    def __init__(self, bus: int, address: int, *, opener: Callable[[int], SMBusLike] | None = None) -> None:
        self.bus_number = bus
        self.address = address
        self._opener = opener or _smbus
        self._bus: SMBusLike | None = None

    @property
    def where(self) -> str:
        return f"I2C bus {self.bus_number} address {self.address:#04x}"

    @property
    def is_open(self) -> bool:
        return self._bus is not None

    def open(self) -> SMBusLike:
        if self._bus is None:
            try:
                self._bus = self._opener(self.bus_number)
            except OSError as exc:
                raise TransportError(
                    f"{self.where}: cannot open /dev/i2c-{self.bus_number} ({exc.strerror or exc}): enable I2C"
                    " and give this process the node and the i2c group"
                ) from None
        return self._bus

    def failed(self, exc: BaseException) -> TransportError:
        """The one-line error for a failed exchange; the bus is closed for a fresh start."""
        self.close()
        detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return TransportError(f"{self.where}: no answer ({detail}): check wiring and address (0x76 or 0x77)")

    def read(self, register: int, length: int) -> bytes:
        bus = self.open()
        try:
            if length == 1:
                return bytes((bus.read_byte_data(self.address, register) & 0xFF,))
            return bytes(bus.read_i2c_block_data(self.address, register, length))
        except OSError as exc:
            raise self.failed(exc) from None

    def write(self, register: int, value: int) -> None:
        bus = self.open()
        try:
            bus.write_byte_data(self.address, register, value)
        except OSError as exc:
            raise self.failed(exc) from None

    def close(self) -> None:
        bus, self._bus = self._bus, None
        if bus is not None:
            with contextlib.suppress(OSError):
                bus.close()


def open_i2c(url: DeviceURL) -> I2CDevice:
    """The (unopened) device `i2c://<bus>/<address>` names, or ConfigError saying what to fix."""
    bus_text, _, addr_text = url.address.strip("/").partition("/")
    example = "e.g. bme280+i2c://1/0x76 (bus 1, address 0x76 or 0x77)"
    if not bus_text.isdigit():
        raise ConfigError(f"device URL {url.raw!r}: bus {bus_text!r} is not a bus number; {example}")
    try:
        address = int(addr_text, 0)
    except ValueError:
        raise ConfigError(f"device URL {url.raw!r}: address {addr_text!r} is not a number; {example}") from None
    if address not in ADDRESSES:
        raise ConfigError(f"device URL {url.raw!r}: address {address:#04x} is not a 7-bit device address; {example}")
    fake = url.option("fake")
    if fake is None:
        return I2CDevice(int(bus_text), address)
    return I2CDevice(int(bus_text), address, opener=_fake_opener(url, fake))


def _fake_opener(url: DeviceURL, fake: str) -> Callable[[int], SMBusLike]:
    from importlib.metadata import entry_points  # only for a fake: it reads every package's metadata

    found = entry_points(group=FAKE_GROUP, name="bus")
    if not found:
        raise ConfigError(f"device URL {url.raw!r}: fake= needs solarstack's simulators (pip install solarstack[sim])")
    make: Callable[[DeviceURL, str], Callable[[int], SMBusLike]] = next(iter(found)).load()
    return make(url, fake)

"""Devices layer: battery packs on a byte stream — JK serial (4E 57), Daly (A5), VE.Direct.

Each class joins one transport (serial, tcp) to one codec with the same face as the
PI30 device (devices/base.py `Device`): blocking `query(command) -> Reading` bounded by
a deadline, stale bytes dropped first, the link closed on a transport failure so the
next call reopens it. Readings are stamped (UTC) when the device answered.

Commands (`solarstack query <url> <command>`; `all` = `default_commands()`):

- jkserial: `read_all`
- daly: `pack` (every command below, merged), `status`, `soc`, `cell_range`,
  `temperature_range`, `mosfet`, `cell_voltages`, `temperatures`, `balancing`, `faults`
- vedirect: `blocks` (listens until every block of the device's cycle has arrived)

A BMS takes no settings here: `settings()` is empty and `apply()` refuses.
JK over Bluetooth (jk02+ble) is asynchronous and lives in devices/bms_ble.py.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from solarstack.core.device_url import DeviceURL
from solarstack.core.energy import Counter, Term
from solarstack.core.errors import ConfigError, DeviceTimeout, ProtocolError, TransportError
from solarstack.core.fields import FieldTable, Reading, Setting, Value
from solarstack.devices.base import Device, Identity, SetResult
from solarstack.protocols import daly, jkserial, vedirect
from solarstack.transports.base import Transport

DEFAULT_TIMEOUT = 2.0
DEFAULT_BAUD = {"jkserial": 115200, "daly": 9600, "vedirect": 19200}
#: longest we buffer while waiting for a frame before calling it garbage
MAX_BUFFER = 4096

Splitter = Callable[[bytearray], list[bytes]]


#: Battery energy from the pack's own voltage and current (current > 0 while charging).
BATTERY_COUNTERS = (
    Counter(
        "battery_energy_charged",
        "Battery energy charged",
        (Term(("voltage", "current")),),
        role="battery_charge_energy",
    ),
    Counter(
        "battery_energy_discharged",
        "Battery energy discharged",
        (Term(("voltage", "current"), -1.0),),
        role="battery_discharge_energy",
    ),
)


class BmsDevice(Device, Protocol):
    """A Device that also says how long one poll may take (BLE scans, Daly's nine requests)."""

    def poll_budget(self, command: str) -> float: ...


class Pack(ABC):
    """What every battery pack (and shunt) tells a reader: it polls one command, its
    counters integrate voltage times current, and its identity comes with its readings."""

    protocol = ""
    kind = "battery"
    manufacturer = ""
    #: identity a pack tells apart from its readings (JK BLE: its device-info frame)
    device_info: Mapping[str, Value] = {}

    @abstractmethod
    def default_commands(self) -> tuple[str, ...]: ...

    @property
    def energy_command(self) -> str:
        return self.default_commands()[0]

    def schedule(self, fast: float, slow: float) -> tuple[tuple[str, float], ...]:
        return ((self.default_commands()[0], fast),)

    def counters(self) -> tuple[Counter, ...]:
        return BATTERY_COUNTERS

    def identify(self, values: Mapping[str, Value]) -> Identity:
        """Firmware, serial and model where the pack reported them (BLE: its device-info frame)."""
        seen = {**self.device_info, **values}

        def first(*keys: str) -> str | None:
            found = next((seen[k] for k in keys if seen.get(k) not in (None, "")), None)
            return str(found) if found is not None else None

        return Identity(
            manufacturer=self.manufacturer,
            model=first("model", "product_id") or self.protocol,
            serial_number=first("serial_number", "device_id"),
            sw_version=first("software_version", "firmware"),
            hw_version=first("hardware_version"),
        )


class StreamBms(Pack):
    """What the three stream protocols share: the exchange loop and the Device face.
    Each protocol's subclass says what it asks (`default_commands`), how (`query`) and
    what comes back (`table`)."""

    def __init__(self, device_id: str, transport: Transport, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.id = device_id
        self.transport = transport
        self.timeout = timeout

    def collect(
        self,
        request: bytes | None,
        split: Splitter,
        want: Callable[[list[bytes]], bool],
        *,
        timeout: float | None = None,
    ) -> list[bytes]:
        """Send `request` (if any) and gather frames until `want(frames)` or the deadline."""
        limit = self.timeout if timeout is None else timeout
        try:
            self.transport.open()
            self.transport.reset_input()  # a late answer to an earlier request, or old blocks
            if request is not None:
                self.transport.write(request)
            deadline = time.monotonic() + limit
            buf = bytearray()
            frames: list[bytes] = []
            while True:
                frames += split(buf)
                if frames and want(frames):
                    return frames
                if len(buf) > MAX_BUFFER:
                    raise ProtocolError(f"{self.id}: {len(buf)} bytes without a complete frame")
                left = deadline - time.monotonic()
                if left <= 0:
                    if frames:
                        return frames  # the caller decides whether a partial answer will do
                    raise DeviceTimeout(
                        f"{self.id}: no answer within {limit:g} s" + (f" ({len(buf)} stray bytes)" if buf else "")
                    )
                buf += self.transport.read(left)
        except TransportError:
            self.transport.close()
            raise

    def poll_budget(self, command: str) -> float:
        """Longest one `query(command)` may take: a reader's poll timeout must not cut it short."""
        return self.timeout + 1.0

    def reading(self, values: dict[str, Value], fields: FieldTable) -> Reading:
        return Reading(self.id, datetime.now(UTC), values, fields)

    # -- Device face ------------------------------------------------------------------

    def commands(self) -> tuple[str, ...]:
        return self.default_commands()

    @abstractmethod
    def query(self, command: str) -> Reading: ...

    @abstractmethod
    def table(self, command: str) -> FieldTable: ...

    def is_query(self, command: str) -> bool:
        return command.lower() in self.commands()

    def queries(self) -> tuple[str, ...]:
        return self.commands()

    def settings(self) -> tuple[Setting, ...]:
        return ()

    def apply(self, setting: str, value: str) -> SetResult:
        return SetResult(False, setting, value, f"{self.protocol} devices take no settings")

    def _command(self, command: str) -> str:
        name = command.lower()
        if name not in self.commands():
            raise ConfigError(f"{self.protocol} has no command {command!r}; try one of: {', '.join(self.commands())}")
        return name

    def close(self) -> None:
        self.transport.close()


class JkSerialBms(StreamBms):
    protocol = "jkserial"
    manufacturer = "Jikong (JK BMS)"

    def default_commands(self) -> tuple[str, ...]:
        return ("read_all",)

    def table(self, command: str) -> FieldTable:
        self._command(command)
        return jkserial.READ_ALL

    def query(self, command: str) -> Reading:
        self._command(command)
        frames = self.collect(jkserial.READ_ALL_REQUEST, jkserial.split_frames, lambda f: True)
        # an echo of our own request (RS485 adapters without echo cancel) is not the answer
        replies = [f for f in frames if f != jkserial.READ_ALL_REQUEST] or frames
        return self.reading(jkserial.decode(replies[-1]), jkserial.READ_ALL)


class DalyBms(StreamBms):
    protocol = "daly"
    manufacturer = "Daly"

    def __init__(
        self,
        device_id: str,
        transport: Transport,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        address: int = daly.HOST_RS485,
        charge_positive: bool = False,
    ) -> None:
        super().__init__(device_id, transport, timeout=timeout)
        self.address = address
        self.charge_positive = charge_positive
        self._cells: int | None = None
        self._sensors: int | None = None

    def commands(self) -> tuple[str, ...]:
        return ("pack", *daly.NAMES)

    def default_commands(self) -> tuple[str, ...]:
        return ("pack",)

    def table(self, command: str) -> FieldTable:
        name = self._command(command)
        return daly.ALL_FIELDS if name == "pack" else daly.COMMANDS[daly.NAMES[name]]

    def poll_budget(self, command: str) -> float:
        steps = len(daly.POLL_ORDER) if command.lower() == "pack" else 2  # (+ 0x94 for the cell count)
        return steps * self.timeout + 1.0

    def ask(self, code: int) -> dict[str, Value]:
        """One Daly command: request, its reply frame(s), decoded."""
        if code in (0x95, 0x96, 0x97) and self._cells is None:
            self.ask(0x94)
        n = daly.frames_expected(code, self._cells or 0, self._sensors or 0)

        def enough(frames: list[bytes]) -> bool:
            return sum(1 for f in frames if f[2] == code) >= n

        frames = self.collect(daly.request(code, self.address), daly.split_frames, enough)
        mine = [f for f in frames if f[2] == code and f[1] == daly.BMS_ADDRESS]
        values = daly.decode(code, mine, cells=self._cells, sensors=self._sensors, charge_positive=self.charge_positive)
        if code == 0x94:
            cells, sensors = values["cell_count"], values["temperature_sensor_count"]
            assert isinstance(cells, int) and isinstance(sensors, int)
            self._cells, self._sensors = cells, sensors
        return values

    def query(self, command: str) -> Reading:
        name = self._command(command)
        codes = daly.POLL_ORDER if name == "pack" else (daly.NAMES[name],)
        values: dict[str, Value] = {}
        for code in codes:
            values.update(self.ask(code))
        return self.reading(values, self.table(name))


class VeDirectBms(StreamBms):
    """A Victron shunt or charger: it talks unasked; we listen for one whole cycle of blocks."""

    protocol = "vedirect"
    kind = "shunt"
    manufacturer = "Victron Energy"

    def default_commands(self) -> tuple[str, ...]:
        return ("blocks",)

    def poll_budget(self, command: str) -> float:
        return self.timeout + 2.0

    def table(self, command: str) -> FieldTable:
        self._command(command)
        return vedirect.FIELDS

    def query(self, command: str) -> Reading:
        self._command(command)
        # A device sends one cycle of blocks a second; a cycle is complete when a block
        # starting with the same label as the first whole block comes round again.
        firsts: list[bytes] = []

        def cycle_done(frames: list[bytes]) -> bool:
            firsts[:] = [f.split(b"\t", 1)[0].lstrip(b"\r\n") for f in frames]
            return len(firsts) > 2 and firsts[-1] == firsts[1]

        frames = self.collect(None, vedirect.split_frames, cycle_done, timeout=self.timeout + 1.0)
        # the first block is usually cut (we started listening mid-block): its checksum fails
        values: dict[str, Value] = {}
        errors: list[ProtocolError] = []
        for block in frames[1:] or frames:
            try:
                values.update(vedirect.decode(block))
            except ProtocolError as exc:
                errors.append(exc)
        if not values:
            raise errors[-1] if errors else DeviceTimeout(f"{self.id}: no VE.Direct block")
        return self.reading(values, vedirect.FIELDS)


def _flag(url: DeviceURL, key: str) -> bool:
    return (url.option(key, "0") or "0").lower() in ("1", "true", "yes", "on")


def open_device(url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False) -> StreamBms:
    """Build a jkserial / daly / vedirect device from its URL (the transport opens on first use).
    (`allow_destructive` has nothing to enable here: packs take no settings.)"""
    from solarstack.transports.factory import open_transport

    if url.protocol not in DEFAULT_BAUD:
        raise ConfigError(f"device URL {url.raw!r}: protocol {url.protocol!r} is not a serial BMS")
    transport = open_transport(url, default_baud=DEFAULT_BAUD[url.protocol])
    limit = timeout if timeout is not None else url.float_option("timeout", DEFAULT_TIMEOUT)
    if url.protocol == "jkserial":
        return JkSerialBms(url.name, transport, timeout=limit)
    if url.protocol == "daly":
        address = url.int_option("address", daly.HOST_RS485, base=16)
        if address not in (daly.HOST_RS485, daly.HOST_UART):
            raise ConfigError(f"device URL {url.raw!r}: address must be 40 (RS485) or 80 (UART)")
        return DalyBms(
            url.name, transport, timeout=limit, address=address, charge_positive=_flag(url, "charge_positive")
        )
    return VeDirectBms(url.name, transport, timeout=limit)

"""Devices layer: a PI16 inverter (the "SUNNY" grid-tie / hybrid class: InfiniSolar 3K-5K,
PV3K …) — the PI16 codec over any transport (`pi16+serial:///dev/ttyUSB0`,
`pi16+hidraw://…`, `pi16+tcp://host:port`).

The link, queries and identity are the PI family's (devices/pifamily.py); this class names
the PI16 codec, what to poll and how its readings make energy counters. PI16 takes no
settings here (the codec has queries only): every write is refused before the wire, with
one line saying so.

Energy: QPIGS reports the grid side as a magnitude and its direction apart; each QPIGS
reading gets the signed `grid_power` both make (protocols/pi16/energy.py), derived here,
once, so the counters and every consumer read one number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import SettingError
from solarstack.core.fields import FieldTable, Reading, Setting, Value
from solarstack.devices.base import Identity
from solarstack.devices.pifamily import DEFAULT_TIMEOUT, CommandSpec, PiDevice, key_text
from solarstack.protocols import pi16
from solarstack.protocols.pi16.energy import ENERGY_COMMAND, GRID_POWER, grid_power_from
from solarstack.transports.base import Transport

if TYPE_CHECKING:
    from collections.abc import Mapping

    from solarstack.core.energy import Counter


#: What the schedule polls: the live values, and the ratings.
FAST = ("QPIGS", "QMOD", "QPIWS")
SLOW = ("QPIRI",)


class Pi16Device(PiDevice[None]):
    """One PI16 inverter behind one transport."""

    protocol = "pi16"
    energy_command = ENERGY_COMMAND
    #: Asked once for the device page: serial number, firmware.
    IDENTITY_COMMANDS = ("QID", "QVFW")

    def __init__(self, device_id: str, transport: Transport, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        # PI16 requests carry no CRC: no CRC rule to choose
        super().__init__(device_id, transport, timeout=timeout, bump_zero=False)

    # -- codec -----------------------------------------------------------------------

    def frame_end(self, buffer: bytes) -> int | None:
        return pi16.frame_end(buffer)

    def lookup(self, command: str) -> CommandSpec:
        return pi16.lookup(command)

    def encode(self, command: str) -> bytes:
        return pi16.encode(command)

    def decode(self, command: str, frame: bytes) -> dict[str, Value]:
        return pi16.decode(command, frame)

    def identity_from(self, found: Mapping[str, str]) -> Identity:
        return Identity(
            manufacturer=self.manufacturer,
            model="PI16 inverter",
            serial_number=found.get("serial_number"),
            sw_version=found.get("main_cpu_firmware"),
        )

    def query(self, command: str) -> Reading:
        reading = super().query(command)
        if command == ENERGY_COMMAND:
            watts = grid_power_from(reading.values)
            values = {**reading.values, GRID_POWER.key: watts} if watts is not None else reading.values
            # the row is in every QPIGS reading, so the catalogue lists it from the first one
            reading = reading._replace(values=values, fields=(*reading.fields, GRID_POWER))
        return reading

    def table(self, command: str) -> FieldTable:
        fields = self.lookup(command).fields
        return (*fields, GRID_POWER) if command == ENERGY_COMMAND else fields

    # -- what to poll ----------------------------------------------------------------

    def default_commands(self) -> tuple[str, ...]:
        return FAST + SLOW

    def schedule(self, fast: float, slow: float) -> tuple[tuple[str, float], ...]:
        """Live values every `fast` seconds, ratings every `slow`."""
        return tuple((c, fast) for c in FAST) + tuple((c, slow) for c in SLOW)

    def named_queries(self) -> dict[str, tuple[str, ...]]:
        """mpp-solar's names for `solarstack query`: status and ratings as the schedule polls
        them, the serial number (QID) and the firmware version (QVFW)."""
        return {"get_status": FAST, "get_settings": SLOW, "get_device_id": ("QID",), "get_version": ("QVFW",)}

    def counters(self) -> tuple[Counter, ...]:
        from solarstack.protocols.pi16.energy import PI16_COUNTERS

        return PI16_COUNTERS

    def is_query(self, command: str) -> bool:
        return pi16.is_query(command)

    def queries(self) -> tuple[str, ...]:
        """The read-only commands by name; the dated energy queries are allowed by `is_query`
        but not listed (their text carries the date)."""
        return tuple(c.name for c in pi16.COMMANDS.values() if c.read_only and c.pattern is None)

    # -- settings: none ----------------------------------------------------------------

    def settings(self) -> tuple[Setting, ...]:
        return ()

    def context(self, *, refresh: bool = False) -> None:
        """No setting needs the unit's ratings: nothing to ask."""

    def allowed(self, key: str) -> Setting:
        raise SettingError(f"PI16 inverters take no settings here (got {key_text(key)}); queries only")

    # `allowed` refuses every key first, so no setting gets this far: the same refusal.
    def setter_command(self, setting: str, value: str, ctx: None) -> str:
        return self.allowed(setting).key

    def expected_readback(self, setting: str, value: str) -> Value:
        return self.allowed(setting).key


def open_device(url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False) -> Pi16Device:
    """Build a PI16 device from its URL (the transport opens on first use).

    `allow_destructive` is accepted for the registry's one signature: PI16 takes no settings.
    """
    from solarstack.transports.factory import open_transport

    return Pi16Device(
        url.name,
        open_transport(url),
        timeout=timeout if timeout is not None else url.float_option("timeout", DEFAULT_TIMEOUT),
    )

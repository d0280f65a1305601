"""Devices layer: a PI17 inverter (Infini-Solar 3-10 kW hybrids, Infini WP / LV6K / 3P / TWIN)
— the PI17 codec over any transport (`pi17+serial:///dev/ttyUSB0`, `pi17+hidraw://…`,
`pi17+tcp://host:port`).

The link, queries, identity and the validate / write / ACK-NAK / read-back flow with its
audit lines are the PI family's (devices/pifamily.py); this class names the PI17 codec,
what to poll, which settings it takes and how its readings make energy counters.

Frames: PI17 replies end in a plain CRC that can itself be a CR byte, so the end of a frame
is the codec's `frame_end` (the CR whose two bytes before it check), never the first CR.

Energy: PS reports the powers the unit measures — PV per string, load, grid (signed) and
battery — and the counters integrate those (protocols/pi17/energy.py). Where a unit leaves
PS's battery power empty (the recorded MPI 15K firmware), this class fills it from the
battery current and voltage of the latest GS, if that reading is fresh (GS is polled just
before PS): the battery counters then run on what GS measures.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ProtocolError
from solarstack.core.fields import Reading, Setting, Value
from solarstack.devices.base import Identity
from solarstack.devices.pifamily import DEFAULT_TIMEOUT, CommandSpec, RatedDevice, allow_listed, logger
from solarstack.protocols import pi17
from solarstack.protocols.pi17.energy import ENERGY_COMMAND, battery_power_from
from solarstack.transports.base import Transport

if TYPE_CHECKING:
    from collections.abc import Mapping

    from solarstack.core.energy import Counter

#: How old a GS reading may be, in seconds, for its battery power to stand in for PS's:
#: the schedule asks GS just before PS, so in a poll cycle it is a round trip old; an older
#: one is not this cycle's (PS polled alone, or GS overridden to a slow interval).
GS_MAX_AGE = 30.0
#: What the schedule polls: the live values (GS before PS: PS may need GS's battery power),
#: and the ratings, flags and settings in force.
FAST = ("GS", "PS", "MOD", "WS")
SLOW = ("PIRI", "FLAG", "BATS", "HECS")


class Pi17Device(RatedDevice[pi17.Pi17Context]):
    """One PI17 inverter behind one transport."""

    protocol = "pi17"
    energy_command = ENERGY_COMMAND
    #: Asked once for the device page: serial number, firmware, model and rated power.
    IDENTITY_COMMANDS = ("ID", "VFW", "MD")
    #: Bound settings (RatedDevice): the battery settings in force, refitted by every BATS
    #: read-back (MCHGV and BATDV set several at once: the next must carry the others as they
    #: are now), and the unit's setting ranges (`offers`: MAR, where it answers).
    RATINGS = "BATS"

    def __init__(self, device_id: str, transport: Transport, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        # PI17 requests carry no CRC: no CRC rule to choose
        super().__init__(device_id, transport, timeout=timeout, bump_zero=False)
        self._gs: tuple[datetime, Mapping[str, Value]] | None = None

    # -- codec -----------------------------------------------------------------------

    def frame_end(self, buffer: bytes) -> int | None:
        return pi17.frame_end(buffer)  # a CR can be a CRC byte: not simply the first CR

    def lookup(self, command: str) -> CommandSpec:
        return pi17.lookup(command)

    def encode(self, command: str) -> bytes:
        return pi17.encode(command)

    def decode(self, command: str, frame: bytes) -> dict[str, Value]:
        return pi17.decode(command, frame)

    def identity_from(self, found: Mapping[str, str]) -> Identity:
        rated = found.get("rated_ac_output_apparent_power")
        return Identity(
            manufacturer=self.manufacturer,
            model=f"PI17 inverter {rated} VA" if rated else "PI17 inverter",
            serial_number=found.get("serial_number"),
            sw_version=found.get("main_cpu_firmware"),
        )

    def query(self, command: str) -> Reading:
        """The family's query; a PS without battery power gets that of the latest GS, if
        fresh (module doc), so the battery counters run on what the unit measures."""
        reading = super().query(command)
        if command == "GS":
            self._gs = (reading.ts, reading.values)
        elif command == ENERGY_COMMAND and "battery_power" not in reading.values and self._gs is not None:
            ts, gs = self._gs
            watts = battery_power_from(gs)
            if watts is not None and 0 <= (reading.ts - ts).total_seconds() <= GS_MAX_AGE:
                reading = reading._replace(values={**reading.values, "battery_power": watts})
        return reading

    # -- what to poll ----------------------------------------------------------------

    def default_commands(self) -> tuple[str, ...]:
        return FAST + SLOW

    def schedule(self, fast: float, slow: float) -> tuple[tuple[str, float], ...]:
        """Live values every `fast` seconds, ratings, flags and the settings in force every `slow`."""
        return tuple((c, fast) for c in FAST) + tuple((c, slow) for c in SLOW)

    def named_queries(self) -> dict[str, tuple[str, ...]]:
        """mpp-solar's names for `solarstack query`: status and settings as the schedule polls
        them, the serial number (ID) and the firmware version (VFW)."""
        return {"get_status": FAST, "get_settings": SLOW, "get_device_id": ("ID",), "get_version": ("VFW",)}

    def counters(self) -> tuple[Counter, ...]:
        from solarstack.protocols.pi17.energy import PI17_COUNTERS

        return PI17_COUNTERS

    def is_query(self, command: str) -> bool:
        return pi17.is_query(command)

    def queries(self) -> tuple[str, ...]:
        """The read-only commands by name; the dated energy queries are allowed by `is_query`
        but not listed (their text carries the date)."""
        return tuple(c.name for c in pi17.COMMANDS.values() if c.read_only and c.pattern is None)

    # -- settings --------------------------------------------------------------------

    def settings(self) -> tuple[Setting, ...]:
        """Settings with the charge voltage and current bounds of this unit's own MAR once
        known (the catalogue, HA discovery and the web's allow-list are built from this)."""
        return pi17.settings_for(self._context) if self._context is not None else pi17.SETTINGS

    def offers(self) -> tuple[Mapping[str, Value] | None, ...]:
        """The unit's setting ranges (MAR), None where it does not answer."""
        try:
            return (dict(self.query("MAR").values),)
        except ProtocolError as exc:  # older firmware: the PDFs' static bounds
            logger(__name__).info("%s: MAR unsupported (%s); settings use the PDF's bounds", self.id, exc)
            return (None,)

    def context_from(self, ratings: Mapping[str, Value], *offers: Mapping[str, Value] | None) -> pi17.Pi17Context:
        return pi17.context_from(ratings, *offers)

    def allowed(self, key: str) -> Setting:
        return allow_listed(key, pi17.SETTING_MAP, self.settings)

    def setter_command(self, setting: str, value: str, ctx: pi17.Pi17Context) -> str:
        return pi17.setter_command(setting, value, ctx)

    def expected_readback(self, setting: str, value: str) -> Value:
        return pi17.expected_readback(setting, value)


def open_device(url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False) -> Pi17Device:
    """Build a PI17 device from its URL (the transport opens on first use).

    `allow_destructive` is accepted for the registry's one signature: PI17 offers no
    destructive action.
    """
    from solarstack.transports.factory import open_transport

    return Pi17Device(
        url.name,
        open_transport(url),
        timeout=timeout if timeout is not None else url.float_option("timeout", DEFAULT_TIMEOUT),
    )

"""Devices layer: a PI41 inverter (LV5048 class: split phase, two lines, two charge
controllers) — the PI41 codec over any transport (`pi41+serial:///dev/ttyUSB0`,
`pi41+hidraw://…`, `pi41+tcp://host:port`).

The link, queries, identity and the validate / write / ACK-NAK / read-back flow with its
audit lines are the PI family's (devices/pifamily.py); this class names the PI41 codec,
what to poll (line 2, then line 1), which settings it takes and its energy counters. Writes
are range-checked against the unit's own ratings (QPIRI, QMCHGCR, QMUCHGCR);
restore-defaults is off the allow-list unless the device is built with
`allow_destructive=True`.

Energy: QPIGS is line 1 and PV1, QPIGS2 line 2 and PV2. Each QPIGS reading gets what both
make together (protocols/pi41/energy.py `derived`: both lines' load, PV2's power) from the
QPIGS2 read since the previous QPIGS — the schedule asks QPIGS2 first — derived here, once,
so the counters and every consumer read one number.

A parallel system (`?units=N`) is not offered for PI41 yet: QPGSn / QP2GSn are
allow-listed queries (`solarstack query pi41+…://… QPGS0 QP2GS0`), not per-unit devices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ConfigError
from solarstack.core.fields import FieldTable, Reading, Value
from solarstack.devices.base import Identity, scheduled_queries
from solarstack.devices.pifamily import DEFAULT_TIMEOUT, AllowListDevice, CommandSpec, SetterCodec, flag_option
from solarstack.protocols import pi41
from solarstack.protocols.pi41.energy import DERIVED, ENERGY_COMMAND, LINE2_COMMAND, derived
from solarstack.transports.base import Transport

if TYPE_CHECKING:
    from collections.abc import Mapping

    from solarstack.core.energy import Counter

#: What the schedule polls: both lines' live values (line 2 first: see the module doc), and
#: ratings and flags.
FAST = ("QPIGS2", "QPIGS", "QMOD", "QPIWS")
SLOW = ("QPIRI", "QFLAG")


class Pi41Device(AllowListDevice[pi41.Pi41Context]):
    """One PI41 inverter behind one transport."""

    protocol = "pi41"
    energy_command = ENERGY_COMMAND
    #: Asked once for the device page: serial number, firmware, model name (QMN is
    #: mpp-solar's, not in the LV5048 PDF: skipped if the unit NAKs it).
    IDENTITY_COMMANDS = ("QID", "QVFW", "QMN")
    #: Bound settings (RatedDevice): the ratings, read back after a write, and the charge
    #: currents the unit offers.
    RATINGS = "QPIRI"
    OFFERED = ("QMCHGCR", "QMUCHGCR")

    def __init__(
        self,
        device_id: str,
        transport: Transport,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        bump_zero: bool = False,
        allow_destructive: bool = False,
    ) -> None:
        super().__init__(device_id, transport, timeout=timeout, bump_zero=bump_zero)
        self.allow_destructive = allow_destructive
        self._line2: dict[str, Value] | None = None  # QPIGS2 read since the last QPIGS

    # -- codec -----------------------------------------------------------------------

    def frame_end(self, buffer: bytes) -> int | None:
        return pi41.frame_end(buffer)

    def lookup(self, command: str) -> CommandSpec:
        return pi41.lookup(command)

    def encode(self, command: str) -> bytes:
        return pi41.encode(command, bump_zero=self.bump_zero)

    def decode(self, command: str, frame: bytes) -> dict[str, Value]:
        return pi41.decode(command, frame)  # a setter's (ACK passes; (NAK raises NakError

    def identity_from(self, found: Mapping[str, str]) -> Identity:
        return Identity(
            manufacturer=self.manufacturer,
            model=found.get("model_name") or "PI41 inverter",
            serial_number=found.get("serial_number"),
            sw_version=found.get("main_cpu_firmware"),
        )

    def query(self, command: str) -> Reading:
        try:
            reading = super().query(command)
        except Exception:
            if command in (LINE2_COMMAND, ENERGY_COMMAND):
                self._line2 = None  # a round without both lines: no half-load sum, no stale one
            raise
        if command == LINE2_COMMAND:
            self._line2 = reading.values
        elif command == ENERGY_COMMAND:
            line2, self._line2 = self._line2, None
            extra = derived(reading.values, line2) if line2 is not None else {}
            # the rows are in every QPIGS reading, so the catalogue lists them from the first one
            reading = reading._replace(values={**reading.values, **extra}, fields=(*reading.fields, *DERIVED))
        return reading

    def table(self, command: str) -> FieldTable:
        fields = self.lookup(command).fields
        return (*fields, *DERIVED) if command == ENERGY_COMMAND else fields

    # -- what to poll ----------------------------------------------------------------

    def default_commands(self) -> tuple[str, ...]:
        return FAST + SLOW

    def schedule(self, fast: float, slow: float) -> tuple[tuple[str, float], ...]:
        """Both lines' live values every `fast` seconds, ratings and flags every `slow`."""
        return tuple((c, fast) for c in FAST) + tuple((c, slow) for c in SLOW)

    def named_queries(self) -> dict[str, tuple[str, ...]]:
        """mpp-solar's names for `solarstack query`: status and settings as the schedule polls
        them, the serial number (QID) and the firmware version (QVFW)."""
        return {**scheduled_queries(self), "get_device_id": ("QID",), "get_version": ("QVFW",)}

    def counters(self) -> tuple[Counter, ...]:
        from solarstack.protocols.pi41.energy import PI41_COUNTERS

        return PI41_COUNTERS

    def is_query(self, command: str) -> bool:
        return pi41.is_query(command)

    def queries(self) -> tuple[str, ...]:
        """The read-only commands by name; QPGSn / QP2GSn are allowed by `is_query` but not
        listed (their text carries the unit number)."""
        return tuple(c.name for c in pi41.COMMANDS.values() if c.read_only and c.pattern is None)

    # -- settings --------------------------------------------------------------------

    def setters(self) -> SetterCodec[pi41.Pi41Context]:
        return pi41

    def blank_context(self) -> pi41.Pi41Context:
        return pi41.Pi41Context()

    def context_from(self, ratings: Mapping[str, Value], *offers: Mapping[str, Value] | None) -> pi41.Pi41Context:
        return pi41.context_from(ratings, *offers)


def open_device(url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False) -> Pi41Device:
    """Build a PI41 device from its URL (the transport opens on first use).

    `allow_destructive` puts restore-defaults on the allow-list (INVERTER_ALLOW_DESTRUCTIVE).
    """
    from solarstack.transports.factory import open_transport

    if url.option("units"):
        raise ConfigError(f"device URL {url.raw!r}: units= (a parallel system) is not supported for pi41 yet")
    return Pi41Device(
        url.name,
        open_transport(url),
        timeout=timeout if timeout is not None else url.float_option("timeout", DEFAULT_TIMEOUT),
        bump_zero=flag_option(url.option("crc_bump_zero", "0")),
        allow_destructive=allow_destructive,
    )

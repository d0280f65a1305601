"""Devices layer: a PI18 inverter (InfiniSolar V class, Easun SV, EG4 …) — the PI18 codec
over any transport (`pi18+serial:///dev/ttyUSB0`, `pi18+hidraw://…`, `pi18+tcp://host:port`).

The link, queries, identity and the validate / write / ACK-NAK / read-back flow with its
audit lines are the PI family's (devices/pifamily.py); this class names the PI18 codec,
what to poll, which settings it takes and how its readings make energy counters.

Energy: the unit reports PV energy of its own (ET total in kWh, ED/EM/EY in Wh), but only
PV, and ET in whole kWh. The counters here integrate GS power instead, with the same keys
and roles as PI30's (protocols/pi30/energy.py): five lifetime counters that agree with each
other (grid import is their balance), resolve a few watt-hours, and mean the same thing on
either family. ET and EDyyyymmdd stay allow-listed queries for comparison.

A parallel system (`?units=N` on the URL, 2..9) also polls PGS0..N-1 and offers the reader
its `parallel()` description (devices/parallel.py), as PI30's QPGSn does: one device per
unit from PGSn (which, unlike QPGSn, reports each string's PV watts), counters from that
unit's power, and the system's totals and counters on this device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from solarstack.core.device_url import DeviceURL
from solarstack.core.fields import FieldTable, Setting, Value
from solarstack.devices.base import Identity, scheduled_queries
from solarstack.devices.parallel import (
    FLOW_ROLES,
    TOTALS,
    ParallelSystem,
    system_counters,
    unit_count,
    unit_counters,
    units_of,
    without_roles,
)
from solarstack.devices.pifamily import (
    DEFAULT_TIMEOUT,
    CommandSpec,
    RatedDevice,
    allow_listed,
    flag_option,
)
from solarstack.protocols import pi18
from solarstack.transports.base import Transport

if TYPE_CHECKING:
    from collections.abc import Mapping

    from solarstack.core.energy import Counter


#: Unit n of a parallel system ({n} from 0).
UNIT_COMMAND = "PGS{n}"


class Pi18Device(RatedDevice[pi18.Pi18Context]):
    """One PI18 inverter behind one transport."""

    protocol = "pi18"
    energy_command = "GS"
    #: Asked once for the device page: protocol id, serial number, firmware.
    IDENTITY_COMMANDS = ("PI", "ID", "VFW")
    #: Bound settings (RatedDevice): ratings and the values in force, refitted by every PIRI
    #: read-back (MCHGV and BUCD set two at once: the next must carry the other half as it is
    #: now, not as it was when the context was first read), and the charge currents offered.
    RATINGS = "PIRI"
    OFFERED = ("MCHGCR", "MUCHGCR")

    def __init__(
        self,
        device_id: str,
        transport: Transport,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        bump_zero: bool = False,
        units: int | None = None,
    ) -> None:
        super().__init__(device_id, transport, timeout=timeout, bump_zero=bump_zero)
        self._rated_va: Value = None
        self._parallel: ParallelSystem | None = None
        if units is not None:
            from solarstack.protocols.pi18.energy import PI18_COUNTERS

            self._parallel = ParallelSystem(
                units=units_of(device_id, units, UNIT_COMMAND),
                unit_table=without_roles(pi18.table(UNIT_COMMAND.format(n=0)), FLOW_ROLES),
                unit_counters=unit_counters(PI18_COUNTERS),
                totals_table=TOTALS,
                system_counters=system_counters(),
            )
            # the system's counters integrate the totals, complete once the last unit answered
            self.energy_command = self._parallel.units[-1].command

    # -- codec -----------------------------------------------------------------------

    def frame_end(self, buffer: bytes) -> int | None:
        return pi18.frame_end(buffer)

    def lookup(self, command: str) -> CommandSpec:
        return pi18.lookup(command)

    def encode(self, command: str) -> bytes:
        return pi18.encode(command, bump_zero=self.bump_zero)

    def decode(self, command: str, frame: bytes) -> dict[str, Value]:
        return pi18.decode(command, frame)

    def identity_from(self, found: Mapping[str, str]) -> Identity:
        # PI18 has no model-name query: the rated power from PIRI tells units apart
        model = f"PI18 inverter {self._rated_va} VA" if self._rated_va else "PI18 inverter"
        return Identity(
            manufacturer=self.manufacturer,
            model=model,
            serial_number=found.get("serial_number"),
            sw_version=found.get("main_cpu_firmware"),
        )

    # -- what to poll ----------------------------------------------------------------

    def default_commands(self) -> tuple[str, ...]:
        return ("GS", "PIRI", "MOD", "FWS", "FLAG")

    def schedule(self, fast: float, slow: float) -> tuple[tuple[str, float], ...]:
        """Live values every `fast` seconds, ratings and flags every `slow`; on a parallel
        system each unit's PGSn with the live values."""
        units = tuple((u.command, fast) for u in self._parallel.units) if self._parallel else ()
        return (("GS", fast), ("MOD", fast), ("FWS", fast), *units, ("PIRI", slow), ("FLAG", slow))

    def parallel(self) -> ParallelSystem | None:
        """The parallel system behind this link (`?units=N`), or None for a single unit."""
        return self._parallel

    def table(self, command: str) -> FieldTable:
        fields = super().table(command)
        return without_roles(fields, FLOW_ROLES) if self._parallel and command == "GS" else fields

    def named_queries(self) -> dict[str, tuple[str, ...]]:
        """mpp-solar's names for `solarstack query`: status and settings as the schedule polls
        them, the serial number (ID) and the firmware version (VFW)."""
        return {**scheduled_queries(self), "get_device_id": ("ID",), "get_version": ("VFW",)}

    def counters(self) -> tuple[Counter, ...]:
        if self._parallel is not None:
            return self._parallel.system_counters
        from solarstack.protocols.pi18.energy import PI18_COUNTERS

        return PI18_COUNTERS

    def is_query(self, command: str) -> bool:
        return pi18.is_query(command)

    def queries(self) -> tuple[str, ...]:
        """The read-only commands by name; patterned ones (PGSn, dated energy) are allowed by
        `is_query` but listed only where a schedule names them."""
        return tuple(c.name for c in pi18.COMMANDS.values() if c.read_only and c.pattern is None)

    # -- settings --------------------------------------------------------------------

    def settings(self) -> tuple[Setting, ...]:
        """Settings with bounds fitted to this unit once its ratings are known (the catalogue,
        HA discovery and the web's allow-list are all built from this)."""
        return pi18.settings_for(self._context) if self._context is not None else pi18.SETTINGS

    def ratings(self) -> Mapping[str, Value]:
        """PIRI, and from it the rated power the model name shows (identity_from)."""
        piri = super().ratings()
        self._rated_va = piri.get("rated_ac_output_apparent_power")
        return piri

    def context_from(self, ratings: Mapping[str, Value], *offers: Mapping[str, Value] | None) -> pi18.Pi18Context:
        return pi18.context_from(ratings, *offers)

    def allowed(self, key: str) -> Setting:
        return allow_listed(key, pi18.SETTING_MAP, self.settings)

    def setter_command(self, setting: str, value: str, ctx: pi18.Pi18Context) -> str:
        return pi18.setter_command(setting, value, ctx)

    def expected_readback(self, setting: str, value: str) -> Value:
        return pi18.expected_readback(setting, value)


def open_device(url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False) -> Pi18Device:
    """Build a PI18 device from its URL (the transport opens on first use).

    `allow_destructive` is accepted for the registry's one signature: PI18 offers no
    destructive action.
    """
    from solarstack.transports.factory import open_transport

    return Pi18Device(
        url.name,
        open_transport(url),
        timeout=timeout if timeout is not None else url.float_option("timeout", DEFAULT_TIMEOUT),
        bump_zero=flag_option(url.option("crc_bump_zero", "0")),
        units=unit_count(url.option("units"), url.raw),
    )

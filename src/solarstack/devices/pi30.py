"""Devices layer: a PI30 inverter — the PI30 codec over any transport.

The link (one request at a time, bounded by a deadline, stale bytes dropped first, the
link closed on failure so the next call reopens it), queries, identity and the setting
write flow (`apply`: validate, write, ACK/NAK, read back, audit lines `refused`, `write`,
`done`, `nak`, `failed` on logger `solarstack.audit`) are the PI family's, shared with
PI18: devices/pifamily.py. This class names the PI30 codec, what to poll and which
settings it takes: writes are range-checked against the unit's own ratings (QPIRI,
QMCHGCR, QMUCHGCR). Destructive actions (pi30.DESTRUCTIVE: restore defaults) are off the
allow-list unless the device is built with `allow_destructive=True`.

A parallel system (`?units=N` on the URL, 2..9) also polls QPGS0..N-1 and offers the
reader its `parallel()` description (devices/parallel.py): one device per unit from QPGSn,
with counters from that unit's power, and system totals on this device. Without the
option nothing here changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ProtocolError, SettingError
from solarstack.core.fields import Field, FieldTable, Kind, Setting, Value
from solarstack.devices.base import Identity, scheduled_queries
from solarstack.devices.parallel import ParallelSystem, Total, unit_count, units_of, without_roles
from solarstack.devices.pifamily import DEFAULT_TIMEOUT, CommandSpec, PiDevice, flag_option, logger, unknown_setting
from solarstack.protocols import pi30
from solarstack.transports.base import Transport

if TYPE_CHECKING:
    from collections.abc import Mapping

    from solarstack.core.energy import Counter

#: How a refused destructive action says it can be enabled (the reader's setting).
ENABLE_DESTRUCTIVE = "INVERTER_ALLOW_DESTRUCTIVE=true"
#: Unit n of a parallel system ({n} from 0).
UNIT_COMMAND = "QPGS{n}"
#: The flows that add up across devices (consumers sum a role over devices: the dashboard's PV,
#: the web's energy table). On a parallel system they are said once, by the system's totals
#: and counters: the master's own QPIGS figures and every unit's are shares, so they lose
#: these roles (devices/parallel.py: without_roles). Per-unit roles such as soc stay.
FLOW_ROLES = frozenset({"pv_power", "load_power", "battery_charge_current", "battery_discharge_current"})


def _power(key: str, label: str, role: str, group: str) -> Field:
    """A system total in watts, shaped like a counter's derived power (core/energy.py)."""
    return Field(key, kind=Kind.FLOAT, unit="W", label=label, role=role, group=group, precision=0)


#: System totals: the sum over the units of each unit's key (QPGSn or its derived powers).
TOTALS: tuple[Total, ...] = (
    Total("pv_power", _power("pv_power", "PV power (system)", "pv_power", "pv")),
    Total("ac_output_active_power", _power("load_power", "Load power (system)", "load_power", "output")),
    Total("grid_power", _power("grid_power", "Grid power (system)", "grid_power", "grid")),
    Total("battery_power", _power("battery_power", "Battery power (system)", "battery_power", "battery")),
)


class Pi30Device(PiDevice[pi30.Pi30Context]):
    """One PI30-family inverter behind one transport."""

    protocol = "pi30"
    energy_command = "QPIGS"
    #: Asked once for the device page: serial number, firmware, model name.
    IDENTITY_COMMANDS = ("QID", "QVFW", "QMN")

    def __init__(
        self,
        device_id: str,
        transport: Transport,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        bump_zero: bool = False,
        allow_destructive: bool = False,
        units: int | None = None,
    ) -> None:
        super().__init__(device_id, transport, timeout=timeout, bump_zero=bump_zero)
        self.allow_destructive = allow_destructive
        self._parallel: ParallelSystem | None = None
        if units is not None:
            self._parallel = _parallel_system(device_id, units)
            # the system's counters integrate the totals, which are complete once the last unit answered
            self.energy_command = self._parallel.units[-1].command

    # -- codec -----------------------------------------------------------------------

    def frame_end(self, buffer: bytes) -> int | None:
        return pi30.frame_end(buffer)

    def lookup(self, command: str) -> CommandSpec:
        return pi30.lookup(command)

    def encode(self, command: str) -> bytes:
        return pi30.encode(command, bump_zero=self.bump_zero)

    def decode(self, command: str, frame: bytes) -> dict[str, Value]:
        return pi30.decode(command, frame)  # a setter's (ACK passes; (NAK raises NakError

    def identity_from(self, found: Mapping[str, str]) -> Identity:
        return Identity(
            manufacturer=self.manufacturer,
            model=found.get("model_name") or "PI30 inverter",
            serial_number=found.get("serial_number"),
            sw_version=found.get("main_cpu_firmware"),
        )

    # -- what to poll ----------------------------------------------------------------

    def default_commands(self) -> tuple[str, ...]:
        return ("QPIGS", "QPIRI", "QMOD", "QPIWS", "QFLAG")

    def schedule(self, fast: float, slow: float) -> tuple[tuple[str, float], ...]:
        """Live values every `fast` seconds, ratings and flags every `slow`; on a parallel
        system each unit's QPGSn with the live values."""
        units = tuple((u.command, fast) for u in self._parallel.units) if self._parallel else ()
        return (("QPIGS", fast), ("QMOD", fast), ("QPIWS", fast), *units, ("QPIRI", slow), ("QFLAG", slow))

    def parallel(self) -> ParallelSystem | None:
        """The parallel system behind this link (`?units=N`), or None for a single unit."""
        return self._parallel

    def table(self, command: str) -> FieldTable:
        fields = super().table(command)
        return without_roles(fields, FLOW_ROLES) if self._parallel and command == "QPIGS" else fields

    def named_queries(self) -> dict[str, tuple[str, ...]]:
        """mpp-solar's names for `solarstack query`: status and settings as the schedule polls
        them, the serial number (QID) and the firmware version (QVFW)."""
        return {**scheduled_queries(self), "get_device_id": ("QID",), "get_version": ("QVFW",)}

    def counters(self) -> tuple[Counter, ...]:
        if self._parallel is not None:
            return self._parallel.system_counters
        from solarstack.protocols.pi30.energy import PI30_COUNTERS

        return PI30_COUNTERS

    def is_query(self, command: str) -> bool:
        return pi30.is_query(command)

    def queries(self) -> tuple[str, ...]:
        """The read-only commands by name; patterned ones (QPGSn, dated energy) are allowed by
        `is_query` but listed only where a schedule names them."""
        return tuple(c.name for c in pi30.COMMANDS.values() if c.read_only and c.pattern is None)

    # -- settings --------------------------------------------------------------------

    def settings(self) -> tuple[Setting, ...]:
        """Settings (and actions) with bounds fitted to this unit once its ratings are known.

        Destructive actions are left out unless enabled: the catalogue, HA discovery and
        the web's allow-list are all built from this.
        """
        fitted = pi30.settings_for(self._context) if self._context is not None else pi30.SETTINGS
        actions = (a for a in pi30.ACTIONS if self.allow_destructive or a.key not in pi30.DESTRUCTIVE)
        return (*fitted, *actions)

    def context(self, *, refresh: bool = False) -> pi30.Pi30Context:
        """The unit's ratings that bound settings, asked once and cached."""
        if self._context is None or refresh:
            qpiri = self.query("QPIRI").values
            lists: list[dict[str, Value] | None] = []
            for cmd in ("QMCHGCR", "QMUCHGCR"):
                try:
                    lists.append(self.query(cmd).values)
                except ProtocolError as exc:  # older firmware lacks them: fall back to static bounds
                    logger(__name__).info(
                        "%s: %s unsupported (%s); current settings use static bounds", self.id, cmd, exc
                    )
                    lists.append(None)
            self._context = pi30.context_from(qpiri, lists[0], lists[1])
        return self._context

    def allowed(self, key: str) -> Setting:
        found = pi30.SETTING_MAP.get(key)
        if found is None or (key in pi30.DESTRUCTIVE and not self.allow_destructive):
            if found is not None:
                raise SettingError(
                    f"{key} erases the inverter's settings and is disabled; set {ENABLE_DESTRUCTIVE} to allow it"
                )
            raise unknown_setting(key, self.settings())
        return found

    def precheck(self, spec: Setting, value: str) -> None:
        if spec.options == (pi30.PRESS,):  # a button needs no ratings: refuse junk before any I/O
            pi30.setter_command(spec.key, value, pi30.Pi30Context())

    def setter_command(self, setting: str, value: str, ctx: pi30.Pi30Context) -> str:
        return pi30.setter_command(setting, value, ctx)

    def expected_readback(self, setting: str, value: str) -> Value:
        return pi30.expected_readback(setting, value)

    def refit(self, command: str, values: dict[str, Value]) -> None:
        """Ratings from the read-back QPIRI: no second round of QPIRI, QMCHGCR, QMUCHGCR per
        write (at 2400 baud each costs ~0.5 s). The current lists do not change with settings."""
        if command != "QPIRI":
            return
        try:
            nominal = pi30.context_from(values).nominal_battery_voltage
        except SettingError:
            self._context = None  # asked again before the next write
            return
        if self._context is not None:
            self._context = self._context._replace(nominal_battery_voltage=nominal)


def open_device(url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False) -> Pi30Device:
    """Build a PI30 device from its URL (the transport opens on first use).

    `allow_destructive` puts restore-defaults on the allow-list (INVERTER_ALLOW_DESTRUCTIVE).
    """
    from solarstack.transports.factory import open_transport

    return Pi30Device(
        url.name,
        open_transport(url),
        timeout=timeout if timeout is not None else url.float_option("timeout", DEFAULT_TIMEOUT),
        bump_zero=flag_option(url.option("crc_bump_zero", "0")),
        allow_destructive=allow_destructive,
        units=unit_count(url.option("units"), url.raw),
    )


def _parallel_system(system_id: str, units: int) -> ParallelSystem:
    """A PI30 parallel system of `units` units: QPGSn per unit, counters as PI30_COUNTERS but
    from QPGSn's keys (it reports PV volts and amps, not watts), totals as TOTALS."""
    from dataclasses import replace

    from solarstack.core.energy import Counter, Term
    from solarstack.protocols.pi30.energy import PI30_COUNTERS

    pv = ("pv_input_voltage", "pv_input_current")

    def from_qpgs(term: Term) -> Term:
        return Term(pv, term.sign) if term.factors == ("pv_input_power",) else term

    # a unit's counters and derived powers count its share: no role (see FLOW_ROLES)
    unit_counters = tuple(
        replace(c, terms=tuple(from_qpgs(t) for t in c.terms), role=None, power_role=None) for c in PI30_COUNTERS
    )
    # QPGSn has no PV watts: the unit's PV counter publishes the power it integrates
    unit_counters = tuple(
        replace(c, power_key="pv_power", power_label="PV power", power_group="pv") if c.key == "pv_energy" else c
        for c in unit_counters
    )
    system_counters = (
        Counter("pv_energy", "PV energy", (Term(("pv_power",)),), role="pv_energy"),
        Counter("load_energy", "Load energy", (Term(("load_power",)),), role="load_energy"),
        Counter(
            "battery_charge_energy", "Battery charge energy", (Term(("battery_power",)),), role="battery_charge_energy"
        ),
        Counter(
            "battery_discharge_energy",
            "Battery discharge energy",
            (Term(("battery_power",), -1.0),),
            role="battery_discharge_energy",
        ),
        Counter("grid_import_energy", "Grid import energy", (Term(("grid_power",)),), role="grid_import_energy"),
    )
    return ParallelSystem(
        units=units_of(system_id, units, UNIT_COMMAND),
        unit_table=without_roles(pi30.table(UNIT_COMMAND.format(n=0)), FLOW_ROLES),
        unit_counters=unit_counters,
        totals_table=TOTALS,
        system_counters=system_counters,
    )

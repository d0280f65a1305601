"""Devices layer: a PI30 inverter — the PI30 codec over any transport.

The link (one request at a time, bounded by a deadline, stale bytes dropped first, the
link closed on failure so the next call reopens it), queries, identity and the setting
write flow (`apply`: validate, write, ACK/NAK, read back, audit lines `refused`, `write`,
`done`, `nak`, `failed` on logger `solarstack.audit`) are the PI family's, shared with
PI18: devices/pifamily.py. This class names the PI30 codec, what to poll and which
settings it takes: writes are range-checked against the unit's own ratings (QPIRI,
QMCHGCR, QMUCHGCR). Destructive actions (pi30.DESTRUCTIVE: restore defaults) are off the
allow-list unless the device is built with `allow_destructive=True`.

A firmware variant (`?variant=revo|mst|m044|m045`, protocols/pi30/variants.py) changes
only tables: every query decodes, and the catalogue lists fields, in that variant's layout;
energy counters and settings whose values the variant does not report are left out, and
its extra live queries (MST: QPIGS2) are polled with QPIGS. Unknown names are a ConfigError.

A parallel system (`?units=N` on the URL, 2..9) also polls QPGS0..N-1 and offers the
reader its `parallel()` description (devices/parallel.py): one device per unit from QPGSn,
with counters from that unit's power, and system totals on this device. Without the
option nothing here changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ConfigError, SettingError
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
from solarstack.devices.pifamily import DEFAULT_TIMEOUT, AllowListDevice, CommandSpec, SetterCodec, flag_option
from solarstack.protocols import pi30
from solarstack.transports.base import Transport

if TYPE_CHECKING:
    from collections.abc import Mapping

    from solarstack.core.energy import Counter

#: Unit n of a parallel system ({n} from 0).
UNIT_COMMAND = "QPGS{n}"


class Pi30Device(AllowListDevice[pi30.Pi30Context]):
    """One PI30-family inverter behind one transport."""

    protocol = "pi30"
    energy_command = "QPIGS"
    #: Asked once for the device page: serial number, firmware, model name.
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
        units: int | None = None,
        variant: str | None = None,
    ) -> None:
        super().__init__(device_id, transport, timeout=timeout, bump_zero=bump_zero)
        self.allow_destructive = allow_destructive
        #: The firmware variant's name (None: base PI30); ConfigError for an unknown one.
        self.variant = pi30.find_variant(variant).name if variant else None
        self._parallel: ParallelSystem | None = None
        if units is not None:
            self._parallel = _parallel_system(device_id, units, self.variant)
            # the system's counters integrate the totals, which are complete once the last unit answered
            self.energy_command = self._parallel.units[-1].command

    # -- codec -----------------------------------------------------------------------

    def frame_end(self, buffer: bytes) -> int | None:
        return pi30.frame_end(buffer)

    def lookup(self, command: str) -> CommandSpec:
        return pi30.lookup(command, self.variant)

    def encode(self, command: str) -> bytes:
        return pi30.encode(command, bump_zero=self.bump_zero)

    def decode(self, command: str, frame: bytes) -> dict[str, Value]:
        return pi30.decode(command, frame, self.variant)  # a setter's (ACK passes; (NAK raises NakError

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
        live = tuple((c, fast) for c in self._live())
        return (("QPIGS", fast), *live, ("QMOD", fast), ("QPIWS", fast), *units, ("QPIRI", slow), ("QFLAG", slow))

    def _live(self) -> tuple[str, ...]:
        """The variant's extra live queries (MST: QPIGS2)."""
        return pi30.find_variant(self.variant).live if self.variant else ()

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

        if self.variant is None:
            return PI30_COUNTERS
        # a counter needs every value it multiplies: one the variant's QPIGS lacks (REVO has no
        # discharge current) would never count, so it is not offered
        reported = {f.key for f in self.table("QPIGS")}
        return tuple(c for c in PI30_COUNTERS if _needs(c) <= reported)

    def is_query(self, command: str) -> bool:
        return pi30.is_query(command)

    def queries(self) -> tuple[str, ...]:
        """The read-only commands by name; patterned ones (QPGSn, dated energy) are allowed by
        `is_query` but listed only where a schedule names them."""
        return tuple(c.name for c in pi30.COMMANDS.values() if c.read_only and c.pattern is None)

    # -- settings --------------------------------------------------------------------

    def setters(self) -> SetterCodec[pi30.Pi30Context]:
        return pi30

    def blank_context(self) -> pi30.Pi30Context:
        return pi30.Pi30Context()

    def settings(self) -> tuple[Setting, ...]:
        """The allow-list's settings and actions (AllowListDevice), less those this variant
        cannot read back."""
        return tuple(s for s in super().settings() if self._reads_back(s))

    def _reads_back(self, spec: Setting) -> bool:
        """False for a setting whose read-back field this variant does not report (REVO's QPIRI
        has no re-charge voltage): a write could never be confirmed, so it is not offered."""
        if self.variant is None or not spec.readback or not spec.readback_command:
            return True
        return any(f.key == spec.readback for f in self.table(spec.readback_command))

    def context_from(self, ratings: Mapping[str, Value], *offers: Mapping[str, Value] | None) -> pi30.Pi30Context:
        short_clock = pi30.find_variant(self.variant).short_clock if self.variant else False
        return pi30.context_from(ratings, *offers, short_clock=short_clock)

    def allowed(self, key: str) -> Setting:
        found = pi30.SETTING_MAP.get(key)
        if found is not None and not self._reads_back(found):
            raise SettingError(f"{key}: a {self.variant} unit does not report it back, so it cannot be set here")
        return super().allowed(key)


def open_device(url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False) -> Pi30Device:
    """Build a PI30 device from its URL (the transport opens on first use).

    `allow_destructive` puts restore-defaults on the allow-list (INVERTER_ALLOW_DESTRUCTIVE).
    `?variant=` names the firmware variant (pi30.VARIANTS); an unknown one is a ConfigError
    before any I/O.
    """
    from solarstack.transports.factory import open_transport

    return Pi30Device(
        url.name,
        open_transport(url),
        timeout=timeout if timeout is not None else url.float_option("timeout", DEFAULT_TIMEOUT),
        bump_zero=flag_option(url.option("crc_bump_zero", "0")),
        allow_destructive=allow_destructive,
        units=unit_count(url.option("units"), url.raw),
        variant=_variant_option(url),
    )


def _variant_option(url: DeviceURL) -> str | None:
    """`?variant=`: a known variant's name, None when absent or empty."""
    raw = url.option("variant")
    if not raw:
        return None
    try:
        return pi30.find_variant(raw).name
    except ConfigError as exc:
        raise ConfigError(f"device URL {url.raw!r}: {exc}") from None


def _needs(counter: Counter) -> set[str]:
    """Every QPIGS key a counter reads (its factors and its gate)."""
    keys = {key for term in counter.terms for key in term.factors}
    return keys | {counter.gate} if counter.gate else keys


def _parallel_system(system_id: str, units: int, variant: str | None = None) -> ParallelSystem:
    """A PI30 parallel system of `units` units: QPGSn per unit, counters as PI30_COUNTERS but
    from QPGSn's keys (it reports PV volts and amps, not watts), totals as every family's."""
    from dataclasses import replace

    from solarstack.core.energy import Term
    from solarstack.protocols.pi30.energy import PI30_COUNTERS

    pv = ("pv_input_voltage", "pv_input_current")

    def from_qpgs(term: Term) -> Term:
        return Term(pv, term.sign) if term.factors == ("pv_input_power",) else term

    qpgs_counters = tuple(replace(c, terms=tuple(from_qpgs(t) for t in c.terms)) for c in PI30_COUNTERS)
    return ParallelSystem(
        units=units_of(system_id, units, UNIT_COMMAND),
        unit_table=without_roles(pi30.table(UNIT_COMMAND.format(n=0), variant), FLOW_ROLES),
        unit_counters=unit_counters(qpgs_counters),
        totals_table=TOTALS,
        system_counters=system_counters(),
    )

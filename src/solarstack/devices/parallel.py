"""Devices layer: a parallel (or split-phase) system of inverter units behind one link.

Two to nine units share one battery bank and one AC output; the one the cable is plugged
into (the master) answers for all of them, unit n through a per-unit query (PI30: QPGSn).
`ParallelSystem` is what a reader needs to publish such a system as one device per unit
plus the system device, without knowing the protocol:

    system device  <id>            the link's own queries (status, ratings, settings) and the
                                   totals below, with the system's energy counters
      └─ unit device <id>_unit1 …  one per unit: its per-unit query's fields and its own
                                   energy counters, integrated from that unit's power

The family says which query reads unit n, its field table, the counters a unit's readings
feed and which unit keys sum to which total (`Total` rows); `totals()` is the one place
that sums them, so every consumer reads totals rather than adding units itself.

It must not do I/O, talk to MQTT or name a protocol's frames: devices/pi30.py gives the
rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from solarstack.core.errors import ConfigError
from solarstack.core.fields import Field, FieldTable, Kind, Value

if TYPE_CHECKING:
    from solarstack.core.energy import Counter

#: Voltronic parallel systems take two to nine units (the per-unit query has one digit).
MIN_UNITS, MAX_UNITS = 2, 9


class Unit(NamedTuple):
    """One unit of the system: its device id, its title and the query that reads it.

    A unit whose readings come inside the system's own reading (`Reading.units`: a Hoymiles
    DTU answers for all its microinverters at once) has its id as `command` (nothing polls
    it), and may differ from its siblings: its own rows, counters, kind and model.
    """

    id: str  # `<system>_unit<n>`, n from 1 (what the inverter's display shows)
    title: str  # "Unit 1"
    command: str  # the per-unit query, e.g. QPGS0
    table: FieldTable | None = None  # else the system's unit_table
    counters: tuple[Counter, ...] | None = None  # else the system's unit_counters
    kind: str | None = None  # else the system's kind (core.catalog.DEVICE_KINDS)
    model: str | None = None  # else the system's model
    sw_version: str | None = None  # else the system's firmware


class Total(NamedTuple):
    """A system total: `field` on the system device is the sum of `source` over the units."""

    source: str
    field: Field


class ParallelSystem(NamedTuple):
    """What a reader needs to publish a parallel system (see module doc)."""

    units: tuple[Unit, ...]
    unit_table: FieldTable  # the per-unit query's rows
    unit_counters: tuple[Counter, ...]  # fed by each unit's readings (their derived powers too)
    totals_table: tuple[Total, ...]
    system_counters: tuple[Counter, ...]  # fed by the totals

    @property
    def total_fields(self) -> FieldTable:
        return tuple(t.field for t in self.totals_table)

    def unit_for(self, command: str) -> Unit | None:
        return next((u for u in self.units if u.command == command), None)

    def totals(self, unit_values: Sequence[Mapping[str, Value]]) -> dict[str, Value] | None:
        """Each total as the sum over every unit; None unless every unit has a number for it
        (a partial sum would read as a sudden drop of the whole system)."""
        if len(unit_values) != len(self.units):
            return None
        out: dict[str, Value] = {}
        for total in self.totals_table:
            parts = [v.get(total.source) for v in unit_values]
            if not all(isinstance(p, int | float) and not isinstance(p, bool) for p in parts):
                return None
            digits = 1 if total.field.precision is None else max(1, total.field.precision)
            out[total.field.key] = round(sum(float(p) for p in parts if isinstance(p, int | float)), digits)
        return out


def unit_count(raw: str | None, url: str) -> int | None:
    """The `units=N` URL option: None without it, else N in MIN_UNITS..MAX_UNITS (ConfigError)."""
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not MIN_UNITS <= int(raw) <= MAX_UNITS:
        raise ConfigError(f"device URL {url!r}: units={raw!r}; a parallel system has {MIN_UNITS} to {MAX_UNITS} units")
    return int(raw)


def units_of(system_id: str, count: int, command: str) -> tuple[Unit, ...]:
    """`count` units of `system_id`, unit n read by `command` with `{n}` its 0-based index."""
    return tuple(Unit(f"{system_id}_unit{n + 1}", f"Unit {n + 1}", command.format(n=n)) for n in range(count))


def without_roles(table: FieldTable, roles: frozenset[str]) -> FieldTable:
    """`table` with `roles` taken off its rows: on a parallel system's master, its own PV and
    load power are one unit's share, and the system's totals carry those roles instead."""
    return tuple(f._replace(role=None) if f.role in roles else f for f in table)


# -- what every family's system shares ---------------------------------------------------

#: The flows that add up across devices (consumers sum a role over devices: the dashboard's
#: PV, the web's energy table). On a parallel system they are said once, by the system's
#: totals and counters: the master's own status figures and every unit's are shares, so they
#: lose these roles (`without_roles`). Per-unit roles such as soc stay.
FLOW_ROLES = frozenset({"pv_power", "load_power", "battery_charge_current", "battery_discharge_current"})


def _power(key: str, label: str, group: str) -> Field:
    """A system total in watts, shaped like a counter's derived power (core/energy.py)."""
    return Field(key, kind=Kind.FLOAT, unit="W", label=label, role=key, group=group, precision=0)


#: System totals: the sum over the units of each unit's key (its per-unit query's load, and
#: the powers its counters derive). Every family's unit counters publish `pv_power`,
#: `grid_power` and `battery_power`, and its per-unit query reports `ac_output_active_power`.
TOTALS: tuple[Total, ...] = (
    Total("pv_power", _power("pv_power", "PV power (system)", "pv")),
    Total("ac_output_active_power", _power("load_power", "Load power (system)", "output")),
    Total("grid_power", _power("grid_power", "Grid power (system)", "grid")),
    Total("battery_power", _power("battery_power", "Battery power (system)", "battery")),
)


def system_counters() -> tuple[Counter, ...]:
    """The system's five lifetime counters (keys and roles as a single unit's), integrating
    the totals: each flow counted once for the site."""
    from solarstack.core.energy import Counter, Term

    return (
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


def unit_counters(counters: Sequence[Counter]) -> tuple[Counter, ...]:
    """A single unit's counters as one unit of a system counts them: no roles (its flows are
    shares, see FLOW_ROLES), and the PV counter publishing the power it integrates as
    `pv_power` (a TOTALS source)."""
    from dataclasses import replace

    shares = (replace(c, role=None, power_role=None) for c in counters)
    return tuple(
        replace(c, power_key="pv_power", power_label="PV power", power_group="pv") if c.key == "pv_energy" else c
        for c in shares
    )

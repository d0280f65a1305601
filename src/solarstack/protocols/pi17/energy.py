"""Protocols layer (PI17): the inverter's energy counters, as data for core.energy.

PI17 units measure their power flows, and say so in PS: both PV strings, the load (total
of the phases), the grid (`grid_power`, + import, - export) and the battery
(`battery_power`, + charge). So unlike PI30 and PI18 (protocols/pi30/energy.py), nothing
here is a power balance: each counter integrates what the unit itself reports, with the
same keys and roles as theirs, plus grid export, which a PI17 hybrid feeds and measures.

One gap in what units send: PS's battery power is "reserved" in the 2022 PDF and empty on
every recorded MPI 15K unit (jblance/mpp-solar's samples). Where it is empty,
`battery_power_from` gives the device class the battery power GS measures instead
(battery current * battery voltage, + charge), so the battery counters still run. Pure
data and arithmetic: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from solarstack.core.energy import Counter, Term
from solarstack.core.fields import Value

#: The command whose readings feed the counters.
ENERGY_COMMAND = "PS"

_GRID = ("grid_power",)
_BATTERY = ("battery_power",)
PI17_COUNTERS: tuple[Counter, ...] = (
    Counter("pv_energy", "PV energy", (Term(("pv_input_power",)), Term(("pv2_input_power",))), role="pv_energy"),
    Counter("load_energy", "Load energy", (Term(("ac_output_active_power",)),), role="load_energy"),
    Counter("battery_charge_energy", "Battery charge energy", (Term(_BATTERY),), role="battery_charge_energy"),
    Counter(
        "battery_discharge_energy", "Battery discharge energy", (Term(_BATTERY, -1.0),), role="battery_discharge_energy"
    ),
    Counter("grid_import_energy", "Grid import energy", (Term(_GRID),), role="grid_import_energy"),
    Counter("grid_export_energy", "Grid export energy", (Term(_GRID, -1.0),), role="grid_export_energy"),
)


def _number(value: Value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def battery_power_from(gs: Mapping[str, Value]) -> int | None:
    """Battery power in W (+ charge) from a decoded GS: its signed current times its voltage;
    None when either is missing."""
    amps, volts = _number(gs.get("battery_current")), _number(gs.get("battery_voltage"))
    return None if amps is None or volts is None else round(amps * volts)

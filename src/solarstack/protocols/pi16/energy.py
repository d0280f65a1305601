"""Protocols layer (PI16): the inverter's energy counters, as data for core.energy.

QPIGS gives three PV strings and the load as powers, and the grid side as a magnitude
(`grid_output_power`) whose direction is in the status token (`line_power_direction`:
`input` taking from the grid, `output` feeding it, `input_and_output` both at once).
`grid_power_from` turns the two into one signed `grid_power` (+ import, - export; the
`GRID_POWER` row), which the device class adds to each QPIGS reading, and the grid
counters integrate it. "Both at once" has no net figure: no grid power then, and the
counters skip that interval rather than guess.

PV counts the first two strings: every recorded unit reports both, and marks the third
`-----` (not fitted), which the codec omits, and core.energy counts nothing while a term is
missing. A three-string unit's third string is in `pv3_input_power`, not in `pv_energy`.

PI16 reports no battery current or power (only its voltage and a charge/discharge
direction), so there are no battery counters: a power balance would count the unit's
conversion loss as battery energy. Keys and roles are PI30's (protocols/pi30/energy.py),
plus grid export. Pure data and arithmetic: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from solarstack.core.energy import Counter, Term
from solarstack.core.fields import Field, Kind, Value

#: The command whose readings feed the counters.
ENERGY_COMMAND = "QPIGS"

#: The signed grid power the device class adds to QPIGS readings.
GRID_POWER = Field(
    "grid_power", kind=Kind.INT, unit="W", label="Grid power", role="grid_power", group="grid", precision=0
)

_SIGN = {"input": 1, "output": -1}

_GRID = ("grid_power",)
PI16_COUNTERS: tuple[Counter, ...] = (
    Counter(
        "pv_energy",
        "PV energy",
        (Term(("pv_input_power",)), Term(("pv2_input_power",))),
        role="pv_energy",
    ),
    Counter("load_energy", "Load energy", (Term(("ac_output_active_power",)),), role="load_energy"),
    Counter("grid_import_energy", "Grid import energy", (Term(_GRID),), role="grid_import_energy"),
    Counter("grid_export_energy", "Grid export energy", (Term(_GRID, -1.0),), role="grid_export_energy"),
)


def grid_power_from(qpigs: Mapping[str, Value]) -> int | None:
    """Signed grid power in W from a decoded QPIGS (+ import), or None when the direction
    is missing or both at once."""
    power, sign = qpigs.get("grid_output_power"), _SIGN.get(str(qpigs.get("line_power_direction")))
    if sign is None or isinstance(power, bool) or not isinstance(power, int | float):
        return None
    return round(power) * sign

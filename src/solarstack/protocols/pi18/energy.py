"""Protocols layer (PI18): the inverter's energy counters, as data for core.energy.

The same five lifetime counters (keys and roles) as PI30 (protocols/pi30/energy.py), from GS
keys. GS reports two PV strings and, like PI30, no grid power: grid import is the gated power
balance of what it does report. The unit's own ET/ED counters are not used: they count PV
only, ET in whole kWh, and integrating GS keeps all five consistent with each other and with
PI30's. Pure data: no I/O.
"""

from __future__ import annotations

from solarstack.core.energy import Counter, Term

_PV = (Term(("pv_input_power",)), Term(("pv2_input_power",)))
_CHARGE = Term(("battery_charging_current", "battery_voltage"))
_DISCHARGE = Term(("battery_discharge_current", "battery_voltage"))
PI18_COUNTERS: tuple[Counter, ...] = (
    Counter("pv_energy", "PV energy", _PV, role="pv_energy"),
    Counter("load_energy", "Load energy", (Term(("ac_output_active_power",)),), role="load_energy"),
    Counter("battery_charge_energy", "Battery charge energy", (_CHARGE,), role="battery_charge_energy"),
    Counter("battery_discharge_energy", "Battery discharge energy", (_DISCHARGE,), role="battery_discharge_energy"),
    Counter(
        "grid_import_energy",
        "Grid import energy",
        (
            Term(("ac_output_active_power",)),
            _CHARGE,
            *(Term(t.factors, -1.0) for t in _PV),
            Term(_DISCHARGE.factors, -1.0),
        ),
        gate="ac_input_voltage",
        gate_min=90.0,
        role="grid_import_energy",
        power_key="grid_power",
        power_role="grid_power",
        power_label="Grid power",
        power_group="grid",
        signed_power=False,
    ),
    Counter(
        "battery_power",
        "Battery power",
        (_CHARGE, Term(_DISCHARGE.factors, -1.0)),
        power_key="battery_power",
        power_role="battery_power",
        power_label="Battery power",
        power_group="battery",
        energy=False,
    ),
)

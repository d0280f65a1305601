"""Protocols layer (PI30): the inverter's energy counters, as data for core.energy.

Which QPIGS values make each counter is PI30 knowledge, so it lives with the codec,
not in core/ (which integrates any table it is given) nor in a service (which names
no protocol). Pure data: no I/O.
"""

from __future__ import annotations

from solarstack.core.energy import Counter, Term

_CHARGE = Term(("battery_charging_current", "battery_voltage"))
_DISCHARGE = Term(("battery_discharge_current", "battery_voltage"))


def balance_counters(pv: tuple[Term, ...], load: Term) -> tuple[Counter, ...]:
    """The counters of an inverter that reports no grid power (PI30, and PI18 and PI41 with
    their own PV and load terms): PV, load, battery charge and discharge energy, grid import
    as the gated power balance, and the signed battery power.

    Grid import is the balance of what it does report: grid = load + battery charge - PV -
    battery discharge (everything entering the inverter equals everything leaving it).
    Conversion losses make this read a few percent low, and in battery mode the same losses
    keep it at or below zero, which the counter drops; the gate stops it outright when the
    AC input is absent. Battery power is current * battery voltage on each side of the pack.
    """
    return (
        Counter("pv_energy", "PV energy", pv, role="pv_energy"),
        Counter("load_energy", "Load energy", (load,), role="load_energy"),
        Counter("battery_charge_energy", "Battery charge energy", (_CHARGE,), role="battery_charge_energy"),
        Counter("battery_discharge_energy", "Battery discharge energy", (_DISCHARGE,), role="battery_discharge_energy"),
        Counter(
            "grid_import_energy",
            "Grid import energy",
            (load, _CHARGE, *(Term(t.factors, -1.0) for t in pv), Term(_DISCHARGE.factors, -1.0)),
            gate="ac_input_voltage",
            gate_min=90.0,  # below any mains voltage; PI30 shows a few volts of noise without grid
            role="grid_import_energy",
            # no measured grid power: the same gated balance is published as `grid_power`
            power_key="grid_power",
            power_role="grid_power",
            power_label="Grid power",
            power_group="grid",
            # no export reported: a negative balance is conversion loss (an SBU inverter in
            # battery mode with the grid present), so grid power never reads as an export
            signed_power=False,
        ),
        # No energy of its own (the two battery counters above count each side): the signed
        # battery power, + while charging, so consumers need no physics of their own.
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


#: PI30 inverters (QPIGS keys).
PI30_COUNTERS: tuple[Counter, ...] = balance_counters((Term(("pv_input_power",)),), Term(("ac_output_active_power",)))

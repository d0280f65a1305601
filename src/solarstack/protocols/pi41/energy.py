"""Protocols layer (PI41): the inverter's energy counters, as data for core.energy.

A PI41 unit is split phase: QPIGS reports line 1 (and PV1's power), QPIGS2 line 2 (and
PV2's charge current, no PV2 power). A counter integrates one reading, so the device class
(devices/pi41.py) adds to each QPIGS reading what both lines make together (`derived`),
from the QPIGS2 read just before it in the same poll round:

  * `load_power`: both lines' load — the key and role PI30's parallel system device gives
    the site's load (QPGSn's `total_ac_output_active_power` is the parallel system's total,
    another figure); line 1's own row has no role;
  * `pv2_input_power`: PV2's charge current times the battery voltage (PV1's power is the
    PDF's "PV charging power" too).

Without a QPIGS2 (a one-shot QPIGS, one that failed) the derived fields are absent and
core.energy counts nothing for the terms that need them, rather than one line of two.

The counters are PI30's (protocols/pi30/energy.py), same keys and roles: PV, load, battery
charge and discharge, and grid import as the gated power balance (PI41 reports no grid
power either; the gate is the mains voltage, 90 V being below any split-phase line).
Pure data and arithmetic: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from solarstack.core.energy import Counter, Term
from solarstack.core.fields import Field, Kind, Value
from solarstack.protocols.pi30.energy import balance_counters

#: The command whose readings feed the counters, and the one read just before it.
ENERGY_COMMAND = "QPIGS"
LINE2_COMMAND = "QPIGS2"

LOAD_POWER = Field(
    "load_power",
    kind=Kind.INT,
    unit="W",
    label="Load power (both lines)",
    role="load_power",
    group="output",
    precision=0,
)
PV2_POWER = Field(
    "pv2_input_power", kind=Kind.INT, unit="W", label="PV2 power", role="pv_power", group="pv", precision=0
)
#: The rows the device class adds to QPIGS readings.
DERIVED: tuple[Field, ...] = (LOAD_POWER, PV2_POWER)


def _number(value: Value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def derived(qpigs: Mapping[str, Value], qpigs2: Mapping[str, Value]) -> dict[str, Value]:
    """Both lines' load and PV2's power from one round's QPIGS and QPIGS2 (each only when
    its parts are there)."""
    out: dict[str, Value] = {}
    l1, l2 = _number(qpigs.get("ac_output_active_power")), _number(qpigs2.get("l2_ac_output_active_power"))
    if l1 is not None and l2 is not None:
        out[LOAD_POWER.key] = round(l1 + l2)
    amps, volts = _number(qpigs2.get("pv2_input_current")), _number(qpigs.get("battery_voltage"))
    if amps is not None and volts is not None:
        out[PV2_POWER.key] = round(amps * volts)
    return out


PI41_COUNTERS: tuple[Counter, ...] = balance_counters(
    (Term(("pv_input_power",)), Term((PV2_POWER.key,))), Term((LOAD_POWER.key,))
)

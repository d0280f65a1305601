"""Protocols layer (PI18): the inverter's energy counters, as data for core.energy.

The same five lifetime counters (keys and roles) as PI30 (protocols/pi30/energy.py), from GS
keys. GS reports two PV strings and, like PI30, no grid power: grid import is the gated power
balance of what it does report. The unit's own ET/ED counters are not used: they count PV
only, ET in whole kWh, and integrating GS keeps all five consistent with each other and with
PI30's. Pure data: no I/O.
"""

from __future__ import annotations

from solarstack.core.energy import Counter, Term
from solarstack.protocols.pi30.energy import balance_counters

PI18_COUNTERS: tuple[Counter, ...] = balance_counters(
    (Term(("pv_input_power",)), Term(("pv2_input_power",))), Term(("ac_output_active_power",))
)

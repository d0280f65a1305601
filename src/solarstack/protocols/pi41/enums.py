"""Protocols layer (PI41): enum maps and status / warning bit names — data only.

Raw reply text -> stable snake_case label; PI30's map where the LV5048 protocol gives the
same meaning (protocols/pi30/enums.py), PI41's own where it differs. Source: "LV5048 5KW
communication protocol" 2019-02-22 (the vendor PDF kept as jblance/mpp-solar
docs/protocols/PI41_LV5048.5KW.protocol-20190222.for.customer.pdf), and jblance/mpp-solar
mppsolar/protocols/pi41.py where it says more (facts only).
"""

from __future__ import annotations

from solarstack.protocols.pi30 import enums as pi30
from solarstack.protocols.pi30.enums import (
    CHARGER_SOURCE_PRIORITY,
    FLAG_LETTERS,
    INPUT_VOLTAGE_RANGE,
    MACHINE_TYPE,
    MODE,
    ON_OFF,
    ON_OFF_INVERTED,
    OUTPUT_SOURCE_PRIORITY,
    PV_OK_CONDITION,
    PV_POWER_BALANCE,
    QPGS_STATUS_BITS,
    TOPOLOGY,
    frozen,
)

__all__ = [
    "BATTERY_TYPE",
    "CHARGER_SOURCE_PRIORITY",
    "FLAG_LETTERS",
    "INPUT_VOLTAGE_RANGE",
    "L2_STATUS_BITS",
    "MACHINE_TYPE",
    "MODE",
    "ON_OFF",
    "ON_OFF_INVERTED",
    "OUTPUT_MODE",
    "OUTPUT_MODE_2DIGIT",
    "OUTPUT_SOURCE_PRIORITY",
    "PV_OK_CONDITION",
    "PV_POWER_BALANCE",
    "QPIWS_BITS",
    "STATUS_BITS",
    "TOPOLOGY",
]

# QPIRI / QDI: the PDF lists 0-2 only (PI30MAX's lithium types are not LV5048's).
BATTERY_TYPE = frozen({"0": "agm", "1": "flooded", "2": "user"})

# The PDF numbers the output modes 1-6 (QPIRI, QDI, QOPM, POPM) and lists no 0; mpp-solar
# reads 0 as "standalone?". We follow the PDF: a 0 decodes to its raw text "0". 5 and 6 are
# PI41's own: "parallel output (120°)" and "(180°)" — on an LV5048 the angle of L2 to L1
# (120/208 V or 120/240 V) — where PI30 has `phase_1_of_2` and `phase_2_of_2_120`. So PI30's
# map would mislabel them: own map.
OUTPUT_MODE = frozen(
    {
        "1": "parallel",
        "2": "phase_1_of_3",
        "3": "phase_2_of_3",
        "4": "phase_3_of_3",
        "5": "parallel_120",
        "6": "parallel_180",
    }
)

# QOPM answers the same modes with two digits.
OUTPUT_MODE_2DIGIT = frozen({f"0{raw}": label for raw, label in OUTPUT_MODE.items()})

#: QPIGS field 17 and QPGSn / QP2GSn's status string, b7..b0 read from the left: the PDF
#: gives PI41's QPIGS the layout of PI30's QPGSn (SCC ok, AC charging, SCC charging,
#: b4 b3 battery 10 open / 01 under, line loss, load on, configuration changed), not
#: PI30's QPIGS bits. mpp-solar names b4 "battery over (voltage)"; the PDF says open.
STATUS_BITS: tuple[tuple[int, str], ...] = QPGS_STATUS_BITS

#: QPIGS2's status string (line 2 and the second charge controller), b7..b0 from the left;
#: b4 b3 and b0 are reserved. mpp-solar lists seven names for the eight bits (one reserved
#: short), which shifts its L2 line-loss and load flags by one; we follow the PDF.
L2_STATUS_BITS: tuple[tuple[int, str], ...] = (
    (0, "scc2_ok"),
    (1, "l2_ac_charging"),
    (2, "scc2_charging"),
    (5, "l2_line_loss"),
    (6, "l2_load_on"),
)

#: QPIWS a0..a31 (index from the left); a0 and a31 are reserved and not reported. As on
#: PI30, bits 9, 10, 11 and 16 are a fault when a1 (inverter_fault) is set, else a warning.
#: Differences from PI30's list: a0 is reserved (PI30MAX: PV loss), a13 is "overcharge",
#: a30 is "Slave" (a parallel slave unit's warning; the PDF says no more).
QPIWS_BITS: tuple[tuple[int, str], ...] = tuple(
    sorted(
        (
            *((bit, key) for bit, key in pi30.QPIWS_BITS if bit not in (0, 31)),
            (13, "battery_overcharge"),
            (30, "slave_warning"),
        )
    )
)

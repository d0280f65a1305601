"""Protocols layer (PI18): enum maps, flag letters and fault-bit names — data only.

Raw reply text -> stable snake_case label. Labels double as the values a setting
accepts (setters.py), so a select entity reads back exactly what it wrote. Where a
PI18 choice means the same as a PI30 one, it carries PI30's label (`solar`,
`solar_and_utility`, `solar_only`, `appliance`, `ups`), so consumers see one word for
one meaning across the family. Source: the "InfiniSolar V protocol" PDF (2017-09-26,
kept in jblance/mpp-solar docs/protocols/) and mpp-solar's `pi18` and `pi18sv` protocol
definitions for values the PDF leaves out.
"""

from __future__ import annotations

from solarstack.protocols.pi30.enums import frozen

# MOD answers two digits (recorded "05" from an Easun SV, mpp-solar's `pi18sv`).
MODE = frozen(
    {
        "00": "power_on",
        "01": "standby",
        "02": "bypass",
        "03": "battery",
        "04": "fault",
        "05": "hybrid",  # the PDF: "Hybrid mode (Line mode, Grid mode)"
    }
)

# PGSn's work mode is one digit (recorded "5", mpp-solar's `pi18sv`): MOD's modes.
PARALLEL_MODE = frozen({raw[1]: label for raw, label in MODE.items()})

# 0-2 from the PDF; 3, 5 and 6 as mpp-solar's `pi18` lists them (it agrees with PI30MAX
# there; its 4 is "TBD" and its 7/8 are ordered unlike PI30MAX's, so those stay raw).
BATTERY_TYPE = frozen({"0": "agm", "1": "flooded", "2": "user", "3": "pylontech", "5": "weco", "6": "soltaro"})

INPUT_VOLTAGE_RANGE = frozen({"0": "appliance", "1": "ups"})

# Not PI30's list: PI18 has only these two, and no utility-first.
OUTPUT_SOURCE_PRIORITY = frozen({"0": "solar_utility_battery", "1": "solar_battery_utility"})

# PI30 numbers the same three choices 1-3 (its 0 is utility-first); the labels match.
CHARGER_SOURCE_PRIORITY = frozen({"0": "solar", "1": "solar_and_utility", "2": "solar_only"})

SOLAR_POWER_PRIORITY = frozen({"0": "battery_load_utility", "1": "load_battery_utility"})

MACHINE_TYPE = frozen({"0": "off_grid", "1": "grid_tie"})

TOPOLOGY = frozen({"0": "transformerless", "1": "transformer"})

OUTPUT_MODE = frozen(
    {
        "0": "single",
        "1": "parallel",
        "2": "phase_1_of_3",
        "3": "phase_2_of_3",
        "4": "phase_3_of_3",
    }
)

MPPT_STATUS = frozen({"0": "abnormal", "1": "not_charging", "2": "charging"})

BATTERY_DIRECTION = frozen({"0": "idle", "1": "charge", "2": "discharge"})

CONVERTER_DIRECTION = frozen({"0": "idle", "1": "ac_to_dc", "2": "dc_to_ac"})

LINE_DIRECTION = frozen({"0": "idle", "1": "input", "2": "output"})

#: FWS fields 1..16, in reply order (field 0 is the two-digit fault code).
FWS_FLAGS: tuple[str, ...] = (
    "line_fail",
    "output_short",
    "over_temperature",
    "fan_locked",
    "battery_voltage_high",
    "battery_low",
    "battery_under",
    "overload",
    "eeprom_fault",
    "power_limit",
    "pv_voltage_high",
    "pv2_voltage_high",
    "mppt_overload_warning",
    "mppt2_overload_warning",
    "battery_too_low_to_charge",
    "battery_too_low_to_charge_scc2",
)

#: FLAG fields A..H in reply order, and the letter PE/PD name each by (`^S006PEA`). The
#: ninth field (I) is "reserved" in FLAG but "machine type: grid tie" for PE/PD; it is not
#: offered as a setting (switching a unit to grid-tie is not a flag to toggle by accident).
FLAG_LETTERS: tuple[tuple[str, str], ...] = (
    ("A", "buzzer"),
    ("B", "overload_bypass"),
    ("C", "lcd_return_to_default"),
    ("D", "overload_restart"),
    ("E", "over_temperature_restart"),
    ("F", "backlight"),
    ("G", "primary_source_interrupt_alarm"),
    ("H", "fault_code_record"),
)

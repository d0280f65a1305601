"""Protocols layer (PI30): enum maps, status-bit and warning-bit names — data only.

Raw reply text -> stable snake_case label. Labels double as the values a setting
accepts (setters.py), so a select entity reads back exactly what it wrote. Sources:
Voltronic PI30 protocol PDF (QPIRI, QMOD, QPIWS, QFLAG sections) and the PI30MAX
additions as listed by jblance/mpp-solar's pi30max definitions (facts only).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


def frozen(mapping: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(mapping)


MODE = frozen(
    {
        "P": "power_on",
        "S": "standby",
        "L": "line",
        "B": "battery",
        "F": "fault",
        "H": "power_saving",
        "D": "shutdown",
    }
)

#: Axpert MAX 7.2k (`m044`) also reports C: bypass.
MODE_WITH_BYPASS = frozen({**MODE, "C": "bypass"})

# 0-2 on every PI30 unit; 3-8 as listed for PI30MAX firmware (PI30 HS lists differ:
# the MAX list is the newer one). Unlisted digits decode to their raw text.
BATTERY_TYPE = frozen(
    {
        "0": "agm",
        "1": "flooded",
        "2": "user",
        "3": "pylontech",
        "4": "shinheung",
        "5": "weco",
        "6": "soltaro",
        "7": "lib",
        "8": "third_party_lithium",
    }
)

INPUT_VOLTAGE_RANGE = frozen({"0": "appliance", "1": "ups"})

OUTPUT_SOURCE_PRIORITY = frozen({"0": "utility", "1": "solar", "2": "sbu"})

# QPIRI numbering of the protocol PDF; LV6548 units follow it in QPIRI too (mpp-solar PR
# #387). Their QDI and QPGSn differ: the `m045` variant (CHARGER_SOURCE_PRIORITY_NO_UTILITY).
CHARGER_SOURCE_PRIORITY = frozen({"0": "utility", "1": "solar", "2": "solar_and_utility", "3": "solar_only"})

# The PI30 variants' numberings (protocols/pi30/variants.py names their sources).
#: PI30MAX documents no utility-first charging: 0 is undefined (Axpert MAX 7.2k, `m044`).
CHARGER_SOURCE_PRIORITY_MAX = frozen({"0": "undefined", "1": "solar", "2": "solar_and_utility", "3": "solar_only"})
#: LV6548 class (`m045`) in QDI and QPGSn: the PI30 numbering without utility-first, shifted down.
CHARGER_SOURCE_PRIORITY_NO_UTILITY = frozen({"0": "solar", "1": "solar_and_utility", "2": "solar_only"})
#: Axpert MAX 7.2k (`m044`): PBT's list, 07 BAK, 08 lithium (Lib), 09 third-party lithium (Lic).
BATTERY_TYPE_M044 = frozen({**BATTERY_TYPE, "7": "bak", "8": "lib", "9": "third_party_lithium"})
#: LV6548 class (`m045`) QDI: 3 is undefined ("TBD"), the lithium types start at 4.
BATTERY_TYPE_M045 = frozen(
    {
        "0": "agm",
        "1": "flooded",
        "2": "user",
        "4": "pylontech",
        "5": "weco",
        "6": "soltaro",
        "7": "lib",
        "8": "third_party_lithium",
    }
)

MACHINE_TYPE = frozen({"00": "grid_tie", "01": "off_grid", "10": "hybrid"})

TOPOLOGY = frozen({"0": "transformerless", "1": "transformer"})

OUTPUT_MODE = frozen(
    {
        "0": "single",
        "1": "parallel",
        "2": "phase_1_of_3",
        "3": "phase_2_of_3",
        "4": "phase_3_of_3",
        "5": "phase_1_of_2",
        "6": "phase_2_of_2_120",
        "7": "phase_2_of_2_180",
    }
)

# QOPM answers the same modes with two digits.
OUTPUT_MODE_2DIGIT = frozen({f"0{raw}": label for raw, label in OUTPUT_MODE.items()})

PV_OK_CONDITION = frozen({"0": "any_unit", "1": "all_units"})

# 0: PV input max current is the max charge current; 1: PV max power = charge + load power.
PV_POWER_BALANCE = frozen({"0": "charge_current_limit", "1": "charge_plus_load"})

OPERATION_LOGIC = frozen({"0": "automatic", "1": "online", "2": "eco"})

ON_OFF = frozen({"0": "off", "1": "on"})

# Q1 charge stage.
CHARGE_STAGE = frozen({"10": "not_charging", "11": "bulk", "12": "absorb", "13": "float"})

#: QPIGS field 17, read left to right b7..b0.
QPIGS_STATUS_BITS: tuple[tuple[int, str], ...] = (
    (0, "sbu_priority_version"),
    (1, "configuration_changed"),
    (2, "scc_firmware_updated"),
    (3, "load_on"),
    (4, "battery_voltage_steady"),
    (5, "charging"),
    (6, "scc_charging"),
    (7, "ac_charging"),
)

#: QPIGS field 21, read left to right b10 b9 b8.
QPIGS_STATUS2_BITS: tuple[tuple[int, str], ...] = (
    (0, "charging_to_float"),
    (1, "switched_on"),
    (2, "dustproof_installed"),
)

#: QPGSn status string A..H (b7..b0). D E together are the battery status (00 normal,
#: 01 under voltage, 10 open), so D reads as "open" and E as "under".
QPGS_STATUS_BITS: tuple[tuple[int, str], ...] = (
    (0, "scc_ok"),
    (1, "ac_charging"),
    (2, "scc_charging"),
    (3, "battery_open"),
    (4, "battery_under"),
    (5, "line_loss"),
    (6, "load_on"),
    (7, "configuration_changed"),
)

#: QPIWS a0..a31 (index from the left). Reserved bits are not listed and not reported.
#: Bits 9, 10, 11 and 16 are a *fault* when bit 1 (inverter_fault) is set and a
#: *warning* otherwise (protocol PDF note); the names are neutral and the
#: inverter_fault flag tells which — no derived keys, so the meaning stays one row each.
QPIWS_BITS: tuple[tuple[int, str], ...] = (
    (0, "pv_loss"),  # reserved on PI30 HS/MS, "PV loss" on PI30MAX
    (1, "inverter_fault"),
    (2, "bus_over"),
    (3, "bus_under"),
    (4, "bus_soft_fail"),
    (5, "line_fail"),
    (6, "output_short"),
    (7, "inverter_voltage_low"),
    (8, "inverter_voltage_high"),
    (9, "over_temperature"),
    (10, "fan_locked"),
    (11, "battery_voltage_high"),
    (12, "battery_low"),
    (14, "battery_under_shutdown"),
    (15, "battery_derating"),  # PI30MAX
    (16, "overload"),
    (17, "eeprom_fault"),
    (18, "inverter_over_current"),
    (19, "inverter_soft_fail"),
    (20, "self_test_fail"),
    (21, "output_dc_voltage_over"),
    (22, "battery_open"),
    (23, "current_sensor_fail"),
    (24, "battery_short"),
    (25, "power_limit"),
    (26, "pv_voltage_high"),
    (27, "mppt_overload_fault"),
    (28, "mppt_overload_warning"),
    (29, "battery_too_low_to_charge"),
    (31, "battery_weak"),  # PI30MAX; its 36-character variant's bits 32..35 are not decoded
)

#: QFLAG / PE / PD letters -> field and setting key.
FLAG_LETTERS: tuple[tuple[str, str], ...] = (
    ("a", "buzzer"),
    ("b", "overload_bypass"),
    ("j", "power_saving"),
    ("k", "lcd_return_to_default"),
    ("u", "overload_restart"),
    ("v", "over_temperature_restart"),
    ("x", "backlight"),
    ("y", "primary_source_interrupt_alarm"),
    ("z", "fault_code_record"),
)

# QDI lists the buzzer digit inverted: 0 = enabled.
ON_OFF_INVERTED = frozen({"0": "on", "1": "off"})

# Q1 SCC flag.
SCC_STATUS = frozen({"00": "not_communicating", "01": "communicating"})

LED_SPEED = frozen({"0": "low", "1": "medium", "2": "fast"})

LED_EFFECT = frozen({"0": "breathing", "1": "unknown", "2": "solid", "3": "right_scrolling"})

# QCHPT per-hour charger priority (no utility-first choice in timed slots).
TIMED_CHARGER_PRIORITY = frozen({"0": "undefined", "1": "solar", "2": "solar_and_utility", "3": "solar_only"})

# QBMS link to the lithium battery.
BMS_LINK = frozen({"0": "connected", "1": "disconnected"})

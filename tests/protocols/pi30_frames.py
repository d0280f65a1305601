"""Recorded PI30 reply frames, with where each came from, and every field they decode to.

Provenance: unless noted, frames are the `test_responses` of jblance/mpp-solar
(mppsolar/protocols/pi30.py at commit 05fff7e0a10866523702f4b73ad88f2b3ecca559 and
pi30max.py at 04211e566984e4fd97e996c74afb2fb2922c9327), which that project collects
from users' devices (HS/MS/MKS units for pi30.py, LV6048MAX-class for pi30max.py). Their
CRC bytes were produced by the devices, not by our code, so they check crc.py too. One
pi30.py QMOD sample (`(S\\x64\\x39\\r`) fails its own CRC and is not used.

Frames quoted in public issue threads (raw device output in the reporters' logs) are
marked with their URL.

The expected dicts were written from the frame text by hand: position by position
against the protocol PDF's field list (see src/solarstack/protocols/pi30/commands.py).
"""

from __future__ import annotations

from solarstack.core.fields import Value

# (command, frame, expected decode)
RECORDED: list[tuple[str, bytes, dict[str, Value]]] = []

QPIGS_HS = b"(000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 00110110 00 00 00856 010\x24\x8c\r"  # noqa: E501 (a recorded frame stays on one line)
RECORDED.append(
    (
        "QPIGS",
        QPIGS_HS,  # pi30.py; also the example in the Voltronic PI30 protocol PDF
        {
            "ac_input_voltage": 0.0,
            "ac_input_frequency": 0.0,
            "ac_output_voltage": 230.0,
            "ac_output_frequency": 49.9,
            "ac_output_apparent_power": 161,
            "ac_output_active_power": 119,
            "ac_output_load": 3,
            "bus_voltage": 460,
            "battery_voltage": 57.5,
            "battery_charging_current": 12,
            "battery_capacity": 100,
            "heat_sink_temperature": 69,
            "pv_input_current": 14.0,
            "pv_input_voltage": 103.8,
            "battery_voltage_scc": 57.45,
            "battery_discharge_current": 0,
            # 00110110 = b7..b0
            "sbu_priority_version": False,
            "configuration_changed": False,
            "scc_firmware_updated": True,
            "load_on": True,
            "battery_voltage_steady": False,
            "charging": True,
            "scc_charging": True,
            "ac_charging": False,
            "battery_voltage_offset_for_fans": 0.0,
            "eeprom_version": "00",
            "pv_input_power": 856,
            # 010 = b10 b9 b8
            "charging_to_float": False,
            "switched_on": True,
            "dustproof_installed": False,
        },
    )
)
RECORDED.append(
    (
        "QPIGS",
        b"(227.2 50.0 230.3 50.0 0829 0751 010 447 54.50 020 083 0054 02.7 323.6 00.00 00000 00010110 00 00 00879 010\xf1\x8c\r",  # noqa: E501 (a recorded frame stays on one line)
        {  # pi30max.py (LV6048MAX class: PV current with a decimal, SCC voltage 00.00)
            "ac_input_voltage": 227.2,
            "ac_input_frequency": 50.0,
            "ac_output_voltage": 230.3,
            "ac_output_frequency": 50.0,
            "ac_output_apparent_power": 829,
            "ac_output_active_power": 751,
            "ac_output_load": 10,
            "bus_voltage": 447,
            "battery_voltage": 54.5,
            "battery_charging_current": 20,
            "battery_capacity": 83,
            "heat_sink_temperature": 54,
            "pv_input_current": 2.7,
            "pv_input_voltage": 323.6,
            "battery_voltage_scc": 0.0,
            "battery_discharge_current": 0,
            "sbu_priority_version": False,
            "configuration_changed": False,
            "scc_firmware_updated": False,
            "load_on": True,
            "battery_voltage_steady": False,
            "charging": True,
            "scc_charging": True,
            "ac_charging": False,
            "battery_voltage_offset_for_fans": 0.0,
            "eeprom_version": "00",
            "pv_input_power": 879,
            "charging_to_float": False,
            "switched_on": True,
            "dustproof_installed": False,
        },
    )
)

# https://github.com/syssi/esphome-pipsolar/issues/87 (Axpert VM IV Twin 4KVA, 24 V):
# the CRC is 00 E7 — this firmware does NOT bump a 0x00 CRC byte, and it sends the
# three MAX-style trailing fields.
QPIGS_ZERO_CRC = b"(230.0 49.9 230.0 49.9 0805 0751 020 448 29.00 000 100 0037 02.3 271.1 00.00 00007 00010000 00 00 00647 011 0 00 0000\x00\xe7\r"  # noqa: E501 (a recorded frame stays on one line)
RECORDED.append(
    (
        "QPIGS",
        QPIGS_ZERO_CRC,
        {
            "ac_input_voltage": 230.0,
            "ac_input_frequency": 49.9,
            "ac_output_voltage": 230.0,
            "ac_output_frequency": 49.9,
            "ac_output_apparent_power": 805,
            "ac_output_active_power": 751,
            "ac_output_load": 20,
            "bus_voltage": 448,
            "battery_voltage": 29.0,
            "battery_charging_current": 0,
            "battery_capacity": 100,
            "heat_sink_temperature": 37,
            "pv_input_current": 2.3,
            "pv_input_voltage": 271.1,
            "battery_voltage_scc": 0.0,
            "battery_discharge_current": 7,
            # 00010000
            "sbu_priority_version": False,
            "configuration_changed": False,
            "scc_firmware_updated": False,
            "load_on": True,
            "battery_voltage_steady": False,
            "charging": False,
            "scc_charging": False,
            "ac_charging": False,
            "battery_voltage_offset_for_fans": 0.0,
            "eeprom_version": "00",
            "pv_input_power": 647,
            # 011
            "charging_to_float": False,
            "switched_on": True,
            "dustproof_installed": True,
            "solar_feed_to_grid": "off",
            "country": "00",
            "solar_feed_to_grid_power": 0,
        },
    )
)

_QPIRI_COMMON = {
    "rated_grid_voltage": 230.0,
    "rated_ac_output_voltage": 230.0,
    "rated_ac_output_frequency": 50.0,
}
RECORDED.append(
    (
        "QPIRI",
        b"(230.0 21.7 230.0 50.0 21.7 5000 4000 48.0 46.0 42.0 56.4 54.0 0 10 010 1 0 0 6 01 0 0 54.0 0 1\x6f\x7e\r",
        {  # pi30.py, 25 fields (no MAX tail)
            **_QPIRI_COMMON,
            "rated_input_current": 21.7,
            "rated_ac_output_current": 21.7,
            "rated_ac_output_apparent_power": 5000,
            "rated_ac_output_active_power": 4000,
            "rated_battery_voltage": 48.0,
            "battery_recharge_voltage": 46.0,
            "battery_under_voltage": 42.0,
            "battery_bulk_voltage": 56.4,
            "battery_float_voltage": 54.0,
            "battery_type": "agm",
            "max_ac_charging_current": 10,
            "max_charging_current": 10,
            "input_voltage_range": "ups",
            "output_source_priority": "utility",
            "charger_source_priority": "utility",
            "max_parallel_units": 6,
            "machine_type": "off_grid",
            "topology": "transformerless",
            "output_mode": "single",
            "battery_redischarge_voltage": 54.0,
            "pv_ok_condition": "any_unit",
            "pv_power_balance": "charge_plus_load",
        },
    )
)
RECORDED.append(
    (
        "QPIRI",
        b"(230.0 13.0 230.0 50.0 13.0 3000 2400 24.0 23.0 21.0 28.2 27.0 0 30 50 0 2 1 - 01 1 0 26.0 0 0\xb9\xbd\r",
        {  # pi30.py, a 24 V unit without parallel kit: max parallel units "-"
            **_QPIRI_COMMON,
            "rated_input_current": 13.0,
            "rated_ac_output_current": 13.0,
            "rated_ac_output_apparent_power": 3000,
            "rated_ac_output_active_power": 2400,
            "rated_battery_voltage": 24.0,
            "battery_recharge_voltage": 23.0,
            "battery_under_voltage": 21.0,
            "battery_bulk_voltage": 28.2,
            "battery_float_voltage": 27.0,
            "battery_type": "agm",
            "max_ac_charging_current": 30,
            "max_charging_current": 50,
            "input_voltage_range": "appliance",
            "output_source_priority": "sbu",
            "charger_source_priority": "solar",
            "max_parallel_units": 0,
            "machine_type": "off_grid",
            "topology": "transformer",
            "output_mode": "single",
            "battery_redischarge_voltage": 26.0,
            "pv_ok_condition": "any_unit",
            "pv_power_balance": "charge_current_limit",
        },
    )
)
RECORDED.append(
    (
        "QPIRI",
        b"(230.0 34.7 230.0 50.0 34.7 8000 8000 48.0 48.0 42.0 54.0 52.5 2 010 030 1 2 2 9 01 0 0 50.0 0 1 480 0 070\xd9`\r",  # noqa: E501 (a recorded frame stays on one line)
        {  # pi30.py, an 8 kW MAX-class unit: all 28 fields
            **_QPIRI_COMMON,
            "rated_input_current": 34.7,
            "rated_ac_output_current": 34.7,
            "rated_ac_output_apparent_power": 8000,
            "rated_ac_output_active_power": 8000,
            "rated_battery_voltage": 48.0,
            "battery_recharge_voltage": 48.0,
            "battery_under_voltage": 42.0,
            "battery_bulk_voltage": 54.0,
            "battery_float_voltage": 52.5,
            "battery_type": "user",
            "max_ac_charging_current": 10,
            "max_charging_current": 30,
            "input_voltage_range": "ups",
            "output_source_priority": "sbu",
            "charger_source_priority": "solar_and_utility",
            "max_parallel_units": 9,
            "machine_type": "off_grid",
            "topology": "transformerless",
            "output_mode": "single",
            "battery_redischarge_voltage": 50.0,
            "pv_ok_condition": "any_unit",
            "pv_power_balance": "charge_plus_load",
            "max_cv_charging_time": 480,
            "operation_logic": "automatic",
            "max_discharging_current": 70,
        },
    )
)
RECORDED.append(
    (
        "QPIRI",
        b"(230.0 21.7 230.0 50.0 21.7 5000 5000 48.0 47.0 46.5 57.6 57.6 9 30 080 0 1 2 1 01 0 0 52.0 0 1\x9c\x6f\r",
        {  # pi30.py: battery type 9 is in no list -> kept raw
            **_QPIRI_COMMON,
            "rated_input_current": 21.7,
            "rated_ac_output_current": 21.7,
            "rated_ac_output_apparent_power": 5000,
            "rated_ac_output_active_power": 5000,
            "rated_battery_voltage": 48.0,
            "battery_recharge_voltage": 47.0,
            "battery_under_voltage": 46.5,
            "battery_bulk_voltage": 57.6,
            "battery_float_voltage": 57.6,
            "battery_type": "9",
            "max_ac_charging_current": 30,
            "max_charging_current": 80,
            "input_voltage_range": "appliance",
            "output_source_priority": "solar",
            "charger_source_priority": "solar_and_utility",
            "max_parallel_units": 1,
            "machine_type": "off_grid",
            "topology": "transformerless",
            "output_mode": "single",
            "battery_redischarge_voltage": 52.0,
            "pv_ok_condition": "any_unit",
            "pv_power_balance": "charge_plus_load",
        },
    )
)
RECORDED.append(
    (
        "QPIRI",
        # https://github.com/esphome/issues/issues/5193 (MPP Solar PIP6048MT), logged as hex bytes
        b"(230.0 26.0 230.0 50.0 26.0 6000 6000 48.0 46.0 42.0 56.4 54.0 2 002 120 1 2 1 1 01 0 0 54.0 0 1\x6d\x51\r",
        {
            **_QPIRI_COMMON,
            "rated_input_current": 26.0,
            "rated_ac_output_current": 26.0,
            "rated_ac_output_apparent_power": 6000,
            "rated_ac_output_active_power": 6000,
            "rated_battery_voltage": 48.0,
            "battery_recharge_voltage": 46.0,
            "battery_under_voltage": 42.0,
            "battery_bulk_voltage": 56.4,
            "battery_float_voltage": 54.0,
            "battery_type": "user",
            "max_ac_charging_current": 2,
            "max_charging_current": 120,
            "input_voltage_range": "ups",
            "output_source_priority": "sbu",
            "charger_source_priority": "solar",
            "max_parallel_units": 1,
            "machine_type": "off_grid",
            "topology": "transformerless",
            "output_mode": "single",
            "battery_redischarge_voltage": 54.0,
            "pv_ok_condition": "any_unit",
            "pv_power_balance": "charge_plus_load",
        },
    )
)
RECORDED.append(
    (
        "QPIRI",
        # https://github.com/syssi/esphome-pipsolar/issues/87 (comment by raivonigul):
        # re-discharge 00.0 = "battery full"
        b"(230.0 23.9 230.0 50.0 23.9 5500 5500 48.0 49.0 48.0 57.9 57.9 2 02 060 1 2 3 1 01 0 0 00.0 0 1\x9eQ\r",
        {
            **_QPIRI_COMMON,
            "rated_input_current": 23.9,
            "rated_ac_output_current": 23.9,
            "rated_ac_output_apparent_power": 5500,
            "rated_ac_output_active_power": 5500,
            "rated_battery_voltage": 48.0,
            "battery_recharge_voltage": 49.0,
            "battery_under_voltage": 48.0,
            "battery_bulk_voltage": 57.9,
            "battery_float_voltage": 57.9,
            "battery_type": "user",
            "max_ac_charging_current": 2,
            "max_charging_current": 60,
            "input_voltage_range": "ups",
            "output_source_priority": "sbu",
            "charger_source_priority": "solar_only",
            "max_parallel_units": 1,
            "machine_type": "off_grid",
            "topology": "transformerless",
            "output_mode": "single",
            "battery_redischarge_voltage": 0.0,
            "pv_ok_condition": "any_unit",
            "pv_power_balance": "charge_plus_load",
        },
    )
)
# https://github.com/syssi/esphome-pipsolar/issues/130 (Fronus PV7200), the maintainer's
# list of valid responses. Its QPIRI has 28 fields, but the last three are not the MAX
# ones (CV time, logic, discharge current): they decode under those names without a
# crash; output priority "3" is in no list and stays raw.
RECORDED.append(
    (
        "QPIRI",
        b"(230.0 26.9 230.0 50.0 26.9 6200 6200 48.0 48.0 40.0 58.4 54.0 1 030 060 0 3 0 1 01 0 0 52.0 0 1 48.0 10 48.0\x82\x13\r",  # noqa: E501 (a recorded frame stays on one line)
        {
            **_QPIRI_COMMON,
            "rated_input_current": 26.9,
            "rated_ac_output_current": 26.9,
            "rated_ac_output_apparent_power": 6200,
            "rated_ac_output_active_power": 6200,
            "rated_battery_voltage": 48.0,
            "battery_recharge_voltage": 48.0,
            "battery_under_voltage": 40.0,
            "battery_bulk_voltage": 58.4,
            "battery_float_voltage": 54.0,
            "battery_type": "flooded",
            "max_ac_charging_current": 30,
            "max_charging_current": 60,
            "input_voltage_range": "appliance",
            "output_source_priority": "3",
            "charger_source_priority": "utility",
            "max_parallel_units": 1,
            "machine_type": "off_grid",
            "topology": "transformerless",
            "output_mode": "single",
            "battery_redischarge_voltage": 52.0,
            "pv_ok_condition": "any_unit",
            "pv_power_balance": "charge_plus_load",
            "max_cv_charging_time": 48,  # "48.0" on this firmware
            "operation_logic": "10",
            "max_discharging_current": 48,  # "48.0"
        },
    )
)
RECORDED.append(
    (
        "QPIGS",
        b"(216.3 49.7 216.3 49.7 0584 0534 009 439 58.00 017 095 0048 00.2 000.0 00.00 00000 00010101 00 00 00007 010g!\r",  # noqa: E501 (a recorded frame stays on one line)
        {  # esphome-pipsolar#130 (Fronus PV7200), line mode charging from AC
            "ac_input_voltage": 216.3,
            "ac_input_frequency": 49.7,
            "ac_output_voltage": 216.3,
            "ac_output_frequency": 49.7,
            "ac_output_apparent_power": 584,
            "ac_output_active_power": 534,
            "ac_output_load": 9,
            "bus_voltage": 439,
            "battery_voltage": 58.0,
            "battery_charging_current": 17,
            "battery_capacity": 95,
            "heat_sink_temperature": 48,
            "pv_input_current": 0.2,
            "pv_input_voltage": 0.0,
            "battery_voltage_scc": 0.0,
            "battery_discharge_current": 0,
            # 00010101
            "sbu_priority_version": False,
            "configuration_changed": False,
            "scc_firmware_updated": False,
            "load_on": True,
            "battery_voltage_steady": False,
            "charging": True,
            "scc_charging": False,
            "ac_charging": True,
            "battery_voltage_offset_for_fans": 0.0,
            "eeprom_version": "00",
            "pv_input_power": 7,
            "charging_to_float": False,
            "switched_on": True,
            "dustproof_installed": False,
        },
    )
)
RECORDED.append(("QMOD", b"(L\x06\x07\r", {"mode": "line"}))  # esphome-pipsolar#130
RECORDED.append(
    (
        "QFLAG",
        b"(EauxyzlDbjkvgd\x90\xc5\r",  # esphome-pipsolar#130: letters l, g, d are in no PI30 list
        {
            "buzzer": True,
            "overload_restart": True,
            "backlight": True,
            "primary_source_interrupt_alarm": True,
            "fault_code_record": True,
            "extra_l": True,
            "overload_bypass": False,
            "power_saving": False,
            "lcd_return_to_default": False,
            "over_temperature_restart": False,
            "extra_g": False,
            "extra_d": False,
        },
    )
)
RECORDED.append(("QMOD", b"(S\xe5\xd9\r", {"mode": "standby"}))  # pi30max.py
RECORDED.append(("QMOD", b"(B\xe7\xc9\r", {"mode": "battery"}))  # pi30max.py

_NO_WARNINGS: dict[str, Value] = {
    key: False
    for key in [
        "pv_loss",
        "inverter_fault",
        "bus_over",
        "bus_under",
        "bus_soft_fail",
        "line_fail",
        "output_short",
        "inverter_voltage_low",
        "inverter_voltage_high",
        "over_temperature",
        "fan_locked",
        "battery_voltage_high",
        "battery_low",
        "battery_under_shutdown",
        "battery_derating",
        "overload",
        "eeprom_fault",
        "inverter_over_current",
        "inverter_soft_fail",
        "self_test_fail",
        "output_dc_voltage_over",
        "battery_open",
        "current_sensor_fail",
        "battery_short",
        "power_limit",
        "pv_voltage_high",
        "mppt_overload_fault",
        "mppt_overload_warning",
        "battery_too_low_to_charge",
        "battery_weak",
    ]
}
RECORDED.append(
    (
        "QPIWS",
        b"(00000100000000001000000000000000\x56\xa6\r",  # pi30.py: a5 line fail, a16 overload
        {**_NO_WARNINGS, "line_fail": True, "overload": True},
    )
)
RECORDED.append(
    (
        "QPIWS",
        b"(000000000000000000000000000000000000<\x8e\r",  # pi30max.py: the 36-character variant
        dict(_NO_WARNINGS),
    )
)
RECORDED.append(
    (
        "QFLAG",
        b"(EakxyDbjuvz\x2f\x29\r",
        {
            "buzzer": True,
            "lcd_return_to_default": True,
            "backlight": True,
            "primary_source_interrupt_alarm": True,
            "overload_bypass": False,
            "power_saving": False,
            "overload_restart": False,
            "over_temperature_restart": False,
            "fault_code_record": False,
        },
    )
)
RECORDED.append(("QPI", b"(PI30\x9a\x0b\r", {"protocol_id": "PI30"}))
RECORDED.append(("QID", b"(9293333010501\xbb\x07\r", {"serial_number": "9293333010501"}))
RECORDED.append(("QSID", b"(1492932105105335005535\x94\x0e\r", {"serial_number_long": "1492932105105335005535"}))
RECORDED.append(("QVFW", b"(VERFW:00072.70\x53\xa7\r", {"main_cpu_firmware": "00072.70"}))
RECORDED.append(("QMN", b"(MKS2-8000\xb2\x8d\r", {"model_name": "MKS2-8000"}))
RECORDED.append(("QGMN", b"(044\xc8\xae\r", {"general_model_number": "044"}))
RECORDED.append(
    (
        "QMCHGCR",
        b"(010 020 030 040 050 060 070 080 090 100 110 120\x0c\xcb\r",
        {"charging_current_options": [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]},
    )
)
RECORDED.append(
    (
        "QMUCHGCR",
        b"(002 010 020 030 040 050 060 070 080 090 100 110 120\xca#\r",
        {"utility_charging_current_options": [2, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]},
    )
)
RECORDED.append(
    (
        "QDI",
        b"(230.0 50.0 0030 42.0 54.0 56.4 46.0 60 0 0 2 0 0 0 0 0 1 1 0 0 1 0 54.0 0 1 000\x9e\x60\r",
        {  # pi30.py
            "default_ac_output_voltage": 230.0,
            "default_ac_output_frequency": 50.0,
            "default_max_ac_charging_current": 30,
            "default_battery_under_voltage": 42.0,
            "default_battery_float_voltage": 54.0,
            "default_battery_bulk_voltage": 56.4,
            "default_battery_recharge_voltage": 46.0,
            "default_max_charging_current": 60,
            "default_input_voltage_range": "appliance",
            "default_output_source_priority": "utility",
            "default_charger_source_priority": "solar_and_utility",
            "default_battery_type": "agm",
            "default_buzzer": "on",
            "default_power_saving": "off",
            "default_overload_restart": "off",
            "default_over_temperature_restart": "off",
            "default_backlight": "on",
            "default_primary_source_interrupt_alarm": "on",
            "default_fault_code_record": "off",
            "default_overload_bypass": "off",
            "default_lcd_return_to_default": "on",
            "default_output_mode": "single",
            "default_battery_redischarge_voltage": 54.0,
            "default_pv_ok_condition": "any_unit",
            "default_pv_power_balance": "charge_plus_load",
            "default_max_cv_charging_time": 0,
        },
    )
)
RECORDED.append(
    (
        "QPIGS2",
        b"(03.1 327.3 01026 \xc9\x8b\r",  # pi30max.py: note the trailing space before the CRC
        {"pv2_input_current": 3.1, "pv2_input_voltage": 327.3, "pv2_input_power": 1026},
    )
)
RECORDED.append(("QET", b"(00238800!J\r", {"pv_energy_total": 238.8}))  # pi30max.py: 238800 Wh
RECORDED.append(("QEY2024", b"(00238800!J\r", {"pv_energy_year": 238.8}))  # same sample in pi30max.py
RECORDED.append(
    (
        "QPGS0",
        b"(1 92931701100510 B 00 000.0 00.00 230.6 50.00 0275 0141 005 51.4 001 100 083.3 002 00574 00312 003 10100110 1 2 060 120 10 04 000\xcc#\r",  # noqa: E501 (a recorded frame stays on one line)
        {  # pi30.py: unit 0 of a parallel pair
            "parallel_valid": True,
            "serial_number": "92931701100510",
            "mode": "battery",
            "fault_code": "00",
            "ac_input_voltage": 0.0,
            "ac_input_frequency": 0.0,
            "ac_output_voltage": 230.6,
            "ac_output_frequency": 50.0,
            "ac_output_apparent_power": 275,
            "ac_output_active_power": 141,
            "ac_output_load": 5,
            "battery_voltage": 51.4,
            "battery_charging_current": 1,
            "battery_capacity": 100,
            "pv_input_voltage": 83.3,
            "total_charging_current": 2,
            "total_ac_output_apparent_power": 574,
            "total_ac_output_active_power": 312,
            "total_ac_output_load": 3,
            # 10100110 = A..H
            "scc_ok": True,
            "ac_charging": False,
            "scc_charging": True,
            "battery_open": False,
            "battery_under": False,
            "line_loss": True,
            "load_on": True,
            "configuration_changed": False,
            "output_mode": "parallel",
            "charger_source_priority": "solar_and_utility",
            "max_charging_current": 60,
            "max_charging_range": 120,
            "max_ac_charging_current": 10,
            "pv_input_current": 4.0,
            "battery_discharge_current": 0,
        },
    )
)
RECORDED.append(
    (
        "Q1",
        b"(00000 00000 01 01 00 059 045 053 068 00 00 000 0040 0580 0000 50.00 13\x39\xb9\r",
        {  # pi30.py
            "absorb_time_remaining": 0,
            "float_time_remaining": 0,
            "scc_status": "communicating",
            "allow_scc_on": "01",
            "charge_average_current": 0,
            "scc_pwm_temperature": 59,
            "inverter_temperature": 45,
            "battery_temperature": 53,
            "transformer_temperature": 68,
            "gpio13": "00",
            "fan_lock_detected": False,
            "fan_pwm_speed": 40,
            "scc_charge_power": 580,
            "parallel_warning": "0000",
            "sync_frequency": 50.0,
            "charge_stage": "float",
        },
    )
)
RECORDED.append(
    (
        "QBEQI",
        b"(1 030 030 080 021 55.40 224 030 0 0234y?\r",
        {  # pi30max.py; positions 4 and 6 are reserved
            "equalization_enabled": True,
            "equalization_time": 30,
            "equalization_period": 720,  # 30 days
            "equalization_max_current": 80,
            "equalization_voltage": 55.4,
            "equalization_over_time": 30,
            "equalization_active": False,
            "equalization_elapsed_time": 234,
        },
    )
)
RECORDED.append(
    (
        "QLED",
        b"(1 1 2 5 3 148000211255255255000255255\xdaj\r",
        {
            "led_enabled": True,
            "led_speed": "medium",
            "led_effect": "solid",
            "led_brightness": 5,
            "led_colors": 3,
            "led_rgb": "148000211255255255000255255",
        },
    )
)
RECORDED.append(
    (
        "QBMS",
        b"(0 086 0 0 0 532 532 450 0120 0240\x7fU\r",  # pi30m054.py (MKS2 class), commit 3544569
        {
            "bms_link": "connected",
            "bms_battery_capacity": 86,
            "bms_force_charging": False,
            "bms_stop_discharge": False,
            "bms_stop_charge": False,
            "bms_bulk_voltage": 53.2,
            "bms_float_voltage": 53.2,
            "bms_cut_off_voltage": 45.0,
            "bms_max_charging_current": 120,
            "bms_max_discharging_current": 240,
        },
    )
)
RECORDED.append(("QT", b"(20210726122606JF\r", {"device_time": "20210726122606"}))
RECORDED.append(
    (
        "QCHPT",
        b"(3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 0 0 0\xd0\x8b\r",
        {
            **{f"charger_priority_hour_{h:02d}": "solar_only" for h in range(24)},
            "charger_priority_device": "solar_only",
            "charger_priority_order_1": "undefined",
            "charger_priority_order_2": "undefined",
            "charger_priority_order_3": "undefined",
        },
    )
)
RECORDED.append(
    (
        "QOPPT",
        b"(2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 0 2 1>>\r",
        {
            **{f"output_priority_hour_{h:02d}": "sbu" for h in range(24)},
            "output_priority_device": "sbu",
            "output_priority_order_1": "utility",
            "output_priority_order_2": "sbu",
            "output_priority_order_3": "solar",
        },
    )
)

#: QPIGS payloads quoted without CRC in https://github.com/syssi/esphome-pipsolar/issues/42
#: (PIP 2424MSE1; PIP-5048MG FW 71.85; a PIP8048MAX): double spaces and 5-digit power
#: fields that break fixed-position parsers. Framed with our CRC in the tests.
QPIGS_PAYLOAD_VARIANTS: list[tuple[str, dict[str, Value]]] = [
    (
        "226.7 49.9 226.7 49.9 0498  0479  016 427 27.00 005 100 0035 01.9 255.1 00.00 00000 10010110 00 00 00510 110",
        {
            "ac_output_apparent_power": 498,
            "ac_output_active_power": 479,
            "battery_voltage": 27.0,
            "pv_input_power": 510,
        },
    ),
    (
        "232.6 50.0 229.9 49.9 0391  0312  007 402 54.40 042 072 0066 0042 284.6 00.00 00000 00010010 00 00 02901 010",
        {"ac_output_apparent_power": 391, "pv_input_current": 42.0, "battery_capacity": 72, "pv_input_power": 2901},
    ),
    (
        "201.4 49.9 201.4 49.9 03927 03919 035 436 55.60 001 100 0046 00.0 000.0 00.00 00000 00010101 00 00 00000 110",
        {
            "ac_output_apparent_power": 3927,
            "ac_output_active_power": 3919,
            "ac_output_load": 35,
            "battery_voltage": 55.6,
        },
    ),
]

#: A device that does not know QPGS0 echoes it back (pi30.py sample).
QPGS0_ECHO = b"QPGS0?\xda\r"
ACK = b"(ACK\x39\x20\r"
NAK = b"(NAK\x73\x73\r"

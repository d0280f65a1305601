"""PI41 (LV5048 class) codec: decode of every query, every setter's exact request bytes, the
firmware tolerance rules and the typed errors.

Frames: QPGS0 and QP2GS0 are the replies of a user's LV5048 posted in jblance/mpp-solar#11
and kept as test replies in jblance/mpp-solar mppsolar/protocols/pi41.py (their CRCs check);
the QPIRI reply is from the same file (provenance not stated there; 2500 VA a line at
120 V / 60 Hz is an LV5048's rating). Every other frame here is CONSTRUCTED from the
vendor's "LV5048 5KW communication protocol" 2019-02-22 layouts — no recorded reply of
those was found — with its CRC computed by the bitwise CRC-16/XMODEM below, not by the
codec's crc.py, so a CRC rule wrong in both cannot pass. The setter frames are written out
byte for byte and checked against the same independent CRC.
"""

from __future__ import annotations

import pytest

from solarstack.core.errors import ConfigError, CrcError, FrameError, NakError, SettingError
from solarstack.protocols import pi41

CTX = pi41.Pi41Context(
    max_charging_currents=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120),
    max_utility_charging_currents=(2, 10, 20, 30, 40),
)


def xmodem(data: bytes) -> bytes:
    """CRC-16/XMODEM bit by bit, with the PI family's 0x28/0x0D/0x0A bump (PROTOCOLS.md)."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return bytes(b + 1 if b in (0x28, 0x0D, 0x0A) else b for b in (crc >> 8, crc & 0xFF))


def reply(payload: str) -> bytes:
    body = b"(" + payload.encode("ascii")
    return body + xmodem(body) + b"\r"


# -- recorded -----------------------------------------------------------------------------

QPGS0 = (
    b"(1 92911906100045 L 00 122.9 59.98 122.9 59.98 0331 0272 013 56.1 004 100 000.0 004 01577 01400 009"
    b" 01000010 6 0 060 220 40 00 000\xc7\xc2\r"
)
QP2GS0 = b"(11 92911906100045 L 00 124.2 59.98 124.2 59.98 0149 0130 005 56.1 000 100 000.0 00 01000010\xa9\xa8\r"
QPIRI = b"(120.0 20.8 120.0 60.0 20.8 2500 2500 48.0 47.0 43.0 56.1 56.1 2 40 060 0 0 0 9 01 0 6 55.0 0 1 000\xbe\xac\r"


def test_recorded_frames_carry_the_crc_the_rule_gives() -> None:
    for frame in (QPGS0, QP2GS0, QPIRI):
        assert xmodem(frame[:-3]) == frame[-3:-1]


def test_recorded_qpgs0() -> None:
    v = pi41.decode("QPGS0", QPGS0)
    assert v["parallel_valid"] is True and v["serial_number"] == "92911906100045"
    assert v["mode"] == "line" and v["fault_code"] == "00"
    assert (v["ac_input_voltage"], v["ac_input_frequency"], v["ac_output_voltage"]) == (122.9, 59.98, 122.9)
    assert (v["ac_output_apparent_power"], v["ac_output_active_power"], v["ac_output_load"]) == (331, 272, 13)
    assert (v["battery_voltage"], v["battery_charging_current"], v["battery_capacity"]) == (56.1, 4, 100)
    assert (v["total_ac_output_apparent_power"], v["total_ac_output_active_power"], v["total_ac_output_load"]) == (
        1577,
        1400,
        9,
    )
    # 01000010: b6 AC charging, b1 load on
    assert v["ac_charging"] and v["load_on"] and not v["scc_ok"] and not v["line_loss"]
    assert v["output_mode"] == "parallel_180"  # PI41's 6, not PI30's phase_2_of_2_120
    assert (v["charger_source_priority"], v["max_charging_current"], v["max_charging_range"]) == ("utility", 60, 220)
    assert (v["max_ac_charging_current"], v["pv_input_current"], v["battery_discharge_current"]) == (40, 0.0, 0)
    assert not any(k.startswith("extra_") for k in v)  # 27 fields: the PDF's layout exactly


def test_recorded_qp2gs0_reads_line_2() -> None:
    v = pi41.decode("QP2GS0", QP2GS0)
    assert v["l2_parallel_valid"] is True  # `11` where the PDF says 0/1: its first character
    assert (v["l2_ac_input_voltage"], v["l2_ac_output_active_power"], v["l2_ac_output_load"]) == (124.2, 130, 5)
    assert (v["battery_voltage_l2"], v["pv2_input_voltage"], v["pv2_input_current"]) == (56.1, 0.0, 0.0)
    assert v["l2_ac_charging"] and v["l2_load_on"] and not v["scc2_ok"]


def test_recorded_qpiri() -> None:
    v = pi41.decode("QPIRI", QPIRI)
    assert (v["rated_ac_output_voltage"], v["rated_ac_output_frequency"], v["rated_ac_output_apparent_power"]) == (
        120.0,
        60.0,
        2500,
    )
    assert (v["battery_recharge_voltage"], v["battery_under_voltage"]) == (47.0, 43.0)
    assert (v["battery_bulk_voltage"], v["battery_float_voltage"], v["battery_redischarge_voltage"]) == (
        56.1,
        56.1,
        55.0,
    )
    assert (v["battery_type"], v["max_ac_charging_current"], v["max_charging_current"]) == ("user", 40, 60)
    assert (v["output_mode"], v["max_parallel_units"], v["max_cv_charging_time"]) == ("parallel_180", 9, 0)
    assert pi41.context_from(v).nominal_battery_voltage == 48.0


# -- constructed from the PDF's layouts ------------------------------------------------------

CONSTRUCTED: dict[str, tuple[str, dict[str, object]]] = {
    "QPI": ("PI41", {"protocol_id": "PI41"}),
    "QID": ("92911906100045", {"serial_number": "92911906100045"}),
    "QSID": ("1492911906100045000000", {"serial_number_long": "1492911906100045000000"}),
    "QVFW": ("VERFW:00072.70", {"main_cpu_firmware": "00072.70"}),
    "QVFW2": ("VERFW2: 00041.17", {"secondary_cpu_firmware": "00041.17"}),  # the PDF's space
    "QMN": ("LV5048", {"model_name": "LV5048"}),
    "QGMN": ("026", {"general_model_number": "026"}),
    "QMOD": ("B", {"mode": "battery"}),
    "QOPM": ("05", {"output_mode": "parallel_120"}),
    "QMCHGCR": ("010 020 030 060 120", {"charging_current_options": [10, 20, 30, 60, 120]}),
    "QMUCHGCR": ("002 010 020 030 040", {"utility_charging_current_options": [2, 10, 20, 30, 40]}),
    "QFLAG": (
        "EakxyDbjuvz",
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
    ),
    "QBEQI": (
        "1 060 030 040 000 58.40 000 120 0 0000",
        {
            "equalization_enabled": True,
            "equalization_time": 60,
            "equalization_period": 720,  # 30 days, published in hours as PI30's
            "equalization_max_current": 40,
            "equalization_voltage": 58.4,
            "equalization_over_time": 120,
            "equalization_active": False,
            "extra_9": "0000",  # reserved (KKKK)
        },
    ),
}


@pytest.mark.parametrize("command", sorted(CONSTRUCTED))
def test_constructed_whole_replies(command: str) -> None:
    payload, expected = CONSTRUCTED[command]
    assert pi41.decode(command, reply(payload)) == expected


def test_constructed_qpigs_line_1() -> None:
    payload = (
        "120.1 60.0 119.9 60.0 0331 0272 013 390 56.10 004 087 0035 0008 160.2 56.15 00000 10100010 00 00 00450 010"
    )
    v = pi41.decode("QPIGS", reply(payload))
    assert (v["ac_input_voltage"], v["ac_output_active_power"], v["bus_voltage"]) == (120.1, 272, 390)
    assert (v["battery_voltage"], v["battery_charging_current"], v["battery_capacity"]) == (56.1, 4, 87)
    assert (v["heat_sink_temperature"], v["pv_input_current"], v["pv_input_voltage"]) == (35, 8.0, 160.2)
    assert (v["battery_voltage_scc"], v["battery_discharge_current"], v["pv_input_power"]) == (56.15, 0, 450)
    # b7..b0 = 10100010: QPGSn's meanings (SCC ok, SCC charging, load on), not PI30's QPIGS bits
    assert v["scc_ok"] and v["scc_charging"] and v["load_on"]
    assert not (v["ac_charging"] or v["battery_open"] or v["battery_under"] or v["line_loss"])
    assert "sbu_priority_version" not in v
    assert v["switched_on"] and not v["charging_to_float"]
    assert not any(k.startswith("extra_") for k in v)  # 17, 18 reserved: no rows, not extras


def test_constructed_qpigs2_line_2() -> None:
    v = pi41.decode("QPIGS2", reply("120.2 60.0 120.0 60.0 0149 0130 005 0006 180.5 56.10 10100010"))
    assert (v["l2_ac_input_voltage"], v["l2_ac_output_apparent_power"], v["l2_ac_output_active_power"]) == (
        120.2,
        149,
        130,
    )
    assert (v["pv2_input_current"], v["pv2_input_voltage"], v["battery_voltage_l2"]) == (6.0, 180.5, 56.1)
    # b7 SCC2 ok, b5 SCC2 charging, b1 L2 load on (b4 b3 and b0 reserved: no rows)
    assert v["scc2_ok"] and v["scc2_charging"] and v["l2_load_on"]
    assert not v["l2_ac_charging"] and not v["l2_line_loss"]


def test_constructed_qpiws_names_pi41_bits() -> None:
    bits = ["0"] * 32
    bits[13] = bits[30] = bits[5] = "1"  # overcharge (PI41's a13), slave (a30), line fail
    v = pi41.decode("QPIWS", reply("".join(bits)))
    assert v["battery_overcharge"] and v["slave_warning"] and v["line_fail"]
    assert sum(value is True for value in v.values()) == 3
    assert "pv_loss" not in v  # a0 is reserved on PI41


def test_constructed_qdi() -> None:
    payload = "120.0 60.0 0030 42.0 54.0 56.4 46.0 60 0 0 2 0 0 0 0 0 1 1 0 0 1 1 54.0 0 1 000"  # the PDF's defaults
    v = pi41.decode("QDI", reply(payload))
    assert v["default_max_ac_charging_current"] == 30 and v["default_charger_source_priority"] == "solar_and_utility"
    assert v["default_buzzer"] == "on"  # 0 = enabled, as the PDF says
    assert v["default_output_mode"] == "parallel" and v["default_battery_redischarge_voltage"] == 54.0
    assert v["default_max_cv_charging_time"] == 0 and len(v) == 26


# -- tolerance ------------------------------------------------------------------------------


def test_a_shorter_reply_omits_the_missing_rows_and_extra_tokens_are_kept() -> None:
    short = pi41.decode("QPIGS", reply("120.1 60.0 119.9 60.0 0331 0272 013"))
    assert short["ac_output_load"] == 13 and "bus_voltage" not in short and "pv_input_power" not in short
    longer = pi41.decode("QPIRI", reply(QPIRI[1:-3].decode() + " 1 030"))  # a firmware with PI30's tail
    assert longer["extra_26"] == "1" and longer["extra_27"] == "030"


def test_dashes_read_as_zero_and_unknown_options_stay_raw() -> None:
    v = pi41.decode("QPGS0", reply("1 92911906100045 X 00 --.- 59.98 122.9 - 0331"))
    assert v["ac_input_voltage"] == 0.0 and v["ac_output_frequency"] == 0.0
    assert v["mode"] == "X"  # a mode letter the table does not know: kept as sent


def test_a_short_bit_string_reports_only_its_bits() -> None:
    v = pi41.decode("QPIGS2", reply("120.2 60.0 120.0 60.0 0149 0130 005 0006 180.5 56.10 101"))
    assert v["scc2_ok"] and v["scc2_charging"] and "l2_load_on" not in v


def test_typed_errors() -> None:
    with pytest.raises(NakError):
        pi41.decode("QPIGS2", b"(NAK\x73\x73\r")
    with pytest.raises(CrcError):
        pi41.decode("QPIRI", QPIRI[:-3] + b"\x00\x00\r")
    with pytest.raises(FrameError):
        pi41.decode("QPIGS", b"QPIGS\xb7\xa9\r")  # an echo: the command is not supported
    with pytest.raises(FrameError):
        pi41.decode("QPIGS", reply("120.1 sixty"))
    with pytest.raises(FrameError):
        pi41.decode("POP02", reply("PI41"))  # a setter answered with data
    assert pi41.decode("POP02", b"(ACK\x39\x20\r") == {"ack": True}
    with pytest.raises(ConfigError, match="unknown PI41 command 'MCHGC060'"):
        pi41.encode("MCHGC060")  # PI30's; the LV5048 PDF has MNCHGC


def test_query_requests_are_pi30_frames() -> None:
    assert pi41.encode("QPIGS") == b"QPIGS\xb7\xa9\r"  # PROTOCOLS.md
    assert pi41.encode("QPI") == b"QPI\xbe\xac\r"
    for text in ("QPIGS2", "QP2GS3", "QPGS0", "QBEQI", "QOPM"):
        frame = pi41.encode(text)
        assert frame == text.encode() + xmodem(text.encode()) + b"\r"
    assert pi41.is_query("QP2GS0") and not pi41.is_query("POP02") and not pi41.is_query("QBOGUS")


# -- setters: the exact bytes ----------------------------------------------------------------

SETTERS: list[tuple[str, object, str]] = [
    ("output_source_priority", "utility", "50 4f 50 30 30 c2 48 0d"),  # POP00
    ("output_source_priority", "solar", "50 4f 50 30 31 d2 69 0d"),  # POP01
    ("output_source_priority", "sbu", "50 4f 50 30 32 e2 0b 0d"),  # POP02
    ("charger_source_priority", "utility", "50 43 50 30 30 8d 7a 0d"),  # PCP00
    ("charger_source_priority", "solar", "50 43 50 30 31 9d 5b 0d"),  # PCP01
    ("charger_source_priority", "solar_and_utility", "50 43 50 30 32 ad 38 0d"),  # PCP02
    ("charger_source_priority", "solar_only", "50 43 50 30 33 bd 19 0d"),  # PCP03
    ("input_voltage_range", "appliance", "50 47 52 30 30 29 eb 0d"),  # PGR00
    ("input_voltage_range", "ups", "50 47 52 30 31 39 ca 0d"),  # PGR01
    ("battery_type", "agm", "50 42 54 30 30 27 0e 0d"),  # PBT00
    ("battery_type", "flooded", "50 42 54 30 31 37 2f 0d"),  # PBT01
    ("battery_type", "user", "50 42 54 30 32 07 4c 0d"),  # PBT02
    ("output_mode", "parallel", "50 4f 50 4d 30 31 0e 25 0d"),  # POPM01
    ("output_mode", "phase_1_of_3", "50 4f 50 4d 30 32 3d 46 0d"),  # POPM02
    ("output_mode", "phase_2_of_3", "50 4f 50 4d 30 33 2d 67 0d"),  # POPM03
    ("output_mode", "phase_3_of_3", "50 4f 50 4d 30 34 5d 80 0d"),  # POPM04
    ("output_mode", "parallel_120", "50 4f 50 4d 30 35 4d a1 0d"),  # POPM05
    ("output_mode", "parallel_180", "50 4f 50 4d 30 36 7d c2 0d"),  # POPM06
    ("parallel_charger_source_priority", "solar_only", "50 50 43 50 30 30 33 d6 82 0d"),  # PPCP003
    ("battery_recharge_voltage", 44, "50 42 43 56 34 34 2e 30 e6 eb 0d"),  # PBCV44.0
    ("battery_recharge_voltage", "51", "50 42 43 56 35 31 2e 30 7b af 0d"),  # PBCV51.0
    ("battery_redischarge_voltage", 0, "50 42 44 56 30 30 2e 30 38 9b 0d"),  # PBDV00.0
    ("battery_redischarge_voltage", 48, "50 42 44 56 34 38 2e 30 5b cb 0d"),  # PBDV48.0
    ("battery_redischarge_voltage", "58.0", "50 42 44 56 35 38 2e 30 2d 7f 0d"),  # PBDV58.0
    ("battery_under_voltage", "40.0", "50 53 44 56 34 30 2e 30 7d 70 0d"),  # PSDV40.0
    ("battery_under_voltage", 48, "50 53 44 56 34 38 2e 30 d4 d1 0d"),  # PSDV48.0
    ("battery_bulk_voltage", "56.4", "50 43 56 56 35 36 2e 34 5f 5f 0d"),  # PCVV56.4
    ("battery_float_voltage", "54", "50 42 46 54 35 34 2e 30 97 dd 0d"),  # PBFT54.0
    ("max_charging_current", 10, "4d 4e 43 48 47 43 30 30 31 30 12 3b 0d"),  # MNCHGC0010
    ("max_charging_current", 120, "4d 4e 43 48 47 43 30 31 32 30 70 58 0d"),  # MNCHGC0120
    ("max_utility_charging_current", 2, "4d 55 43 48 47 43 30 30 32 b5 d1 0d"),  # MUCHGC002
    ("max_utility_charging_current", 40, "4d 55 43 48 47 43 30 34 30 59 57 0d"),  # MUCHGC040
    ("output_frequency", "50", "46 35 30 63 3e 0d"),  # F50
    ("output_frequency", "60", "46 36 30 36 6d 0d"),  # F60
    ("pv_ok_condition", "any_unit", "50 50 56 4f 4b 43 30 7b 56 0d"),  # PPVOKC0
    ("pv_ok_condition", "all_units", "50 50 56 4f 4b 43 31 6b 77 0d"),  # PPVOKC1
    ("pv_power_balance", "charge_current_limit", "50 53 50 42 30 f8 e6 0d"),  # PSPB0
    ("pv_power_balance", "charge_plus_load", "50 53 50 42 31 e8 c7 0d"),  # PSPB1
    ("max_cv_charging_time", 0, "50 43 56 54 30 30 30 df 79 0d"),  # PCVT000
    ("max_cv_charging_time", 900, "50 43 56 54 39 30 30 41 e8 0d"),  # PCVT900
    ("buzzer", "ON", "50 45 61 d0 70 0d"),  # PEa
    ("overload_bypass", "OFF", "50 44 62 d3 22 0d"),  # PDb
    ("power_saving", "on", "50 45 6a 61 1b 0d"),  # PEj
    ("lcd_return_to_default", "off", "50 44 6b 42 0b 0d"),  # PDk
    ("overload_restart", "ON", "50 45 75 82 c5 0d"),  # PEu
    ("over_temperature_restart", "ON", "50 45 76 b2 a6 0d"),  # PEv
    ("backlight", "OFF", "50 44 78 60 59 0d"),  # PDx
    ("primary_source_interrupt_alarm", "ON", "50 45 79 43 49 0d"),  # PEy
    ("fault_code_record", "OFF", "50 44 7a 40 1b 0d"),  # PDz
    ("equalization_enabled", "ON", "50 42 45 51 45 31 4a 13 0d"),  # PBEQE1
    ("equalization_enabled", "OFF", "50 42 45 51 45 30 5a 32 0d"),  # PBEQE0
    ("equalization_time", 5, "50 42 45 51 54 30 30 35 f9 15 0d"),  # PBEQT005
    ("equalization_time", 900, "50 42 45 51 54 39 30 30 37 21 0d"),  # PBEQT900
    ("equalization_period", 0, "50 42 45 51 50 30 30 30 63 41 0d"),  # PBEQP000
    ("equalization_period", 2160, "50 42 45 51 50 30 39 30 d9 d9 0d"),  # PBEQP090 (90 days)
    ("equalization_voltage", "48", "50 42 45 51 56 34 38 2e 30 30 ec 1c 0d"),  # PBEQV48.00
    ("equalization_voltage", "61.00", "50 42 45 51 56 36 31 2e 30 30 5b e8 0d"),  # PBEQV61.00
    ("equalization_over_time", 120, "50 42 45 51 4f 54 31 32 30 88 44 0d"),  # PBEQOT120
    ("equalization_active", "ON", "50 42 45 51 41 31 86 d7 0d"),  # PBEQA1
    ("equalization_active", "OFF", "50 42 45 51 41 30 96 f6 0d"),  # PBEQA0
    ("restore_defaults", "PRESS", "50 46 26 bd 0d"),  # PF
]


@pytest.mark.parametrize(("key", "value", "wire"), SETTERS)
def test_setter_request_bytes(key: str, value: str | float, wire: str) -> None:
    expected = bytes.fromhex(wire)
    assert expected[-3:-1] == xmodem(expected[:-3])  # the literal itself follows the CRC rule
    assert pi41.encode(pi41.setter_command(key, value, CTX)) == expected


def test_every_setting_has_its_bytes_pinned() -> None:
    assert {k for k, _, _ in SETTERS} == {s.key for s in (*pi41.SETTINGS, *pi41.ACTIONS)}


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("battery_recharge_voltage", "46.5", "whole volts"),  # the PDF lists 44 V, 45 V … 51 V
        ("battery_recharge_voltage", 52, "out of range"),
        ("battery_redischarge_voltage", 47, r"out of range 0 \(battery full\) or 48-58 V"),
        ("battery_under_voltage", "39.9", "out of range"),
        ("battery_bulk_voltage", "58.5", "out of range"),
        ("battery_float_voltage", "54.05", "more than one decimal"),
        ("equalization_voltage", "61.01", "out of range"),
        ("equalization_voltage", "58.405", "more than 2 decimals"),
        ("equalization_time", 7, "multiple of 5"),
        ("equalization_time", 0, "out of range"),
        ("equalization_over_time", 905, "out of range"),
        ("equalization_period", 25, "whole days"),
        ("equalization_period", 2184, "out of range"),
        ("max_cv_charging_time", 12, "multiple of 5"),
        ("max_charging_current", 65, "not one the device offers"),
        ("max_utility_charging_current", 50, "out of range"),
        ("output_mode", "single", "not one of"),  # POPM takes 01-06 only
        ("output_source_priority", "grid", "not one of"),
        ("output_frequency", "55", "not one of"),
        ("buzzer", "maybe", "not ON or OFF"),
        ("equalization_active", "1", "not ON or OFF"),
        ("battery_bulk_voltage", "inf", "not a number"),
        ("battery_bulk_voltage", "5_6", "not a number"),
        ("restore_defaults", "press", "only on the payload PRESS"),
        ("max_discharging_current", 30, "unknown PI41 setting"),  # PI30's; not an LV5048 setter
    ],
)
def test_refusals_are_one_line(key: str, value: str | float, why: str) -> None:
    with pytest.raises(SettingError, match=why) as caught:
        pi41.setter_command(key, value, CTX)
    assert "\n" not in str(caught.value)


def test_bounds_scale_with_the_battery_and_the_units_lists() -> None:
    ctx24 = CTX._replace(nominal_battery_voltage=24.0)
    assert pi41.setter_command("battery_under_voltage", "20.0", ctx24) == "PSDV20.0"
    with pytest.raises(SettingError, match="for a 24 V battery"):
        pi41.setter_command("battery_under_voltage", "40.0", ctx24)
    fitted = {s.key: s for s in pi41.settings_for(ctx24)}
    assert (fitted["battery_bulk_voltage"].minimum, fitted["battery_bulk_voltage"].maximum) == (24.0, 29.2)
    assert (fitted["max_charging_current"].minimum, fitted["max_charging_current"].maximum) == (10, 120)
    static = pi41.Pi41Context()  # no lists: the static bounds
    assert pi41.setter_command("max_charging_current", 65, static) == "MNCHGC0065"
    assert pi41.setter_command("parallel_charger_source_priority", "solar", static._replace(unit=2)) == "PPCP201"


def test_expected_readback() -> None:
    assert pi41.expected_readback("output_mode", "parallel_180") == "parallel_180"
    assert pi41.expected_readback("buzzer", "off") is False
    assert pi41.expected_readback("equalization_enabled", "ON") is True
    assert pi41.expected_readback("equalization_period", "720") == 720
    assert pi41.expected_readback("battery_float_voltage", "54") == 54.0
    assert pi41.expected_readback("output_frequency", "60") == 60.0
    assert pi41.expected_readback("restore_defaults", "PRESS") is None


# -- the rows mean what PI30's mean ------------------------------------------------------------


def test_rows_have_known_roles_groups_and_pi30s_units() -> None:
    from solarstack.core.catalog import GROUPS, ROLES
    from solarstack.protocols import pi30

    pi30_rows = {f.key: f for c in pi30.COMMANDS.values() if c.read_only for f in c.fields}
    for command in pi41.COMMANDS.values():
        for f in command.fields:
            assert f.group in GROUPS and (f.role is None or f.role in ROLES), (command.name, f.key)
            if f.numeric and f.unit is not None:
                assert isinstance(f.precision, int), (command.name, f.key)
            same = pi30_rows.get(f.key)
            if same is not None:  # a key PI30 also reports: the same unit and kind
                assert (f.unit, f.kind) == (same.unit, same.kind), (command.name, f.key)
    # one load figure per device: line 1's share has no load_power role (energy.py derives both lines')
    assert [f.key for f in pi41.table("QPIGS") if f.role == "load_power"] == []
    assert [f.key for f in pi41.table("QPIGS") if f.role == "pv_power"] == ["pv_input_power"]

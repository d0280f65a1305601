"""Codec tests against frames recorded from real devices (provenance in bms_frames.py).

Every field of every recorded frame is asserted. Expected values were worked out by
hand from the bytes and the vendor tables, not copied from our decoder's output.
"""

from __future__ import annotations

import contextlib
import random

import bms_frames as rec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solarstack.core.errors import ConfigError, CrcError, FrameError, ProtocolError
from solarstack.core.fields import NO_STATISTICS, UNITS, Kind
from solarstack.protocols import daly, jk02, jkserial, vedirect

NO_JK_ALARMS = {f"alarm_{name}": False for name in jk02.ERROR_BITS}


def test_jk02_24s_cell_info_every_field() -> None:
    values = jk02.decode(rec.JK02_24S_CELL_INFO, "24")
    cells = [3.327, 3.329, 3.329, 3.327, 3.329, 3.329, 3.327, 3.329] + [3.329] * 3 + [3.327] + [3.329] * 4
    resist = [413.0, 406.0, 396.0, 391.0, 388.0, 388.0, 387.0, 388.0, 389.0, 385.0, 387.0, 390.0, 386.0, 386.0, 387.0]
    assert values == {
        "cell_voltages": cells,
        "cell_count": 16,
        "enabled_cells_mask": 0xFFFF,
        "average_cell_voltage": 3.328,
        "delta_cell_voltage": 0.0,
        "max_cell_index": 1,
        "min_cell_index": 1,
        "max_cell_voltage": 3.329,
        "min_cell_voltage": 3.327,
        "cell_resistances": [*resist, 389.0],
        "voltage": 53.251,
        "power": 0.0,
        "current": 0.0,
        "temperature_1": 19.0,
        "temperature_2": 19.1,
        "temperature_mos": 21.0,
        "errors": 0,
        **NO_JK_ALARMS,
        "balance_current": 0.0,
        "balancing_action": "off",
        "balancing": False,
        "soc": 84,
        "remaining_capacity": 68.494,
        "full_capacity": 81.0,
        "cycles": 0,
        "cycle_capacity": 1.085,
        "soh": 100,
        "runtime": 1049546,
        "charge_mosfet": True,
        "discharge_mosfet": True,
        "temperature_sensors_mask": 0b111,  # byte 182: MOS, T1, T2 fitted
    }


def test_jk02_32s_cell_info_every_field() -> None:
    values = jk02.decode(rec.JK02_32S_CELL_INFO, "32")
    assert values == {
        "cell_voltages": [3.48, 3.41, 3.436, 3.469],
        "cell_count": 4,
        "enabled_cells_mask": 0x0F,
        "average_cell_voltage": 3.449,
        "delta_cell_voltage": 0.07,
        "max_cell_index": 1,
        "min_cell_index": 2,
        "max_cell_voltage": 3.48,
        "min_cell_voltage": 3.41,
        "cell_resistances": [121.0, 126.0, 121.0, 119.0],
        "voltage": 13.795,
        "power": 0.0,
        "current": 0.0,
        "temperature_1": 19.7,
        "temperature_2": 20.3,
        "temperature_mos": 22.9,
        "errors": 0,
        **NO_JK_ALARMS,
        "balance_current": 0.0,
        "balancing_action": "off",
        "balancing": False,
        "soc": 96,
        "remaining_capacity": 4.827,
        "full_capacity": 5.0,
        "cycles": 0,
        "cycle_capacity": 0.001,
        "soh": 100,
        "runtime": 734542,
        "charge_mosfet": True,
        "discharge_mosfet": True,
        "precharge_mosfet": False,
        "temperature_sensors_mask": 0b111,  # byte 214: MOS, T1, T2 fitted; T3-T5 missing (bytes read 0)
        "temperature_3": None,
        "temperature_4": None,
        "temperature_5": None,
    }


def test_jk02_pb_cell_info_every_field_with_five_temperature_sensors() -> None:
    """JK-PB, firmware 15.38, all sensors fitted: T3/T4/T5 at 254/256/258 in JK's register order."""
    values = jk02.decode(rec.JK02_PB_CELL_INFO, "32")
    cells = [3333, 3326, 3326, 3329, 3329, 3325, 3323, 3329, 3324, 3323, 3326, 3323, 3320, 3323, 3323, 3337]
    assert values == {
        "cell_voltages": [mv / 1000 for mv in cells],
        "cell_count": 16,
        "enabled_cells_mask": 0xFFFF,
        "average_cell_voltage": 3.327,
        "delta_cell_voltage": 0.016,  # as the BMS sends it (its max - min would be 0.017)
        "max_cell_index": 16,
        "min_cell_index": 13,
        "max_cell_voltage": 3.337,
        "min_cell_voltage": 3.32,
        "cell_resistances": [
            64.0,
            61.0,
            64.0,
            61.0,
            65.0,
            63.0,
            65.0,
            62.0,
            65.0,
            62.0,
            65.0,
            61.0,
            64.0,
            62.0,
            65.0,
            63.0,
        ],
        "voltage": 53.224,
        "power": 1696.842,
        "current": 31.881,
        "temperature_1": 13.4,
        "temperature_2": 12.8,
        "temperature_mos": 12.9,
        "errors": 0,
        **NO_JK_ALARMS,
        "balance_current": 0.0,
        "balancing_action": "off",
        "balancing": False,
        "soc": 25,
        "remaining_capacity": 49.286,
        "full_capacity": 200.0,
        "cycles": 9,
        "cycle_capacity": 1859.505,
        "soh": 100,
        "runtime": 24530060,
        "charge_mosfet": True,
        "discharge_mosfet": True,
        "precharge_mosfet": False,
        "temperature_sensors_mask": 0xFF,
        "temperature_3": 20.5,  # bytes 254-255: cd 00
        "temperature_4": 19.5,  # bytes 256-257: c3 00
        "temperature_5": 19.1,  # bytes 258-259: bf 00
    }


def test_jk02_pb_v14_temperatures_from_second_recording() -> None:
    """A second PB unit (firmware 14, esphome-jk-bms#390): its T3 repeats MOS, T5 is its own."""
    values = jk02.decode(rec.JK02_PB_V14_CELL_INFO, "32")
    temperatures = {k: values[k] for k in jk02.TEMPERATURE_PRESENCE_BITS}
    assert values["temperature_sensors_mask"] == 0xFF
    assert temperatures == {
        "temperature_mos": 12.4,
        "temperature_1": 11.3,
        "temperature_2": 10.4,
        "temperature_3": 12.4,
        "temperature_4": 11.3,
        "temperature_5": 11.6,
    }


def test_jk02_missing_temperature_sensor_decodes_to_none() -> None:
    """Bit i of byte 214 clear = sensor i missing (0 MOS, 1-5 T1-T5): no number for it."""
    frame = bytearray(rec.JK02_PB_CELL_INFO)
    frame[214] = 0xFF & ~(1 << 0) & ~(1 << 4)  # MOS and T4 missing
    values = jk02.decode(jk02.encode_frame(jk02.TYPE_CELL_INFO, {6: bytes(frame[6:299])}), "32")
    assert values["temperature_mos"] is None and values["temperature_4"] is None
    assert (values["temperature_1"], values["temperature_2"]) == (13.4, 12.8)
    assert (values["temperature_3"], values["temperature_5"]) == (20.5, 19.1)


def test_jk02_layout_from_firmware() -> None:
    assert jk02.layout_for("10.XW") == "24"
    assert jk02.layout_for("11.XW") == "32"
    assert jk02.layout_for("V15.26") == "32"
    assert jk02.layout_for("") == "32"


def test_jk02_requests_match_recorded_exchange() -> None:
    # "TX aa 55 90 eb 97 00 … 00 11" / "… 96 00 … 00 10" in a published snoop of firmware 11.55
    assert jk02.request(jk02.CMD_DEVICE_INFO) == bytes.fromhex("aa5590eb97") + bytes(14) + b"\x11"
    assert jk02.request(jk02.CMD_CELL_INFO) == bytes.fromhex("aa5590eb96") + bytes(14) + b"\x10"


def test_jk02_device_info_roundtrip_fields() -> None:
    frame = jk02.encode_frame(
        jk02.TYPE_DEVICE_INFO,
        {6: b"JK_B2A24S15P", 22: b"10.XW", 30: b"10.07", 38: (3600).to_bytes(4, "little"), 46: b"pack1",
         62: b"1234", 78: b"220101", 86: b"2032201234"},
    )  # fmt: skip
    values = jk02.decode(frame)
    assert values == {
        "model": "JK_B2A24S15P",
        "hardware_version": "10.XW",
        "software_version": "10.07",
        "uptime": 3600,
        "power_on_count": 0,
        "device_name": "pack1",
        "manufacturing_date": "220101",
        "serial_number": "2032201234",
    }
    assert "1234" not in values.values()  # the passcode is never decoded


def test_jk02_reassembly_any_chunking() -> None:
    """Recorded 128+22+128+22 notifications, then random MTUs, with junk and a 320-byte frame."""
    buf = bytearray()
    frames: list[bytes] = []
    for chunk in rec.JK02_32S_CHUNKS:
        buf += chunk
        frames += jk02.split_frames(buf)
    assert frames == [rec.JK02_32S_CELL_INFO]
    stream = (
        bytes.fromhex("aa5590ebc8010100") + bytes(12)  # the 0xC8 "ready" notification
        + rec.JK02_24S_CELL_INFO + bytes(20)  # 320-byte firmware pads
        + rec.JK02_32S_CELL_INFO
    )  # fmt: skip
    rng = random.Random(7)
    for _ in range(50):
        buf, got, i = bytearray(), [], 0
        while i < len(stream):
            n = rng.choice((20, 23, 128, 182, 244, 512))
            buf += stream[i : i + n]
            i += n
            got += jk02.split_frames(buf)
        assert got == [rec.JK02_24S_CELL_INFO, rec.JK02_32S_CELL_INFO]


def test_jk02_lost_fragment_resyncs_on_next_header() -> None:
    buf = bytearray(rec.JK02_24S_CELL_INFO[:150] + rec.JK02_32S_CELL_INFO)
    assert jk02.split_frames(buf) == [rec.JK02_32S_CELL_INFO]


def test_jk02_errors_are_typed() -> None:
    good = rec.JK02_32S_CELL_INFO
    with pytest.raises(CrcError):
        jk02.decode(good[:100] + bytes([good[100] ^ 1]) + good[101:])
    with pytest.raises(FrameError):
        jk02.decode(good[:299])
    with pytest.raises(FrameError):
        jk02.decode(b"\x55\xaa\xeb\x91" + good[4:])
    with pytest.raises(FrameError):
        jk02.decode_device_info(good)


def test_jkserial_14s_every_field() -> None:
    values = jkserial.decode(rec.JKSERIAL_14S)
    cells = [3.821, 3.834, 3.831, 3.820, 3.832, 3.834, 3.825, 3.832, 3.811, 3.834, 3.825, 3.835, 3.835, 3.826]
    assert values == {
        "cell_voltages": cells,
        "cell_count": 14,
        "max_cell_voltage": 3.835,
        "min_cell_voltage": 3.811,
        "delta_cell_voltage": 0.024,
        "average_cell_voltage": round(sum(cells) / 14, 3),
        "temperature_mos": 29.0,
        "temperature_1": 30.0,
        "temperature_2": 28.0,
        "voltage": 53.59,
        "current": 2.08,  # 0x80D0: bit 15 = charging, 0xD0 * 10 mA
        "power": round(53.59 * 2.08, 2),
        "soc": 15,
        "temperature_sensor_count": 2,
        "cycles": 4,
        "cycle_capacity": 0.0,
        "warnings": 0,
        **{f"alarm_{n}": False for n in jkserial.WARNING_BITS},
        "charge_mosfet": True,
        "discharge_mosfet": True,
        "balancing": True,  # status 0x0007
        "cell_overvoltage_protection": 4.05,
        "cell_undervoltage_protection": 3.05,
        "discharge_overcurrent_protection": 7.0,
        "charge_overcurrent_protection": 5.0,
        "balance_start_voltage": 3.3,
        "balancer_enabled": True,
        "full_capacity": 14.0,
        "remaining_capacity": 2.1,
        "runtime": 0xE200,
        "software_version": "H6.X__S6.1.3S__",
        "device_id": "BT3072020120000200521001",
        "protocol_version": 1,
    }


def test_jkserial_7s_odd_cell_count_and_idle_current() -> None:
    values = jkserial.decode(rec.JKSERIAL_7S)
    assert values["cell_voltages"] == [3.794] * 4 + [3.803] * 3
    assert values["cell_count"] == 7
    assert (values["voltage"], values["current"], values["power"], values["soc"]) == (26.58, 0.0, 0.0, 90)
    assert (values["full_capacity"], values["remaining_capacity"]) == (117.0, 105.3)
    assert values["software_version"] == "11.XA_S11.51___"
    assert values["discharge_overcurrent_protection"] == 200.0
    assert (values["charge_mosfet"], values["discharge_mosfet"], values["balancing"]) == (True, True, False)


def test_jkserial_request_is_the_documented_one() -> None:
    assert bytes.fromhex("4E57001300000000060300000000000068000001 29".replace(" ", "")) == jkserial.READ_ALL_REQUEST


def test_jkserial_negative_temperature_and_discharge() -> None:
    frame = jkserial.encode_registers(
        [(0x79, bytes([6, 1, 0x0C, 0xE4, 2, 0x0C, 0xE6])), (0x80, b"\x00\x65"), (0x83, b"\x05\x14"),
         (0x84, b"\x01\xf4"), (0xC0, b"\x01")]
    )  # fmt: skip
    values = jkserial.decode(frame)
    assert values["temperature_mos"] == -1.0  # 101 = -1 °C (vendor document)
    assert values["current"] == -5.0  # bit 15 clear: discharging
    assert values["power"] == round(13.0 * -5.0, 2)
    assert values["cell_voltages"] == [3.3, 3.302]


def test_jkserial_errors_are_typed() -> None:
    good = rec.JKSERIAL_7S
    with pytest.raises(CrcError):
        jkserial.decode(good[:-1] + bytes([good[-1] ^ 0xFF]))
    with pytest.raises(FrameError):
        jkserial.decode(good[:-3])
    with pytest.raises(FrameError):
        jkserial.decode(b"\x4e\x58" + good[2:])
    unknown = jkserial.encode_registers([(0x85, b"\x10"), (0x7A, b"\x00")])
    with pytest.raises(FrameError, match="unknown"):
        jkserial.decode(unknown)


def test_jkserial_split_from_stream() -> None:
    buf = bytearray(b"\x00\xff" + rec.JKSERIAL_7S[:100])
    assert jkserial.split_frames(buf) == []
    buf += rec.JKSERIAL_7S[100:] + rec.JKSERIAL_14S
    assert jkserial.split_frames(buf) == [rec.JKSERIAL_7S, rec.JKSERIAL_14S]


def test_daly_batmon_416_and_vendor_example() -> None:
    assert daly.decode(0x90, [rec.DALY_416_90]) == {
        "voltage": 13.3, "gather_voltage": 0.0, "current": 0.0, "soc": 48.4, "power": 0.0,
    }  # fmt: skip
    assert daly.decode(0x94, [rec.DALY_416_94]) == {
        "cell_count": 4, "temperature_sensor_count": 2, "charger_connected": False,
        "load_connected": False, "dio_state": 0, "cycles": 0,
    }  # fmt: skip
    # vendor example: raw 30113 -> 11.3 A above the offset; most firmware means discharge
    assert daly.decode(0x90, [rec.DALY_DOC_90])["current"] == -11.3
    assert daly.decode(0x90, [rec.DALY_DOC_90], charge_positive=True)["current"] == 11.3
    assert daly.decode(0x90, [rec.DALY_DOC_90])["voltage"] == 76.4


def test_daly_8s_every_command() -> None:
    got = {cmd: daly.decode(cmd, daly.chunks(bytes.fromhex(h)), cells=8, sensors=1) for cmd, h in rec.DALY_8S.items()}
    assert got[0x90] == {"voltage": 24.8, "gather_voltage": 0.0, "current": 0.0, "soc": 38.5, "power": 0.0}
    assert got[0x91] == {
        "max_cell_voltage": 3.154, "max_cell_index": 5, "min_cell_voltage": 2.923, "min_cell_index": 1,
        "delta_cell_voltage": 0.231,
    }  # fmt: skip
    assert got[0x92] == {
        "max_temperature": 21.0, "max_temperature_sensor": 1, "min_temperature": 21.0, "min_temperature_sensor": 1,
    }  # fmt: skip
    assert got[0x93] == {
        "state": "idle", "charge_mosfet": True, "discharge_mosfet": False, "bms_life": 37,
        "remaining_capacity": 40.425,
    }  # fmt: skip
    assert got[0x94] == {
        "cell_count": 8, "temperature_sensor_count": 1, "charger_connected": False, "load_connected": False,
        "dio_state": 0, "cycles": 1,
    }  # fmt: skip
    # cell 1 = 0x0B6B = 2923 mV is the min of 0x91 and cell 5 = 3154 mV its max: the frames agree
    assert got[0x95] == {"cell_voltages": [2.923, 3.138, 3.139, 3.132, 3.154, 3.139, 3.072, 3.144]}
    assert got[0x96] == {"temperatures": [21.0]}
    assert got[0x97] == {"balancing_cells": [0, 0, 0, 0, 1, 0, 0, 1], "balancing": True}
    faults = got[0x98]
    assert faults.pop("fault_code") == 0
    assert set(faults.values()) == {False} and len(faults) == sum(1 for b in daly.FAULT_BITS for n in b if n)


def test_daly_fault_bits_are_named() -> None:
    data = bytes([0b00000100, 0, 0b00000010, 0, 0, 0, 0b00000100, 7])
    values = daly.decode(0x98, [daly.reply(0x98, data)])
    on = sorted(k for k, v in values.items() if v is True)
    assert on == ["alarm_cell_voltage_low_1", "alarm_charge_overcurrent_2", "alarm_short_circuit_protection"]
    assert values["fault_code"] == 7


def test_daly_request_and_errors() -> None:
    assert daly.request(0x90) == bytes.fromhex("a540900800000000000000007d")  # vendor "Example Send"
    with pytest.raises(CrcError):
        daly.decode(0x90, [rec.DALY_416_90[:-1] + b"\x00"])
    with pytest.raises(FrameError):
        daly.decode(0x90, [rec.DALY_416_90[:12]])
    with pytest.raises(FrameError):
        daly.decode(0x91, [rec.DALY_416_90])  # answer to another command
    with pytest.raises(FrameError):  # 8 cells promised, only frames 1 and 3 came
        frames = daly.chunks(bytes.fromhex(rec.DALY_8S[0x95]))
        daly.decode(0x95, [frames[0], frames[2]], cells=8)


def test_daly_split_several_frames_per_notification() -> None:
    stream = b"\x00" + bytes.fromhex(rec.DALY_8S[0x95]) + rec.DALY_416_90
    buf = bytearray()
    out: list[bytes] = []
    for i in range(0, len(stream), 20):  # a BLE module's 20-byte notifications
        buf += stream[i : i + 20]
        out += daly.split_frames(buf)
    assert b"".join(out) == stream[1:]


def test_vedirect_bmv_blocks_every_field() -> None:
    main = vedirect.decode(rec.VE_BMV_MAIN)
    assert main == {
        "product_id": "0x203", "voltage": 12.065, "current": -7.625, "power": -92,
        "consumed_capacity": -65.473, "soc": 83.9, "time_to_go": 942, "alarm": False, "relay": False,
        "alarm_reason": 0, "model": "700", "firmware": "0308",
        **{a.key: False for a in vedirect.ALARMS},
    }  # fmt: skip
    assert vedirect.decode(rec.VE_BMV_HISTORY) == {
        "deepest_discharge": -149.322, "last_discharge": -82.854, "average_discharge": 0.0, "cycles": 0,
        "full_discharges": 0, "cumulative_ah_drawn": -5526.294, "min_battery_voltage": 11.733,
        "max_battery_voltage": 16.161, "seconds_since_full_charge": 368003, "automatic_syncs": 26,
        "low_voltage_alarms": 0, "high_voltage_alarms": 0, "energy_discharged": 68.43, "energy_charged": 85.27,
    }  # fmt: skip


def test_vedirect_smartsolar_every_field() -> None:
    assert vedirect.decode(rec.VE_SMARTSOLAR) == {
        "product_id": "0xA05F", "firmware": "139", "serial_number": "HQ18486U2B4", "voltage": 12.81,
        "current": -0.01, "pv_voltage": 0.01, "pv_power": 0, "charge_state": "off", "tracker_mode": "off",
        "error_code": 0, "load": True, "load_current": 0.0, "yield_total": 0.0, "yield_today": 0.0,
        "max_power_today": 0, "yield_yesterday": 0.0, "max_power_yesterday": 0, "day_sequence": 0,
    }  # fmt: skip


def test_vedirect_hex_messages_inside_a_block_are_skipped() -> None:
    block = rec.VE_BMV_MAIN
    cut = block.index(b"\r\nSOC")
    with_hex = block[:cut] + b":A0002000148\n" + block[cut:]
    buf = bytearray(b"garbage" + with_hex + rec.VE_SMARTSOLAR)
    blocks = vedirect.split_frames(buf)
    assert [vedirect.decode(b) for b in blocks] == [vedirect.decode(block), vedirect.decode(rec.VE_SMARTSOLAR)]


def test_vedirect_checksum_byte_may_be_anything() -> None:
    # pick a serial-number character so that the checksum byte is \n, \r, ':' or \t
    for wanted in (b"\n", b"\r", b":", b"\t"):
        for v, c in ((v, c) for v in range(12000, 12010) for c in range(48, 123)):
            block = vedirect.encode([("V", str(v)), ("SER#", "HQ" + chr(c))])
            if block[-1:] == wanted:
                buf = bytearray(block + rec.VE_SMARTSOLAR)
                assert [vedirect.decode(b)["voltage"] for b in vedirect.split_frames(buf)] == [v / 1000, 12.81]
                break
        else:
            pytest.fail(f"no value gives checksum {wanted!r}")


def test_vedirect_errors_are_typed() -> None:
    with pytest.raises(CrcError):
        vedirect.decode(rec.VE_BMV_MAIN.replace(b"12065", b"12066"))
    with pytest.raises(FrameError):
        vedirect.decode(b"\r\nV\t12000")
    with pytest.raises(FrameError):
        vedirect.decode(vedirect.encode([("V", "twelve")]))
    # TTG -1 means infinite: no number, not -1 minutes
    assert vedirect.decode(vedirect.encode([("TTG", "-1")]))["time_to_go"] is None


@pytest.mark.parametrize(
    "table",
    [jk02.CELL_INFO_24, jk02.CELL_INFO_32, jk02.DEVICE_INFO, jkserial.READ_ALL, daly.ALL_FIELDS, vedirect.FIELDS],
)
def test_tables_are_well_formed(table: tuple) -> None:  # type: ignore[type-arg]
    keys = [f.key for f in table]
    assert len(keys) == len(set(keys)), "duplicate keys"
    for f in table:
        assert f.unit is None or f.unit in UNITS, f"{f.key}: unit {f.unit!r}"
        if f.unit in ("kWh", "Wh"):  # a meter, or no statistics at all: never a measurement (HA refuses it)
            assert f.state_class in ("total_increasing", "total", NO_STATISTICS), f.key
        if f.kind is Kind.ARRAY:
            assert f.key.endswith("s"), f.key


# --- fuzz: whatever arrives, only ProtocolError escapes ---------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["24", "32"]))
def test_fuzz_jk02(data: bytes, layout: str) -> None:
    buf = bytearray(data)
    try:
        jk02.split_frames(buf)
        jk02.decode(jk02.HEADER + data, layout)  # type: ignore[arg-type]
    except ProtocolError:
        pass
    # a valid checksum on random contents still decodes without surprise
    frame = jk02.encode_frame(jk02.TYPE_CELL_INFO, {6: data[:290]})
    jk02.decode(frame, layout)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_jkserial(data: bytes) -> None:
    for candidate in (data, jkserial.encode(jkserial.CMD_READ_ALL, data, source=0, frame_type=1)):
        with contextlib.suppress(ProtocolError):
            jkserial.decode(candidate)
    jkserial.split_frames(bytearray(data))


@settings(max_examples=300, deadline=None)
@given(st.integers(0x90, 0x98), st.binary(min_size=8, max_size=8), st.integers(0, 48), st.binary(max_size=60))
def test_fuzz_daly(command: int, data: bytes, cells: int, noise: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        daly.decode(command, [daly.reply(command, data)], cells=cells, sensors=cells)
    for frame in daly.split_frames(bytearray(noise)):
        with contextlib.suppress(ProtocolError):
            daly.decode(frame[2], [frame])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.tuples(st.sampled_from(sorted(vedirect.LABELS)), st.text(max_size=8))))
def test_fuzz_vedirect(noise: bytes, pairs: list[tuple[str, str]]) -> None:
    for block in vedirect.split_frames(bytearray(noise + b"\r\nChecksum\t\x00")):
        with contextlib.suppress(ProtocolError):
            vedirect.decode(block)
    with contextlib.suppress(ProtocolError):
        vedirect.decode(vedirect.encode([(k, v.replace("\r", "").replace("\n", "")) for k, v in pairs]))


def test_cli_codec_faces() -> None:
    """What `solarstack decode/encode/commands --protocol …` use (protocols/catalog.py)."""
    values, table = jk02.Codec().decode(rec.JK02_24S_CELL_INFO, "24")
    assert values["voltage"] == 53.251 and {f.key for f in table} >= set(values)
    values, _ = jk02.Codec().decode(rec.JK02_32S_CELL_INFO, None)
    assert values["cell_voltages"] == [3.48, 3.41, 3.436, 3.469]
    assert jk02.Codec().encode("cell_info") == jk02.request(jk02.CMD_CELL_INFO)
    assert jkserial.Codec().decode(rec.JKSERIAL_7S, None)[0]["cell_count"] == 7
    assert jkserial.Codec().encode("read_all") == jkserial.READ_ALL_REQUEST
    values, table = daly.Codec().decode(bytes.fromhex(rec.DALY_8S[0x95]), None)
    assert len(values["cell_voltages"]) == 9 and table == daly.COMMANDS[0x95]  # type: ignore[arg-type]
    assert daly.Codec().encode("soc") == daly.request(0x90)
    values, _ = vedirect.Codec().decode(rec.VE_BMV_MAIN + rec.VE_BMV_HISTORY, None)
    assert values["soc"] == 83.9 and values["energy_charged"] == 85.27
    with pytest.raises(ConfigError):
        vedirect.Codec().encode("V")
    for codec in (jk02.Codec(), jkserial.Codec(), daly.Codec(), vedirect.Codec()):
        assert codec.describe()

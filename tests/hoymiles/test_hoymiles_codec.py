"""The DTU's frames and values, checked against the format as written down, not against the
library alone: a frame framed here by hand (the "HM" header, tag, sequence, CRC-16/MODBUS of
the protobuf body, length including the 10 header bytes — as hoymiles-wifi's dtu.py and the
DTU's own answers lay it out) is what the library parses and what the simulator sends; the
scales are the Home Assistant integration's (0.1 V, 0.01 A, 0.1 W, 0.01 Hz, 0.1 °C, 0.1 %);
and the held counters of core/energy.py (`meter`) never go down within a day."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hoymiles_wifi.dtu import DTU
from hoymiles_wifi.protobuf import CommandPB_pb2, RealDataNew_pb2

from solarstack.core.energy import Counter, EnergyCounters
from solarstack.core.errors import ProtocolError
from solarstack.devices.hoymiles import inverter_counters
from solarstack.protocols import hoymiles as proto
from solarstack.sim.hoymiles import DTUServer, build_model
from solarstack.sim.plant import Plant


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0x8005 reflected, init 0xFFFF, no final xor), bit by bit."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def frame(tag: bytes, sequence: int, body: bytes) -> bytes:
    return b"HM" + tag + struct.pack(">HHH", sequence, crc16_modbus(body), len(body) + 10) + body


def sample_answer() -> RealDataNew_pb2.RealDataNewReqDTO:
    msg = RealDataNew_pb2.RealDataNewReqDTO()
    msg.device_serial_number = "413212345678"
    msg.firmware_version = 8197
    msg.ap = 1
    msg.dtu_power = 4523  # 452.3 W
    msg.dtu_daily_energy = 1234  # Wh
    sgs = msg.sgs_data.add()
    sgs.serial_number = 0x114412345678
    sgs.voltage = 2301
    sgs.frequency = 4998
    sgs.active_power = 4371
    sgs.current = 190
    sgs.temperature = 312
    sgs.power_limit = 800
    sgs.warning_number = 2
    sgs.link_status = 1
    for port, (v, a, w, total, daily) in enumerate(((325, 701, 2278, 812345, 600), (330, 680, 2245, 700001, 634)), 1):
        pv = msg.pv_data.add()
        pv.serial_number = 0x114412345678
        pv.port_number = port
        pv.voltage, pv.current, pv.power, pv.energy_total, pv.energy_daily = v, a, w, total, daily
    return msg


def test_a_hand_framed_answer_is_what_the_library_parses_and_decodes_to_scaled_values() -> None:
    raw = frame(b"\xa2\x11", 7, sample_answer().SerializeToString())
    parsed = DTU("unused").parse_response(raw, RealDataNew_pb2.RealDataNewReqDTO, False)
    assert parsed is not None
    answer = proto.decode(parsed)
    assert answer.dtu_serial == "413212345678" and answer.firmware == 8197
    assert answer.values == {"dtu_power": 452.3}
    (inv,) = answer.inverters
    assert inv.serial == "114412345678" and inv.ports == (1, 2)
    v = inv.values
    assert (v["grid_voltage"], v["grid_frequency"], v["ac_power"], v["ac_current"]) == (230.1, 49.98, 437.1, 1.9)
    assert (v["temperature"], v["power_limit"], v["warning_count"], v["link_status"]) == (31.2, 80.0, 2, 1)
    assert (v["pv1_voltage"], v["pv1_current"], v["pv1_power"]) == (32.5, 7.01, 227.8)
    assert (v["pv1_energy"], v["pv1_energy_today"], v["pv2_energy_today"]) == (812.345, 0.6, 0.634)
    assert v["pv_power"] == pytest.approx(227.8 + 224.5) and v["pv_energy"] == pytest.approx(1512.346)


def test_a_frame_with_a_wrong_crc_is_refused() -> None:
    raw = bytearray(frame(b"\xa2\x11", 7, sample_answer().SerializeToString()))
    raw[-1] ^= 0xFF
    assert DTU("unused").parse_response(bytes(raw), RealDataNew_pb2.RealDataNewReqDTO, False) is None
    with pytest.raises(ProtocolError):
        proto.decode(None)


def test_the_simulator_answers_a_hand_framed_request_in_the_same_format() -> None:
    request = RealDataNew_pb2.RealDataNewResDTO()
    request.time = 1_780_000_000
    request.offset = 28800
    request.cp = 0
    server = DTUServer(build_model(Plant(seed=3), 2, 3), "127.0.0.1", 0)
    out = server.respond(frame(b"\xa3\x11", 4660, request.SerializeToString()))
    assert out is not None
    assert out[:4] == b"HM\xa2\x11"
    sequence, crc, length = struct.unpack(">HHH", out[4:10])
    assert sequence == 4660 and length == len(out) and crc == crc16_modbus(out[10:])
    answer = proto.decode(RealDataNew_pb2.RealDataNewReqDTO.FromString(out[10:]))
    assert [i.ports for i in answer.inverters] == [(1, 2), (1, 2, 3, 4)]
    assert answer.values["dtu_power"] == pytest.approx(sum(i.values["pv_power"] for i in answer.inverters), abs=0.2)


def test_a_power_limit_command_addresses_one_inverter() -> None:
    cmd = proto.limit_command(55, "114412345678", now=1_780_000_000)
    wire = CommandPB_pb2.CommandResDTO.FromString(cmd.SerializeToString())
    assert wire.action == 8 and wire.data == "A:550,B:0,C:0\r" and list(wire.mi_to_sn) == [0x114412345678]
    assert proto.parse_limit_command(wire) == (55, ("114412345678",))
    for bad in (1, 101):
        with pytest.raises(ValueError):
            proto.limit_command(bad, "114412345678")


# -- held counters (core/energy.py `meter`) ------------------------------------------------

TZ = UTC
DAY = datetime(2026, 12, 2, 9, 0, tzinfo=TZ)


def counters(path: Path) -> EnergyCounters:
    return EnergyCounters(path, counters=inverter_counters((1,)), max_gap=300, tz=TZ)


def feed(c: EnergyCounters, ts: datetime, total: float, today: float) -> dict[str, object]:
    return c.update(ts, {"pv1_energy": total, "pv1_energy_today": today, "pv_energy": total, "pv_energy_today": today})


def test_the_first_answer_seeds_the_total_and_today_from_the_dtu(tmp_path: Path) -> None:
    out = feed(counters(tmp_path / "e.json"), DAY, 812.345, 0.6)
    assert out["pv1_energy"] == pytest.approx(812.345) and out["pv1_energy_today"] == pytest.approx(0.6)


def test_a_dip_of_the_dtu_daily_counter_or_a_glitch_to_zero_never_lowers_ours(tmp_path: Path) -> None:
    c = counters(tmp_path / "e.json")
    feed(c, DAY, 800.0, 1.0)
    feed(c, DAY + timedelta(minutes=1), 800.5, 1.5)
    out = feed(c, DAY + timedelta(minutes=2), 800.5, 0.0)  # the DTU's daily counter reset mid-day
    assert out["pv1_energy_today"] == pytest.approx(1.5)
    out = feed(c, DAY + timedelta(minutes=3), 0.0, 0.0)  # a glitch: the lifetime read as 0
    assert out["pv1_energy"] == pytest.approx(800.5) and out["pv1_energy_today"] == pytest.approx(1.5)
    out = feed(c, DAY + timedelta(minutes=4), 800.7, 0.2)  # counting on from the held value
    assert out["pv1_energy"] == pytest.approx(800.7) and out["pv1_energy_today"] == pytest.approx(1.7)


def test_today_restarts_at_local_midnight_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    c = counters(path)
    feed(c, DAY, 800.0, 1.0)
    feed(c, DAY + timedelta(hours=8), 805.0, 6.0)
    c.close()
    again = counters(path)  # a restart: the state file, not the DTU's daily figure (dipped to 0.1)
    out = feed(again, DAY + timedelta(hours=9), 805.2, 0.1)
    assert out["pv1_energy_today"] == pytest.approx(1.0 + 5.0 + 0.2)
    morning = DAY.replace(hour=0) + timedelta(days=1, hours=8)
    out = feed(again, morning, 805.4, 6.4)  # a new local day; the DTU still says yesterday's 6.4
    assert out["pv1_energy_today"] == pytest.approx(0.2) and out["pv1_energy"] == pytest.approx(805.4)


def test_a_meter_counter_integrates_nothing(tmp_path: Path) -> None:
    c = EnergyCounters(tmp_path / "e.json", counters=(Counter("x", "X", (), meter="m"),), max_gap=300, tz=TZ)
    c.update(DAY, {"m": 1.0})
    out = c.update(DAY + timedelta(minutes=1), {"m": 1.0})
    assert out == {"x": 1.0, "x_today": 0.0}

"""The PI18 simulator (`solarstack sim inverter --protocol pi18`) and the PI18 device class
(devices/pi18.py) over real ptys and TCP.

The device's verdicts on setters are pinned to frames written out byte for byte — the
request frames recorded by mpp-solar's PI18 tests (tests/protocols/test_pi18_framing.py)
and the PDF's `^1` / `^0` — so a rule wrong in both our setter code and the simulator does
not pass unnoticed. Through the device class: identity, polling, a write read back, a
value refused before the wire, a value the device itself NAKs, and faults from the
control port.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from sim_rig import Rig as SimRig
from sim_rig import rig_fixtures, simulator

from solarstack.core.device_url import parse_device_url
from solarstack.core.errors import ConfigError, NakError
from solarstack.devices.pi18 import Pi18Device, open_device
from solarstack.protocols import pi18
from solarstack.protocols.pi30 import crc
from solarstack.sim.pi18 import Pi18Inverter

ACK = b"^1\x0b\xc2\r"  # the PDF's acknowledgement, as bytes
NAK = b"^0\x1b\xe3\r"


def frame(kind: str, text: str) -> bytes:
    """A request written out by hand: `^`, type, three-digit length (text + CRC + CR), text, CRC, CR."""
    body = f"^{kind}{len(text) + 3:03d}{text}".encode()
    return body + crc.crc_bytes(body) + b"\r"


def unit() -> Pi18Inverter:
    return simulator("pi18", Pi18Inverter)


# -- the wire, in process ------------------------------------------------------------------


def test_a_single_unit_naks_another_machine() -> None:
    with pytest.raises(NakError):  # a single unit: no machine 1
        pi18.decode("PGS1", unit().handle(pi18.encode("PGS1")))


def test_status_comes_from_the_plant() -> None:
    inverter = unit()
    gs = pi18.decode("GS", inverter.handle(frame("P", "GS")))
    plant = inverter.plant.snapshot()
    assert gs["battery_capacity"] == round(plant.soc)
    assert gs["ac_output_active_power"] == round(plant.load_power_w)
    assert gs["pv_input_power"] == round(plant.pv_power_w)
    assert gs["battery_voltage"] == round(plant.battery_voltage, 1)
    assert "extra_28" not in gs  # exactly the 28 fields of the table
    mode = pi18.decode("MOD", inverter.handle(frame("P", "MOD")))["mode"]
    assert mode == {"line": "hybrid", "battery": "battery"}[plant.mode]
    rated = pi18.decode("PIRI", inverter.handle(frame("P", "PIRI")))
    assert rated["rated_battery_voltage"] == 48.0 and rated["extra_25"] == "00"  # the recorded 26th field
    assert pi18.decode("PI", inverter.handle(frame("P", "PI"))) == {"protocol_id": "18"}
    assert pi18.decode("ID", inverter.handle(frame("P", "ID"))) == {"serial_number": inverter.serial}


@pytest.mark.parametrize(
    ("request_bytes", "key", "after"),
    [  # recorded request frames (mpp-solar's pi18 / pi18sv tests), as bytes
        (b"^S007POP0\x1d1\r", "output_source_priority", "solar_utility_battery"),
        (b"^S009PCP0,1\x8f\x07\r", "charger_source_priority", "solar_and_utility"),
        (b"^S013MCHGC0,030\xc4\xee\r", "max_charging_current", 30),
        (b"^S014MUCHGC0,030\xee\xdd\r", "max_ac_charging_current", 30),
        (b"^S007PBT0\x93\xa4\r", "battery_type", "agm"),
        (b"^S015MCHGV552,540\x88\xe8\r", "battery_bulk_voltage", 55.2),
        (b"^S010PSDV450,\x8b\r", "battery_under_voltage", 45.0),
        (b"^S014BUCD440,480\xa5]\r", "battery_recharge_voltage", 44.0),
        (b"^S007PSP1;\x12\r", "solar_power_priority", "load_battery_utility"),
        (b"^S006PDA\x88Q\r", "buzzer", False),
    ],
)
def test_documented_setter_frames_are_acknowledged_and_take_effect(
    request_bytes: bytes, key: str, after: object
) -> None:
    inverter = unit()
    assert inverter.handle(request_bytes) == ACK
    assert {**inverter.settings, **inverter.flags}[key] == after
    assert list(inverter.setter_log) == [(request_bytes[5:-3].decode(), True)]


@pytest.mark.parametrize(
    "text",
    [
        "PSDV399",  # cut-off below 40.0 V on a 48 V unit
        "PSDV481",  # … above 48.0 V
        "MCHGV585,540",  # bulk above 58.4 V
        "MCHGV560,479",  # float below 48.0 V
        "MCHGV540,560",  # float above bulk: the unit refuses it (our setter code does not check)
        "BUCD435,480",  # re-charge not one of the listed 44-51 V
        "BUCD450,475",  # re-discharge not listed (0 or 48-58 V)
        "MCHGC0,035",  # not in the unit's MCHGCR list
        "MUCHGC0,070",  # not in MUCHGCR
        "MCHGC1,030",  # machine 1 of a single unit
        "PCP0,3",  # charger priorities are 0-2
        "PBT3",  # the setter takes battery types 0-2 only
        "POP2",  # PI18 has two output priorities
    ],
)
def test_values_the_unit_does_not_take_are_nakked(text: str) -> None:
    inverter = unit()
    before = dict(inverter.settings)
    assert inverter.handle(frame("S", text)) == NAK
    assert inverter.settings == before
    assert list(inverter.setter_log)[-1:] in ([(text, False)], [])  # NAKed; an unknown text never counts


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"^P005GSX\x15\r",  # CRC off by one
        frame("S", "GS"),  # a query sent as a setter
        frame("P", "POP0"),  # a setter sent as a query
        b"^P006GS" + crc.crc_bytes(b"^P006GS") + b"\r",  # length does not fit the text
        frame("P", "QPIGS"),  # a PI30 command
        b"QPIGS\xb7\xa9\r",  # a PI30 request
    ],
)
def test_malformed_requests_are_nakked(request_bytes: bytes) -> None:
    assert unit().handle(request_bytes) == NAK


def test_the_recorded_query_frame_is_answered() -> None:
    reply = unit().handle(b"^P005GSX\x14\r")  # recorded request bytes
    assert reply.startswith(b"^D") and pi18.decode("GS", reply)["battery_voltage"]


def test_simulator_cli_rejects_an_unknown_protocol() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "solarstack.cli", "sim", "inverter", "--tcp", "0", "--protocol", "pi99"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "pi99" in proc.stderr


# -- through the device class ------------------------------------------------------------


rig, tcp_rig = rig_fixtures("pi18", Pi18Device, Pi18Inverter)
Rig = SimRig[Pi18Device, Pi18Inverter]


def test_queries_identity_and_a_write_through_every_transport(rig: Rig) -> None:
    dev = rig.dev
    identity = dev.identify({})
    assert identity.serial_number == rig.inverter.serial and identity.sw_version == "05220"
    assert identity.model == "PI18 inverter 5000 VA"
    reading = dev.query("GS")
    assert reading.device == "inv" and 40 < reading.values["battery_voltage"] < 60  # type: ignore[operator]
    result = dev.apply("output_source_priority", "solar_utility_battery")
    assert result.ok and result.value == "solar_utility_battery", result
    assert rig.inverter.settings["output_source_priority"] == "solar_utility_battery"
    assert list(rig.inverter.setter_log) == [("POP0", True)]


def test_a_setter_is_not_a_query(tcp_rig: Rig) -> None:
    with pytest.raises(ConfigError, match="setting command"):
        tcp_rig.dev.query("POP0")
    assert not tcp_rig.dev.is_query("POP0") and tcp_rig.dev.is_query("ED20240115")
    assert tcp_rig.inverter.requests == 0  # nothing went to the wire


def test_the_other_half_of_a_paired_setter_is_the_value_in_force(tcp_rig: Rig) -> None:
    """MCHGV sets bulk and float at once: after a bulk write, a float write carries the NEW
    bulk (the read-back PIRI refreshed it), not the one read when the device was opened."""
    dev, inverter = tcp_rig.dev, tcp_rig.inverter
    assert dev.apply("battery_bulk_voltage", "57.2").ok
    assert dev.apply("battery_float_voltage", "55.1").ok
    assert dev.apply("battery_recharge_voltage", "46").ok
    assert dev.apply("battery_redischarge_voltage", "0").ok
    assert [c for c, _ in inverter.setter_log] == ["MCHGV572,540", "MCHGV572,551", "BUCD460,520", "BUCD460,000"]
    assert inverter.settings["battery_bulk_voltage"] == 57.2 and inverter.settings["battery_float_voltage"] == 55.1
    assert inverter.settings["battery_redischarge_voltage"] == 0.0


def test_refused_before_the_wire_and_nakked_by_the_device(tcp_rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    dev, inverter = tcp_rig.dev, tcp_rig.inverter
    dev.context()
    with caplog.at_level(logging.DEBUG, logger="solarstack.audit"):
        for key, value in (
            ("battery_float_voltage", "70"),
            ("max_charging_current", "35"),
            ("battery_recharge_voltage", "45.5"),
            ("output_source_priority", "utility"),
            ("no_such_setting", "1"),
        ):
            result = dev.apply(key, value)
            assert not result.ok and result.error and "\n" not in result.error, (key, result)
        assert inverter.setters == 0  # none reached the device
        nakked = dev.apply("battery_float_voltage", "58.0")  # above the bulk in force: the unit says no
    assert not nakked.ok and nakked.error == "the inverter refused MCHGV564,580 (NAK)"
    assert list(inverter.setter_log) == [("MCHGV564,580", False)]
    words = [r.getMessage().split()[0] for r in caplog.records if r.name == "solarstack.audit"]
    assert words == ["refused"] * 5 + ["write", "nak"]


def test_flags_are_read_back_from_flag(tcp_rig: Rig) -> None:
    result = tcp_rig.dev.apply("backlight", "OFF")
    assert result.ok and result.value is False and result.readback and "buzzer" in result.readback
    assert tcp_rig.inverter.flags["backlight"] is False
    assert [c for c, _ in tcp_rig.inverter.setter_log] == ["PDF"]


def test_validator_and_unit_agree_at_every_numeric_bound(tcp_rig: Rig) -> None:
    """The device's fitted bounds (from its own PIRI, MCHGCR, MUCHGCR) are exactly what the
    unit takes: each end is ACKed, one step beyond is refused before the wire."""
    dev, inverter = tcp_rig.dev, tcp_rig.inverter
    dev.context()
    for setting in dev.settings():
        if setting.options:
            continue
        assert setting.minimum is not None and setting.maximum is not None and setting.step
        for value in (setting.minimum, setting.maximum):
            # float above bulk is the unit's to refuse: make room for each end first
            if setting.key == "battery_float_voltage":
                assert dev.apply("battery_bulk_voltage", "58.4").ok
            if setting.key == "battery_bulk_voltage":
                assert dev.apply("battery_float_voltage", "48").ok
            result = dev.apply(setting.key, f"{value:g}")
            assert result.ok, (setting.key, value, result, list(inverter.setter_log)[-1:])
        sent = inverter.setters
        for value in (setting.minimum - setting.step, setting.maximum + setting.step):
            assert not dev.apply(setting.key, f"{value:g}").ok, (setting.key, value)
        assert inverter.setters == sent, setting.key


def test_energy_counters_have_the_pi30_roles() -> None:
    """The same five counters (and two derived powers) as PI30, from GS keys; PV counts both strings."""
    from solarstack.devices.pi30 import Pi30Device

    dev = open_device(parse_device_url("pi18+tcp://127.0.0.1:1?name=inv"))
    pi30_dev = Pi30Device("x", dev.transport)
    ours = {(c.key, c.role, c.power_key) for c in dev.counters()}
    assert ours == {(c.key, c.role, c.power_key) for c in pi30_dev.counters()}
    gs_keys = {f.key for f in pi18.table("GS")}
    for counter in dev.counters():
        assert {k for t in counter.terms for k in t.factors} <= gs_keys, counter.key
    pv = next(c for c in dev.counters() if c.key == "pv_energy")
    assert pv.power({"pv_input_power": 1200, "pv2_input_power": 300}) == 1500.0
    grid = next(c for c in dev.counters() if c.key == "grid_import_energy")
    values = {
        "ac_input_voltage": 230.0,
        "ac_output_active_power": 2000,
        "battery_charging_current": 10,
        "battery_discharge_current": 0,
        "battery_voltage": 50.0,
        "pv_input_power": 1200,
        "pv2_input_power": 300,
    }
    assert grid.power(values) == 2000 + 500 - 1500
    assert grid.power({**values, "ac_input_voltage": 3.0}) == 0.0  # no grid: gate closed


def test_query_cli_reads_a_pi18_unit(tcp_rig: Rig) -> None:
    """`solarstack query pi18+tcp://… GS` as a user runs it (a separate process)."""
    url = tcp_rig.url.split("?")[0]
    proc = subprocess.run(
        [sys.executable, "-m", "solarstack.cli", "query", url, "GS", "MOD", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert 40 < out["battery_voltage"] < 60 and out["mode"] in ("hybrid", "battery")
    assert "pv2_input_power" in out and "ts" in out
    plain = subprocess.run(
        [sys.executable, "-m", "solarstack.cli", "query", url, "GS"], capture_output=True, text=True, timeout=30
    )
    assert plain.returncode == 0 and "Battery voltage" in plain.stdout, plain.stderr

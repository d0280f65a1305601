"""The PI17 simulator (`solarstack sim inverter --protocol pi17`) and the PI17 device class
(devices/pi17.py) over real ptys and TCP.

The device's verdicts on setters are pinned to request frames written out byte for byte
from the PDFs' own examples (`^S010MCHGC0600`, `^S004PEA`, `^S015MCHGVmmmm,nnnn` …) and to
`^1` / `^0` as bytes, so a rule wrong in both our setter code and the simulator does not
pass unnoticed. Through the device class: identity, polling, a reply whose CRC holds a CR,
a write read back, a value refused before the wire, a value the device itself NAKs, PS's
battery power measured or taken from GS, and faults from the control port.
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
from solarstack.core.errors import ConfigError
from solarstack.devices.pi17 import Pi17Device, open_device
from solarstack.protocols import pi17
from solarstack.sim.pi17 import Pi17Inverter

ACK = b"^1\x0b\xc2\r"  # the PDFs' acknowledgement, as bytes
NAK = b"^0\x1b\xe3\r"


def frame(kind: str, text: str) -> bytes:
    """A request written out by hand: `^`, type, three digits (text + CR), text, CR; no CRC."""
    return f"^{kind}{len(text) + 1:03d}{text}\r".encode()


def unit(**options: bool) -> Pi17Inverter:
    inverter = simulator("pi17", Pi17Inverter)
    for name, value in options.items():
        setattr(inverter, name, value)
    return inverter


# -- the wire, in process ------------------------------------------------------------------


def test_status_comes_from_the_plant() -> None:
    inverter = unit()
    gs = pi17.decode("GS", inverter.handle(b"^P003GS\r"))  # the PDFs' own request bytes
    plant = inverter.plant.snapshot()
    assert gs["battery_capacity"] == round(plant.soc)
    assert gs["battery_voltage"] == round(plant.battery_voltage, 1)
    assert gs["battery_current"] == round(plant.battery_current, 1)  # signed, + charge
    assert gs["ac_input_voltage_s"] == 0.0 and "extra_25" not in gs  # a single-phase unit
    ps = pi17.decode("PS", inverter.handle(frame("P", "PS")))
    plant = inverter.plant.snapshot()
    assert ps["ac_output_active_power"] == round(plant.load_power_w)
    assert ps["pv_input_power"] == round(plant.pv_power_w)
    assert ps["grid_power"] == round(plant.grid_power_w)
    assert "battery_power" not in ps  # empty, as on every recorded unit
    measured = pi17.decode("PS", unit(ps_battery_power=True).handle(frame("P", "PS")))
    assert isinstance(measured["battery_power"], int)
    mode = pi17.decode("MOD", inverter.handle(frame("P", "MOD")))["mode"]
    assert mode == {"line": "hybrid", "battery": "battery"}[inverter.plant.snapshot().mode]
    assert pi17.decode("PI", inverter.handle(frame("P", "PI"))) == {"protocol_id": "17"}


@pytest.mark.parametrize(
    ("request_bytes", "key", "after"),
    [  # written out from the PDFs' examples, as bytes
        (b"^S010MCHGC0600\r", "max_charging_current", 60.0),
        (b"^S011MUCHGC0250\r", "max_ac_charging_current", 25.0),
        (b"^S015MCHGV0552,0540\r", "battery_bulk_voltage", 55.2),
        (b"^S025BATDV0440,0500,0470,0520\r", "battery_weak_voltage", 47.0),
        (b"^S009BDCM0250\r", "max_hybrid_discharging_current", 250),
        (b"^S004BT1\r", "battery_type", "lifepo4"),
        (b"^S006SEP02\r", "solar_power_priority", "load_utility_battery"),
        (b"^S005EDC1\r", "feed_to_grid", True),
        (b"^S004PEA\r", "mute_buzzer", True),
        (b"^S004PDE\r", "wide_ac_input_range", False),
    ],
)
def test_documented_setter_frames_are_acknowledged_and_take_effect(
    request_bytes: bytes, key: str, after: object
) -> None:
    inverter = unit()
    assert inverter.handle(request_bytes) == ACK
    assert {**inverter.battery, **inverter.energy_control, **inverter.flags}[key] == after
    assert list(inverter.setter_log) == [(request_bytes[5:-1].decode(), True)]


@pytest.mark.parametrize(
    "text",
    [
        "MCHGV0585,0540",  # bulk above the unit's MAR limit, 58.4 V
        "MCHGV0560,0479",  # float below its 48.0 V
        "MCHGV0540,0560",  # float above bulk: the unit refuses it (our setter code does not check)
        "MCHGC1210",  # charging current above MAR's 120 A
        "MCHGC0090",  # … below its 10 A
        "BATDV0399,0460,0480,0520",  # below the PDFs' 40.0 V
        "BATDV0460,0450,0480,0520",  # a cut-off "back" voltage below its cut-off
        "BDCM0009",  # BDCM takes 10-300 A
        "BDCM0301",
        "MUCHGC3001",  # above 300 A
        "PEG",  # flags G-M are not settable (neither PDF names PEG)
        "BT2",  # two battery types only
        "SEP03",  # three solar priorities only
    ],
)
def test_values_the_unit_does_not_take_are_nakked(text: str) -> None:
    inverter = unit()
    before = (dict(inverter.battery), dict(inverter.energy_control), dict(inverter.flags))
    assert inverter.handle(frame("S", text)) == NAK
    assert (inverter.battery, inverter.energy_control, inverter.flags) == before
    assert list(inverter.setter_log)[-1:] in ([(text, False)], [])  # NAKed; an unknown text never counts


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"^P004GS\r",  # length does not fit the text
        b"^P010EY2024000\r",  # wrong decimal sum (the right one is 165)
        b"^P007EY2024\r",  # an energy query without its sum
        frame("S", "GS"),  # a query sent as a setter
        frame("P", "SEP01"),  # a setter sent as a query
        b"^P005GSX\x14\r",  # PI18's request (with its CRC): a PI17 unit answers ^0
        b"QPIGS\xb7\xa9\r",  # a PI30 request
        frame("P", "QPIGS"),  # a PI30 command in PI17 framing
    ],
)
def test_malformed_requests_are_nakked(request_bytes: bytes) -> None:
    assert unit().handle(request_bytes) == NAK


def test_energy_queries_carry_their_decimal_sum() -> None:
    inverter = unit()
    assert pi17.encode("EY2024") == b"^P010EY2024165\r"
    assert pi17.decode("EY2024", inverter.handle(b"^P010EY2024165\r")) == {"pv_energy_year": 0.0}


def test_simulator_cli_lists_the_families() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "solarstack.cli", "sim", "inverter", "--tcp", "0", "--protocol", "pi99"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "pi17" in proc.stderr and "pi16" in proc.stderr


# -- through the device class ------------------------------------------------------------


rig, tcp_rig = rig_fixtures("pi17", Pi17Device, Pi17Inverter)
Rig = SimRig[Pi17Device, Pi17Inverter]


#: A serial number whose ID reply's CRC ends in 0x0D: the frame ends `\x9a\r\r`.
CR_IN_CRC = "96161704100399"


def test_queries_identity_and_a_write_through_every_transport(rig: Rig) -> None:
    dev = rig.dev
    rig.inverter.serial = CR_IN_CRC
    assert pi17.reply_frame(pi17.format_fields("ID", {"serial_number": CR_IN_CRC})).endswith(b"\r\r")
    identity = dev.identify({})  # ID's reply holds a CR inside its CRC: read to the real end
    assert identity.serial_number == CR_IN_CRC and identity.sw_version == "00001.01"
    assert identity.model == "PI17 inverter 5000 VA"
    reading = dev.query("GS")  # and the link is in step afterwards
    assert reading.device == "inv" and 40 < reading.values["battery_voltage"] < 60  # type: ignore[operator]
    result = dev.apply("solar_power_priority", "load_utility_battery")
    assert result.ok and result.value == "load_utility_battery", result
    assert rig.inverter.energy_control["solar_power_priority"] == "load_utility_battery"
    assert list(rig.inverter.setter_log) == [("SEP02", True)]


def test_a_setter_is_not_a_query(tcp_rig: Rig) -> None:
    with pytest.raises(ConfigError, match="setting command"):
        tcp_rig.dev.query("SEP01")
    assert not tcp_rig.dev.is_query("SEP01") and tcp_rig.dev.is_query("ED20240115")
    assert not tcp_rig.dev.is_query("EDA1")  # ED + a letter is a setter, not a dated query
    assert tcp_rig.inverter.requests == 0  # nothing went to the wire


def test_the_others_in_a_shared_setter_are_the_values_in_force(tcp_rig: Rig) -> None:
    """MCHGV sets bulk and float, BATDV four voltages: each write carries the others as
    the read-back BATS says they are now, not as they were when the device was opened."""
    dev, inverter = tcp_rig.dev, tcp_rig.inverter
    assert dev.apply("battery_bulk_voltage", "57.2").ok
    assert dev.apply("battery_float_voltage", "55.1").ok
    assert dev.apply("battery_under_voltage", "43").ok
    assert dev.apply("battery_weak_back_voltage", "53.5").ok
    assert [c for c, _ in inverter.setter_log] == [
        "MCHGV0572,0540",
        "MCHGV0572,0551",
        "BATDV0430,0460,0480,0520",
        "BATDV0430,0460,0480,0535",
    ]
    assert inverter.battery["battery_bulk_voltage"] == 57.2 and inverter.battery["battery_float_voltage"] == 55.1


def test_refused_before_the_wire_and_nakked_by_the_device(tcp_rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    dev, inverter = tcp_rig.dev, tcp_rig.inverter
    dev.context()
    # the unit's own MAR narrows the charge voltages and current
    bounds = {s.key: (s.minimum, s.maximum) for s in dev.settings()}
    assert bounds["battery_float_voltage"] == (48.0, 58.4) and bounds["max_charging_current"] == (10.0, 120.0)
    with caplog.at_level(logging.DEBUG, logger="solarstack.audit"):
        for key, value in (
            ("battery_float_voltage", "59"),  # within the PDFs' 60 V, above this unit's MAR
            ("max_charging_current", "125"),
            ("battery_under_voltage", "54.05"),
            ("solar_power_priority", "sbu"),
            ("no_such_setting", "1"),
        ):
            result = dev.apply(key, value)
            assert not result.ok and result.error and "\n" not in result.error, (key, result)
        assert inverter.setters == 0  # none reached the device
        nakked = dev.apply("battery_float_voltage", "58.0")  # above the bulk in force: the unit says no
    assert not nakked.ok and nakked.error == "the inverter refused MCHGV0564,0580 (NAK)"
    assert list(inverter.setter_log) == [("MCHGV0564,0580", False)]
    words = [r.getMessage().split()[0] for r in caplog.records if r.name == "solarstack.audit"]
    assert words == ["refused"] * 5 + ["write", "nak"]


def test_flags_read_back_from_flag_and_switches_from_hecs(tcp_rig: Rig) -> None:
    dev, inverter = tcp_rig.dev, tcp_rig.inverter
    result = dev.apply("mute_buzzer", "ON")
    assert result.ok and result.value is True and result.readback and "ng_relay" in result.readback
    switched = dev.apply("feed_to_grid", "on")
    assert switched.ok and switched.value is True and inverter.energy_control["feed_to_grid"] is True
    assert [c for c, _ in inverter.setter_log] == ["PEA", "EDC1"]


def test_validator_and_unit_agree_at_every_numeric_bound(tcp_rig: Rig) -> None:
    """The fitted bounds (the PDFs', narrowed by the unit's MAR) are what the unit takes: each
    end is ACKed, one step beyond is refused before the wire. The four BATDV voltages also
    obey the unit's "back above cut-off" rule, so their ends are checked apart."""
    dev, inverter = tcp_rig.dev, tcp_rig.inverter
    dev.context()
    batdv = {"battery_under_voltage", "battery_under_back_voltage", "battery_weak_voltage", "battery_weak_back_voltage"}
    for setting in dev.settings():
        if setting.options or setting.key in batdv:
            continue
        assert setting.minimum is not None and setting.maximum is not None and setting.step
        for value in (setting.minimum, setting.maximum):
            if setting.key == "battery_float_voltage":  # float above bulk is the unit's to refuse
                assert dev.apply("battery_bulk_voltage", "58.4").ok
            if setting.key == "battery_bulk_voltage":
                assert dev.apply("battery_float_voltage", "48").ok
            result = dev.apply(setting.key, f"{value:g}")
            assert result.ok, (setting.key, value, result, list(inverter.setter_log)[-1:])
        sent = inverter.setters
        for value in (setting.minimum - setting.step, setting.maximum + setting.step):
            assert not dev.apply(setting.key, f"{value:g}").ok, (setting.key, value)
        assert inverter.setters == sent, setting.key
    assert dev.apply("battery_under_back_voltage", "60").ok and dev.apply("battery_under_voltage", "40").ok
    sent = inverter.setters
    assert not dev.apply("battery_under_voltage", "39.9").ok and not dev.apply("battery_under_back_voltage", "60.1").ok
    assert inverter.setters == sent


def test_ps_battery_power_is_measured_or_taken_from_gs(tcp_rig: Rig) -> None:
    dev, inverter = tcp_rig.dev, tcp_rig.inverter
    assert "battery_power" not in dev.query("PS").values  # empty on the wire, no GS yet: nothing to use
    gs = dev.query("GS").values
    ps = dev.query("PS").values
    assert ps["battery_power"] == round(gs["battery_current"] * gs["battery_voltage"])  # type: ignore[operator]
    inverter.ps_battery_power = True
    inverter.plant.step()
    measured = dev.query("PS").values["battery_power"]
    assert measured == round(inverter.plant.snapshot().battery_power_w)


def test_energy_counters_integrate_what_ps_measures() -> None:
    """The PI30 roles plus grid export, from PS keys only, and no derived power: PS
    reports grid and battery power itself."""
    dev = open_device(parse_device_url("pi17+tcp://127.0.0.1:1?name=inv"))
    counters = {c.key: c for c in dev.counters()}
    assert {c.role for c in counters.values()} == {
        "pv_energy",
        "load_energy",
        "battery_charge_energy",
        "battery_discharge_energy",
        "grid_import_energy",
        "grid_export_energy",
    }
    assert dev.energy_command == "PS" and all(c.power_key is None for c in counters.values())
    ps_keys = {f.key for f in pi17.table("PS")}
    for counter in counters.values():
        assert {k for t in counter.terms for k in t.factors} <= ps_keys, counter.key
    values = {"pv_input_power": 1200, "pv2_input_power": 300, "grid_power": -400, "battery_power": 250}
    assert counters["pv_energy"].power(values) == 1500.0
    assert counters["grid_import_energy"].power(values) == -400.0  # negative: not counted
    assert counters["grid_export_energy"].power(values) == 400.0
    assert counters["battery_charge_energy"].power(values) == 250.0
    assert counters["battery_discharge_energy"].power(values) == -250.0


def test_query_cli_reads_a_pi17_unit(tcp_rig: Rig) -> None:
    """`solarstack query pi17+tcp://… GS` as a user runs it (a separate process)."""
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
    assert "battery_current" in out and "ts" in out
    plain = subprocess.run(
        [sys.executable, "-m", "solarstack.cli", "query", url, "GS"], capture_output=True, text=True, timeout=30
    )
    assert plain.returncode == 0 and "Battery voltage" in plain.stdout, plain.stderr


def test_schedule_and_named_queries_are_queries_of_the_codec() -> None:
    dev = open_device(parse_device_url("pi17+tcp://127.0.0.1:1?name=inv"))
    plan = dev.schedule(10.0, 300.0)
    assert [c for c, _ in plan][:2] == ["GS", "PS"]  # GS first: PS may take its battery power
    groups = dev.named_queries()
    assert groups["get_status"] == tuple(c for c, every in plan if every == 10.0)
    assert groups["get_device_id"] == ("ID",) and groups["get_version"] == ("VFW",)
    assert all(dev.is_query(c) for group in groups.values() for c in group)
    assert set(dev.default_commands()) == {c for c, _ in plan}

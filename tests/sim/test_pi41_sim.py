"""The PI41 simulator (`solarstack sim inverter --protocol pi41`) and the PI41 device class
(devices/pi41.py) over real ptys and TCP, and detection of it.

Requests are checked byte for byte against frames written out here (PROTOCOLS.md's QPIGS
frame, the CRC rule), so a rule wrong in both the codec and the simulator does not pass
unnoticed. Through the device class: identity, both lines with the load and PV2 power
derived once, settings written and read back, refusals before the wire (the simulator's
setter log stays empty), a NAK from the device itself, faults from the control port, and
`solarstack detect` / `decode` / `encode` / `commands` / `query` as a user runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sim_rig import Rig as SimRig
from sim_rig import rig_fixtures, simulator

from solarstack.cli import main
from solarstack.core.device_url import parse_device_url
from solarstack.devices import detect
from solarstack.devices.pi41 import Pi41Device, open_device
from solarstack.protocols import pi41
from solarstack.protocols.pi30 import crc
from solarstack.sim.pi41 import Pi41Inverter
from solarstack.transports.tcp import TcpTransport

NAK = b"(NAK\x73\x73\r"
ACK = b"(ACK\x39\x20\r"


def unit() -> Pi41Inverter:
    return simulator("pi41", Pi41Inverter)


# -- the wire, in process ------------------------------------------------------------------


def test_status_comes_from_the_split_phase_plant() -> None:
    inverter = unit()
    line1 = pi41.decode("QPIGS", inverter.handle(b"QPIGS\xb7\xa9\r"))  # PROTOCOLS.md's frame
    plant = inverter.plant.snapshot()
    line2 = pi41.decode("QPIGS2", inverter.handle(pi41.encode("QPIGS2")))
    assert line1["battery_capacity"] == round(plant.soc) and line1["pv_input_power"] == round(plant.pv_power_w)
    assert line1["ac_input_frequency"] == 60.0 and line1["ac_output_voltage"] == 120.0  # 120 V a line, 60 Hz
    both = line1["ac_output_active_power"] + line2["l2_ac_output_active_power"]  # type: ignore[operator]
    assert abs(both - plant.load_power_w) <= 2  # the lines share the plant's load (wire rounding)
    assert pi41.decode("QPI", inverter.handle(b"QPI\xbe\xac\r")) == {"protocol_id": "PI41"}


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"QPIGS\xb7\xa8\r",  # CRC off by one
        b"QPIGS\r",  # PI16's request: no CRC
        b"MCHGC060" + crc.crc_bytes(b"MCHGC060") + b"\r",  # PI30's MCHGC, well framed: not PI41's
        pi41.encode("QPGS1"),  # a single unit: unit 0 only
        pi41.encode("PBCV46.5"),  # re-charge: the PDF lists whole volts
        pi41.encode("PBDV47.0"),  # re-discharge: 0 or 48-58 V
        pi41.encode("PBFT58.0"),  # float above the bulk voltage (56.4 V)
        pi41.encode("PCVT007"),  # steps of 5 min
        pi41.encode("MNCHGC0065"),  # not in the unit's QMCHGCR list
        pi41.encode("MNCHGC1060"),  # machine number 1 of a single unit
        pi41.encode("POPM00"),  # the PDF's POPM takes 01-06
        b"^P005PI\x71\x8b\r",  # PI18 framing
    ],
)
def test_malformed_unknown_and_out_of_range_requests_are_nakked(request_bytes: bytes) -> None:
    inverter = unit()
    assert inverter.handle(request_bytes) == NAK
    assert inverter.naks == 1


def test_setters_the_pdf_lists_are_acked_and_take_effect() -> None:
    inverter = unit()
    for text in ("POP01", "PBCV47.0", "PBDV00.0", "PCVV57.0", "PBFT55.0", "MNCHGC0080", "MUCHGC040", "POPM05"):
        assert inverter.handle(pi41.encode(text)) == ACK, text
    qpiri = pi41.decode("QPIRI", inverter.handle(pi41.encode("QPIRI")))
    assert (qpiri["output_source_priority"], qpiri["battery_recharge_voltage"], qpiri["output_mode"]) == (
        "solar",
        47.0,
        "parallel_120",
    )
    assert (qpiri["max_charging_current"], qpiri["max_ac_charging_current"]) == (80, 40)
    assert inverter.handle(pi41.encode("PBEQP045")) == ACK
    assert pi41.decode("QBEQI", inverter.handle(pi41.encode("QBEQI")))["equalization_period"] == 45 * 24
    assert list(inverter.setter_log)[-1] == ("PBEQP045", True)


# -- through the device class ------------------------------------------------------------


rig, tcp_rig = rig_fixtures("pi41", Pi41Device, Pi41Inverter)
Rig = SimRig[Pi41Device, Pi41Inverter]


def test_both_lines_and_identity_through_every_transport(rig: Rig) -> None:
    dev = rig.dev
    identity = dev.identify({})
    assert identity.serial_number == rig.inverter.serial and identity.sw_version == "00072.70"
    assert identity.model == "LV5048"
    line2 = dev.query("QPIGS2").values
    line1 = dev.query("QPIGS")
    v = line1.values
    # derived once, from this round's QPIGS2: both lines' load and PV2's power
    assert v["load_power"] == v["ac_output_active_power"] + line2["l2_ac_output_active_power"]  # type: ignore[operator]
    assert v["pv2_input_power"] == round(line2["pv2_input_current"] * v["battery_voltage"])  # type: ignore[operator]
    roles = {f.key: f.role for f in line1.fields}
    assert roles["load_power"] == "load_power" and roles["ac_output_active_power"] is None
    # a QPIGS without a QPIGS2 before it in the round gets no half sum
    assert "load_power" not in dev.query("QPIGS").values
    assert "load_power" in {f.key for f in dev.table("QPIGS")}


def test_settings_are_written_and_read_back(tcp_rig: Rig) -> None:
    dev = tcp_rig.dev
    for key, value, shown in [
        ("output_source_priority", "solar", "solar"),
        ("battery_bulk_voltage", "57.2", 57.2),
        ("battery_recharge_voltage", "48", 48.0),
        ("max_charging_current", "90", 90),
        ("output_mode", "parallel_120", "parallel_120"),
        ("buzzer", "OFF", False),
        ("equalization_period", "480", 480),
        ("equalization_voltage", "59.5", 59.5),
        ("max_cv_charging_time", "120", 120),
    ]:
        result = dev.apply(key, value)
        assert result.ok and result.value == shown, (key, result)
    assert [ok for _, ok in tcp_rig.inverter.setter_log] == [True] * 9
    assert {s.key: s.maximum for s in dev.settings()}["max_charging_current"] == 120  # fitted to QMCHGCR


def test_refusals_never_reach_the_wire_and_the_unit_naks_what_we_do_not_check(tcp_rig: Rig) -> None:
    dev = tcp_rig.dev
    for key, value in [
        ("battery_recharge_voltage", "46.5"),
        ("max_charging_current", "65"),
        ("output_mode", "single"),
        ("restore_defaults", "PRESS"),  # destructive: off unless enabled
        ("max_discharging_current", "30"),  # PI30's, not PI41's
    ]:
        assert not dev.apply(key, value).ok, key
    assert tcp_rig.inverter.setters == 0
    result = dev.apply("battery_float_voltage", "58.0")  # in range, but above the bulk voltage
    assert not result.ok and result.error == "the inverter refused PBFT58.0 (NAK)"
    assert list(tcp_rig.inverter.setter_log) == [("PBFT58.0", False)]


def test_energy_counters_read_keys_the_tables_give() -> None:
    dev = open_device(parse_device_url("pi41+tcp://127.0.0.1:1?name=inv"))
    assert dev.energy_command == "QPIGS"
    keys = {f.key for f in dev.table("QPIGS")}
    counters = {c.key: c for c in dev.counters()}
    for counter in counters.values():
        assert {k for t in counter.terms for k in t.factors} <= keys, counter.key
    values = {
        "pv_input_power": 400,
        "pv2_input_power": 100,
        "load_power": 700,
        "battery_charging_current": 0,
        "battery_discharge_current": 2,
        "battery_voltage": 50.0,
        "ac_input_voltage": 120.0,
    }
    assert counters["pv_energy"].power(values) == 500.0
    assert counters["load_energy"].power(values) == 700.0
    assert counters["grid_import_energy"].power(values) == 100.0  # 700 - 500 - 100 from the battery
    with pytest.raises(Exception, match="units"):
        open_device(parse_device_url("pi41+tcp://127.0.0.1:1?units=2"))


def test_schedule_and_named_queries_are_queries_of_the_codec() -> None:
    dev = open_device(parse_device_url("pi41+tcp://127.0.0.1:1?name=inv"))
    plan = dev.schedule(10.0, 300.0)
    groups = dev.named_queries()
    assert (
        groups["get_status"] == tuple(c for c, every in plan if every == 10.0) == ("QPIGS2", "QPIGS", "QMOD", "QPIWS")
    )
    assert groups["get_settings"] == ("QPIRI", "QFLAG") and groups["get_device_id"] == ("QID",)
    assert all(dev.is_query(c) for group in groups.values() for c in group)


# -- detection ---------------------------------------------------------------------------


def test_detect_names_pi41_with_the_pi30_probe_only(tcp_rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    link = f"tcp://127.0.0.1:{tcp_rig.port}"
    assert main(["detect", link, "--timeout", "0.5"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "probe pi30 QPI"
    assert "verdict: pi41 (answered the pi30 probe QPI with protocol id 'PI41')" in out
    assert tcp_rig.inverter.requests == 1 and tcp_rig.inverter.setters == 0  # one read-only frame


def test_verify_and_auto_resolve_a_pi41_unit(tcp_rig: Rig, tmp_path: Path) -> None:
    link = TcpTransport("127.0.0.1", tcp_rig.port)
    try:
        assert detect.verify(link, "pi41", timeout=0.5)  # the PI30 probe, answered with PI41
        assert not detect.verify(link, "pi30", timeout=0.5)
        assert tcp_rig.inverter.requests == 2
    finally:
        link.close()
    url = detect.transport_url(f"tcp://127.0.0.1:{tcp_rig.port}?timeout=0.5")
    assert detect.resolve(url, tmp_path).protocol == "pi41"
    assert detect.cached(tmp_path, url) == "pi41"
    device = detect.open_device(url, state_dir=tmp_path)
    try:
        assert device.protocol == "pi41" and "battery_capacity" in device.query("QPIGS").values  # type: ignore[attr-defined]
    finally:
        device.close()


# -- the CLI, as a user runs it --------------------------------------------------------------


def test_query_cli_reads_a_pi41_unit(tcp_rig: Rig) -> None:
    """`solarstack query pi41+tcp://… get_status --json` in a separate process."""
    url = tcp_rig.url.split("?")[0]
    proc = subprocess.run(
        [sys.executable, "-m", "solarstack.cli", "query", url, "get_status", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert 40 < out["battery_voltage"] < 60 and out["mode"] in ("line", "battery")
    assert out["load_power"] == out["ac_output_active_power"] + out["l2_ac_output_active_power"]


def test_decode_encode_and_commands_cli(capsys: pytest.CaptureFixture[str]) -> None:
    frame = (
        "28 31 31 20 39 32 39 31 31 39 30 36 31 30 30 30 34 35 20 4c 20 30 30 20 31 32 34 2e 32 20 35 39 2e 39 38"
        " 20 31 32 34 2e 32 20 35 39 2e 39 38 20 30 31 34 39 20 30 31 33 30 20 30 30 35 20 35 36 2e 31 20 30 30 30"
        " 20 31 30 30 20 30 30 30 2e 30 20 30 30 20 30 31 30 30 30 30 31 30 a9 a8 0d"
    )  # the recorded QP2GS0 (jblance/mpp-solar#11)
    assert main(["decode", "--protocol", "pi41", "--command", "QP2GS0", "--hex", frame, "--json"]) == 0
    decoded = json.loads(capsys.readouterr().out)
    assert decoded["l2_ac_output_active_power"] == 130 and decoded["l2_serial_number"] == "92911906100045"
    assert main(["encode", "--protocol", "pi41", "MNCHGC0060"]) == 0
    assert capsys.readouterr().out.strip() == "4D 4E 43 48 47 43 30 30 36 30 8B AC 0D"
    assert main(["commands", "--protocol", "pi41"]) == 0
    listing = capsys.readouterr().out
    assert "QP2GS0" in listing and "QPIGS2" in listing and "equalization_voltage" in listing

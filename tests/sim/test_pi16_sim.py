"""The PI16 simulator (`solarstack sim inverter --protocol pi16`) and the PI16 device class
(devices/pi16.py) over real ptys and TCP.

Requests are written out byte for byte (the SUNNY notes' `QED20150620106`: the decimal sum
after the date), so a rule wrong in both the codec and the simulator does not pass
unnoticed. Through the device class: identity, polling with the signed grid power the
device derives, every write refused before the wire, and faults from the control port.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sim_rig import Rig as SimRig
from sim_rig import rig_fixtures, simulator

from solarstack.core.device_url import parse_device_url
from solarstack.devices.pi16 import Pi16Device, open_device
from solarstack.protocols import pi16
from solarstack.sim.pi16 import Pi16Inverter

NAK = b"(NAK\x73\x73\r"  # PI30's (NAK with its CRC, as bytes


def unit() -> Pi16Inverter:
    return simulator("pi16", Pi16Inverter)


# -- the wire, in process ------------------------------------------------------------------


def test_status_comes_from_the_plant() -> None:
    inverter = unit()
    reply = inverter.handle(b"QPIGS\r")
    assert reply.startswith(b"(") and pi16.frame_end(reply) == len(reply)
    qpigs = pi16.decode("QPIGS", reply)
    plant = inverter.plant.snapshot()
    assert qpigs["battery_capacity"] == round(plant.soc)
    assert qpigs["battery_voltage"] == round(plant.battery_voltage, 1)
    assert qpigs["ac_output_active_power"] == round(plant.load_power_w)
    assert qpigs["pv_input_power"] == round(plant.pv_power_w)
    assert qpigs["grid_output_power"] == round(plant.grid_power_w)
    assert qpigs["line_power_direction"] == ("input" if plant.grid_power_w >= 0.5 else "output")
    assert "pv3_input_power" not in qpigs and "battery_voltage_negative" not in qpigs  # `-----`: not fitted
    assert pi16.decode("QPI", inverter.handle(b"QPI\r")) == {"protocol_id": "PI16"}
    mode = pi16.decode("QMOD", inverter.handle(b"QMOD\r"))["mode"]
    assert mode == {"line": "line", "battery": "battery"}[inverter.plant.snapshot().mode]


def test_energy_queries_carry_their_decimal_sum() -> None:
    assert pi16.encode("QED20150620") == b"QED20150620106\r"  # the notes' example
    inverter = unit()
    assert pi16.decode("QED20150620", inverter.handle(b"QED20150620106\r")) == {"pv_energy_day": 0.0}


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"QED20150620107\r",  # wrong decimal sum
        b"QED20150620\r",  # an energy query without its sum
        b"QPIGS\xb7\xa9\r",  # PI30's request, with a CRC: PI16 requests carry none
        b"POP02\r",  # a PI30 setter: PI16 takes none here
        b"QBOGUS\r",  # unknown
        b"^P003GS\r",  # PI17 framing
    ],
)
def test_malformed_and_unknown_requests_are_nakked(request_bytes: bytes) -> None:
    inverter = unit()
    assert inverter.handle(request_bytes) == NAK
    assert inverter.naks == 1


# -- through the device class ------------------------------------------------------------


rig, tcp_rig = rig_fixtures("pi16", Pi16Device, Pi16Inverter)
Rig = SimRig[Pi16Device, Pi16Inverter]


def test_queries_and_identity_through_every_transport(rig: Rig) -> None:
    dev = rig.dev
    identity = dev.identify({})
    assert identity.serial_number == rig.inverter.serial and identity.sw_version == "00000.27"
    assert identity.model == "PI16 inverter"
    reading = dev.query("QPIGS")
    assert reading.device == "inv" and 40 < reading.values["battery_voltage"] < 60  # type: ignore[operator]
    # the signed grid power, derived once from the magnitude and the line direction
    sign = 1 if reading.values["line_power_direction"] == "input" else -1
    assert reading.values["grid_power"] == sign * reading.values["grid_output_power"]  # type: ignore[operator]
    assert [f.role for f in reading.fields if f.key == "grid_power"] == ["grid_power"]
    assert "grid_power" in {f.key for f in dev.table("QPIGS")}


def test_every_write_is_refused_before_the_wire(tcp_rig: Rig) -> None:
    dev = tcp_rig.dev
    assert dev.settings() == ()
    result = dev.apply("output_source_priority", "sbu")
    assert (
        not result.ok
        and result.error == "PI16 inverters take no settings here (got output_source_priority); queries only"
    )
    assert tcp_rig.inverter.requests == 0  # not even the ratings were asked


def test_energy_counters_integrate_the_signed_grid_power() -> None:
    from solarstack.protocols.pi16.energy import grid_power_from

    dev = open_device(parse_device_url("pi16+tcp://127.0.0.1:1?name=inv"))
    counters = {c.key: c for c in dev.counters()}
    assert dev.energy_command == "QPIGS"
    assert {c.role for c in counters.values()} == {
        "pv_energy",
        "load_energy",
        "grid_import_energy",
        "grid_export_energy",
    }
    keys = {f.key for f in dev.table("QPIGS")}
    for counter in counters.values():
        assert {k for t in counter.terms for k in t.factors} <= keys, counter.key
    # the recorded unit feeding 24 W (tests/protocols/test_pi16_decode.py QPIGS_PV)
    feeding = {"grid_output_power": 24, "line_power_direction": "output", "pv_input_power": 163, "pv2_input_power": 24}
    feeding["grid_power"] = grid_power_from(feeding)
    assert feeding["grid_power"] == -24
    assert counters["grid_export_energy"].power(feeding) == 24.0
    assert counters["pv_energy"].power(feeding) == 187.0
    assert grid_power_from({"grid_output_power": 300, "line_power_direction": "input"}) == 300
    assert grid_power_from({"grid_output_power": 300, "line_power_direction": "input_and_output"}) is None


def test_query_cli_reads_a_pi16_unit(tcp_rig: Rig) -> None:
    """`solarstack query pi16+tcp://… QPIGS` as a user runs it (a separate process)."""
    url = tcp_rig.url.split("?")[0]
    proc = subprocess.run(
        [sys.executable, "-m", "solarstack.cli", "query", url, "QPIGS", "QMOD", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert 40 < out["battery_voltage"] < 60 and out["mode"] in ("line", "battery")
    assert isinstance(out["grid_power"], int) and "ts" in out


def test_schedule_and_named_queries_are_queries_of_the_codec() -> None:
    dev = open_device(parse_device_url("pi16+tcp://127.0.0.1:1?name=inv"))
    plan = dev.schedule(10.0, 300.0)
    groups = dev.named_queries()
    assert groups["get_status"] == tuple(c for c, every in plan if every == 10.0) == ("QPIGS", "QMOD", "QPIWS")
    assert groups["get_settings"] == ("QPIRI",) and groups["get_device_id"] == ("QID",)
    assert all(dev.is_query(c) for group in groups.values() for c in group)
    assert set(dev.default_commands()) == {c for c, _ in plan}

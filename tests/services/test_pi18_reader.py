"""A PI18 inverter end to end: `solarstack sim inverter --protocol pi18` over real TCP, the
real `solarstack run inverter` process with INVERTER_DEVICES=pi18+tcp://…, a real Mosquitto.

The reader names no protocol: everything PI18 here — what is polled, the catalogue, Home
Assistant's entities, the settings and their read-back — comes from the device class
through the registry row, as a new family should (devices/pi18.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reader_support import (
    Broker,
    Recorder,
    Sim,
    WaitFor,
    last_state,
    sim_state,
    start_reader,
    tcp_sim,
)

from solarstack.core import catalog
from solarstack.protocols import pi18


@pytest.fixture
def pi18_sim(wait_for: WaitFor) -> Iterator[Sim]:
    """The simulator in PI18 mode on a free TCP port (`Sim.pty` holds its tcp:// address)."""
    yield from tcp_sim(wait_for, "--protocol", "pi18")


def _reader(broker: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor, **extra: str) -> Any:
    return start_reader(broker, sim, tmp_path, wait_for, INVERTER_DEVICES=f"pi18+{sim.pty}?name=inv1", **extra)


def test_catalogue_state_and_discovery(mosquitto: Broker, pi18_sim: Sim, tmp_path: Path, wait_for: WaitFor) -> None:
    rec = Recorder(mosquitto).start()
    reader = _reader(mosquitto, pi18_sim, tmp_path, wait_for)
    try:
        wait_for(lambda: rec.last("solarstack/inv1/availability") == b"online", 10, what="online")
        cat = catalog.parse(wait_for(lambda: rec.last("solarstack/inv1/catalog"), 10, what="the catalogue"))
        assert (cat.kind, cat.device["protocol"], cat.device["manufacturer"]) == ("inverter", "pi18", "Voltronic Power")
        assert cat.device["serial_number"] == "96342208106521"  # asked once at start (ID)
        assert cat.device["model"] == "PI18 inverter 5000 VA" and cat.device["sw_version"] == "05220"
        assert {"GS", "MOD", "FWS", "PIRI", "FLAG", "ET", "MCHGCR"} <= set(cat.queries)
        assert not {q for q in cat.queries if not pi18.is_query(q)}  # queries only, no setter
        assert set(cat.settings) == {s.key for s in pi18.SETTINGS}
        assert cat.settings["output_source_priority"].options == ("solar_utility_battery", "solar_battery_utility")
        # bounds fitted to this unit's own lists (MCHGCR / MUCHGCR), as for PI30
        assert (
            cat.settings["max_utility_charging_current"].minimum,
            cat.settings["max_utility_charging_current"].maximum,
        ) == (2, 60)
        assert [f.key for f in cat.by_role("pv_power")] == ["pv_input_power", "pv2_input_power"]
        (grid,) = cat.by_role("grid_power")  # derived by the reader from the GS balance
        assert grid.key == "grid_power"
        assert cat.fields["pv_energy"].metric == "solarstack_pv_energy_joules_total"

        # state: GS, MOD, FWS, PIRI, FLAG values and the energy counters, in one JSON
        want = ("pv2_input_power", "mode", "fault_code", "output_source_priority", "buzzer", "pv_energy")
        state = wait_for(lambda: (s := last_state(rec)) and all(k in s for k in want) and s, 15, what="full state")
        assert state["ts"].endswith("Z")
        assert 40 < state["battery_voltage"] < 60
        assert abs(state["battery_capacity"] - float(sim_state(pi18_sim)["soc"])) <= 1
        assert state["mode"] in {"hybrid", "battery"} and state["output_source_priority"] == "solar_battery_utility"
        assert state["buzzer"] is True and state["fault_code"] == "00" and state["line_fail"] is False
        assert state["battery_type"] == "user" and state["extra_25"] == "00"  # PIRI's unnamed 26th field kept
        for key in ("pv_energy", "load_energy", "battery_charge_energy", "battery_discharge_energy"):
            assert state[key] >= 0, key
        # the derived powers come from the same GS reading, by the PI30 rules
        volts = state["battery_voltage"]
        battery = state["battery_charging_current"] * volts - state["battery_discharge_current"] * volts
        assert state["battery_power"] == pytest.approx(battery, abs=1)
        assert state["grid_power"] >= 0

        config = json.loads(wait_for(lambda: rec.last("homeassistant/device/inv1/config"), 10))
        cmps = config["cmps"]
        assert config["dev"]["ids"] == ["solarstack_inv1"] and config["dev"]["mdl"] == "PI18 inverter 5000 VA"
        assert cmps["pv2_input_power"]["uniq_id"] == "solarstack_inv1_pv2_input_power"
        assert cmps["battery_voltage"]["dev_cla"] == "voltage" and cmps["battery_voltage"]["unit_of_meas"] == "V"
        assert cmps["load_energy"]["stat_cla"] == "total_increasing"
        sel = cmps["set_output_source_priority"]
        assert sel["p"] == "select" and sel["cmd_t"] == "solarstack/inv1/set/output_source_priority"
        assert sel["ops"] == ["solar_utility_battery", "solar_battery_utility"]
        assert cmps["set_battery_float_voltage"]["p"] == "number"
    finally:
        out = reader.output()
        rec.stop()
    assert reader.proc.returncode == 0, out
    assert rec.last("solarstack/inv1/availability") == b"offline"


def test_settings_through_mqtt_read_back_and_nak(
    mosquitto: Broker, pi18_sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    reader = _reader(mosquitto, pi18_sim, tmp_path, wait_for)
    topic = "solarstack/inv1"

    def result(setting: str, count: int = 1) -> dict[str, Any]:
        found = wait_for(lambda: len(rec.on(f"{topic}/set/{setting}/result")) >= count, 10, what=setting)
        assert found
        return dict(json.loads(rec.on(f"{topic}/set/{setting}/result")[count - 1]))

    try:
        wait_for(lambda: last_state(rec).get("output_source_priority") == "solar_battery_utility", 15)
        # accepted, written as POP0 and read back from PIRI
        rec.publish(f"{topic}/set/output_source_priority", "solar_utility_battery")
        assert result("output_source_priority") == {"ok": True, "value": "solar_utility_battery", "error": None}
        # the unit itself now reports it: a fresh PIRI through the query topic
        rec.publish(f"{topic}/query", "PIRI")
        answer = json.loads(wait_for(lambda: rec.last(f"{topic}/query/result"), 10))
        assert answer["ok"] and answer["fields"]["output_source_priority"] == "solar_utility_battery"

        # a number, written with its partner in force (MCHGV<bulk>,<float>) and read back
        rec.publish(f"{topic}/set/battery_float_voltage", "53.5")
        assert result("battery_float_voltage") == {"ok": True, "value": 53.5, "error": None}
        assert sim_state(pi18_sim)["naks"] == "0"

        # within our range, but above the bulk voltage: the unit NAKs it (a device rule)
        rec.publish(f"{topic}/set/battery_float_voltage", "58.0")
        nakked = result("battery_float_voltage", 2)
        assert nakked["ok"] is False and nakked["error"] == "the inverter refused MCHGV564,580 (NAK)"
        assert sim_state(pi18_sim)["naks"] == "1"  # it reached the device and was refused there

        # out of range: refused before the wire (the unit's NAK count does not move)
        rec.publish(f"{topic}/set/battery_float_voltage", "70")
        refused = result("battery_float_voltage", 3)
        assert refused["ok"] is False and "out of range" in refused["error"]
        # a setter is not a query: the query topic refuses it
        rec.publish(f"{topic}/query", "POP1")
        wait_for(lambda: len(rec.on(f"{topic}/query/result")) == 2, 10)
        assert json.loads(rec.on(f"{topic}/query/result")[-1])["ok"] is False
        assert sim_state(pi18_sim)["naks"] == "1"
    finally:
        out = reader.output()
        rec.stop()
    assert "write inv1.output_source_priority='solar_utility_battery' as POP0" in out  # audit log
    assert "write inv1.battery_float_voltage='53.5' as MCHGV564,535" in out
    assert "nak inv1.battery_float_voltage='58.0'" in out
    assert "refused inv1.battery_float_voltage='70'" in out

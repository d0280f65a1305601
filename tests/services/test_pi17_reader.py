"""A PI17 inverter end to end: `solarstack sim inverter --protocol pi17` over real TCP, the
real `solarstack run inverter` process with INVERTER_DEVICES=pi17+tcp://…, a real Mosquitto.

The reader names no protocol: everything PI17 here — what is polled, the catalogue, Home
Assistant's entities, the settings and their read-back, counters fed by the powers the unit
measures — comes from the device class through the registry row (devices/pi17.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import pairwise
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
from solarstack.protocols import pi17


@pytest.fixture
def pi17_sim(wait_for: WaitFor) -> Iterator[Sim]:
    """The simulator in PI17 mode on a free TCP port (`Sim.pty` holds its tcp:// address)."""
    yield from tcp_sim(wait_for, "--protocol", "pi17")


def _reader(broker: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor) -> Any:
    return start_reader(broker, sim, tmp_path, wait_for, INVERTER_DEVICES=f"pi17+{sim.pty}?name=inv1")


def test_catalogue_state_and_discovery(mosquitto: Broker, pi17_sim: Sim, tmp_path: Path, wait_for: WaitFor) -> None:
    rec = Recorder(mosquitto).start()
    reader = _reader(mosquitto, pi17_sim, tmp_path, wait_for)
    try:
        wait_for(lambda: rec.last("solarstack/inv1/availability") == b"online", 10, what="online")
        cat = catalog.parse(wait_for(lambda: rec.last("solarstack/inv1/catalog"), 10, what="the catalogue"))
        assert (cat.kind, cat.device["protocol"], cat.device["manufacturer"]) == ("inverter", "pi17", "Voltronic Power")
        assert cat.device["serial_number"] == "96161704100242"  # asked once at start (ID)
        assert cat.device["model"] == "PI17 inverter 5000 VA" and cat.device["sw_version"] == "00001.01"
        assert {"GS", "PS", "MOD", "WS", "PIRI", "FLAG", "BATS", "HECS", "MAR", "ET"} <= set(cat.queries)
        assert not {q for q in cat.queries if not pi17.is_query(q)}  # queries only, no setter
        assert set(cat.settings) == {s.key for s in pi17.SETTINGS}
        # bounds narrowed to this unit's own MAR
        charge = cat.settings["max_charging_current"]
        assert (charge.minimum, charge.maximum) == (10.0, 120.0)
        assert cat.settings["solar_power_priority"].options == tuple(pi17.SETTING_MAP["solar_power_priority"].options)
        # measured by the unit (PS), not derived: one row each, from the codec's table
        assert [f.key for f in cat.by_role("grid_power")] == ["grid_power"]
        assert [f.key for f in cat.by_role("battery_power")] == ["battery_power"]
        assert [f.key for f in cat.by_role("pv_power")] == ["pv_input_power", "pv2_input_power"]
        assert cat.fields["grid_export_energy"].metric == "solarstack_grid_export_energy_joules_total"

        # state: GS, PS, MOD, WS and the slow BATS, HECS, FLAG, PIRI in one JSON, with counters
        want = ("battery_current", "grid_power", "mode", "pv_loss", "battery_float_voltage", "feed_to_grid")
        want += ("mute_buzzer", "rated_battery_voltage", "pv_energy", "battery_charge_energy")
        state = wait_for(lambda: (s := last_state(rec)) and all(k in s for k in want) and s, 15, what="full state")
        assert state["ts"].endswith("Z")
        assert 40 < state["battery_voltage"] < 60
        assert abs(state["battery_capacity"] - float(sim_state(pi17_sim)["soc"])) <= 1
        assert state["mode"] in {"hybrid", "battery"} and state["solar_power_priority"] == "load_battery_utility"
        assert state["battery_float_voltage"] == 54.0 and state["wide_ac_input_range"] is True
        assert state["grid_power"] >= 0 and state["ac_input_voltage_s"] == 0.0
        # PS leaves battery power empty (as recorded units do): the device took that of the GS
        # polled just before it, so each state published on a new PS agrees with its GS values
        states = [json.loads(p) for p in rec.on("solarstack/inv1/state")]
        after_ps = [s for prev, s in pairwise(states) if s.get("battery_power") != prev.get("battery_power")]
        assert after_ps
        for s in after_ps:
            assert s["battery_power"] == round(s["battery_current"] * s["battery_voltage"]), s
        for key in ("pv_energy", "load_energy", "battery_charge_energy", "grid_import_energy", "grid_export_energy"):
            assert state[key] >= 0, key

        config = json.loads(wait_for(lambda: rec.last("homeassistant/device/inv1/config"), 10))
        cmps = config["cmps"]
        assert config["dev"]["ids"] == ["solarstack_inv1"] and config["dev"]["mdl"] == "PI17 inverter 5000 VA"
        assert cmps["grid_power"]["uniq_id"] == "solarstack_inv1_grid_power"
        assert cmps["grid_power"]["dev_cla"] == "power" and cmps["grid_power"]["unit_of_meas"] == "W"
        assert cmps["grid_export_energy"]["stat_cla"] == "total_increasing"
        sel = cmps["set_solar_power_priority"]
        assert sel["p"] == "select" and sel["cmd_t"] == "solarstack/inv1/set/solar_power_priority"
        assert cmps["set_battery_float_voltage"]["p"] == "number"
        assert cmps["set_battery_float_voltage"]["max"] == 58.4  # MAR's charge voltage limit
        assert cmps["set_feed_to_grid"]["ops"] == ["ON", "OFF"]
    finally:
        out = reader.output()
        rec.stop()
    assert reader.proc.returncode == 0, out
    assert rec.last("solarstack/inv1/availability") == b"offline"


def test_settings_through_mqtt_read_back_and_nak(
    mosquitto: Broker, pi17_sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    reader = _reader(mosquitto, pi17_sim, tmp_path, wait_for)
    topic = "solarstack/inv1"

    def result(setting: str, count: int = 1) -> dict[str, Any]:
        found = wait_for(lambda: len(rec.on(f"{topic}/set/{setting}/result")) >= count, 10, what=setting)
        assert found
        return dict(json.loads(rec.on(f"{topic}/set/{setting}/result")[count - 1]))

    try:
        wait_for(lambda: last_state(rec).get("battery_float_voltage") == 54.0, 15)
        # a number, written with its partner in force (MCHGV<bulk>,<float>) and read back from BATS
        rec.publish(f"{topic}/set/battery_float_voltage", "53.5")
        assert result("battery_float_voltage") == {"ok": True, "value": 53.5, "error": None}
        # the unit itself now reports it: a fresh BATS through the query topic
        rec.publish(f"{topic}/query", "BATS")
        answer = json.loads(wait_for(lambda: rec.last(f"{topic}/query/result"), 10))
        assert answer["ok"] and answer["fields"]["battery_float_voltage"] == 53.5
        assert answer["fields"]["battery_bulk_voltage"] == 56.4
        assert sim_state(pi17_sim)["naks"] == "0"

        # within the unit's MAR range, but above the bulk voltage: the unit NAKs it
        rec.publish(f"{topic}/set/battery_float_voltage", "58.0")
        nakked = result("battery_float_voltage", 2)
        assert nakked["ok"] is False and nakked["error"] == "the inverter refused MCHGV0564,0580 (NAK)"
        assert sim_state(pi17_sim)["naks"] == "1"  # it reached the device and was refused there

        # above MAR's 58.4 V (though within the PDFs' 60 V): refused before the wire
        rec.publish(f"{topic}/set/battery_float_voltage", "59")
        refused = result("battery_float_voltage", 3)
        assert refused["ok"] is False and "out of range" in refused["error"]
        # a setter is not a query: the query topic refuses it
        rec.publish(f"{topic}/query", "SEP01")
        wait_for(lambda: len(rec.on(f"{topic}/query/result")) == 2, 10)
        assert json.loads(rec.on(f"{topic}/query/result")[-1])["ok"] is False
        assert sim_state(pi17_sim)["naks"] == "1"
    finally:
        out = reader.output()
        rec.stop()
    assert "write inv1.battery_float_voltage='53.5' as MCHGV0564,0535" in out  # audit log
    assert "nak inv1.battery_float_voltage='58.0'" in out
    assert "refused inv1.battery_float_voltage='59'" in out

"""A PI16 inverter end to end: `solarstack sim inverter --protocol pi16` over real TCP, the
real `solarstack run inverter` process with INVERTER_DEVICES=pi16+tcp://…, a real Mosquitto.

The reader names no protocol: what is polled, the catalogue, Home Assistant's entities, the
signed grid power and the counters come from the device class through the registry row
(devices/pi16.py). PI16 takes no settings: a write is refused with one line, never sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

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
from solarstack.protocols import pi16


@pytest.fixture
def pi16_sim(wait_for: WaitFor) -> Iterator[Sim]:
    """The simulator in PI16 mode on a free TCP port (`Sim.pty` holds its tcp:// address)."""
    yield from tcp_sim(wait_for, "--protocol", "pi16")


def test_catalogue_state_discovery_and_no_settings(
    mosquitto: Broker, pi16_sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    reader = start_reader(mosquitto, pi16_sim, tmp_path, wait_for, INVERTER_DEVICES=f"pi16+{pi16_sim.pty}?name=inv1")
    topic = "solarstack/inv1"
    try:
        wait_for(lambda: rec.last(f"{topic}/availability") == b"online", 10, what="online")
        cat = catalog.parse(wait_for(lambda: rec.last(f"{topic}/catalog"), 10, what="the catalogue"))
        assert (cat.kind, cat.device["protocol"], cat.device["manufacturer"]) == ("inverter", "pi16", "Voltronic Power")
        assert cat.device["serial_number"] == "96131801100057" and cat.device["sw_version"] == "00000.27"
        assert cat.device["model"] == "PI16 inverter"
        assert {"QPIGS", "QMOD", "QPIWS", "QPIRI", "QPI", "QID"} <= set(cat.queries)
        assert not {q for q in cat.queries if not pi16.is_query(q)}
        assert cat.settings == {}
        # the signed grid power the device derives is the site's grid power; PV adds up two strings
        assert [f.key for f in cat.by_role("grid_power")] == ["grid_power"]
        assert {f.key for f in cat.by_role("pv_power")} == {"pv_input_power", "pv2_input_power", "pv3_input_power"}
        assert (
            not cat.by_role("battery_power") and "battery_charge_energy" not in cat.fields
        )  # PI16 does not measure it

        want = ("grid_power", "line_power_direction", "mode", "battery_low", "rated_battery_voltage", "pv_energy")
        state = wait_for(lambda: (s := last_state(rec)) and all(k in s for k in want) and s, 15, what="full state")
        assert state["ts"].endswith("Z") and 40 < state["battery_voltage"] < 60
        assert state["mode"] in {"line", "battery"} and state["battery_low"] is False
        sign = 1 if state["line_power_direction"] == "input" else -1
        assert state["grid_power"] == sign * state["grid_output_power"]
        assert "pv3_input_power" not in state  # `-----` on the wire: not fitted, not published
        for key in ("pv_energy", "load_energy", "grid_import_energy", "grid_export_energy"):
            assert state[key] >= 0, key

        config = json.loads(wait_for(lambda: rec.last("homeassistant/device/inv1/config"), 10))
        cmps = config["cmps"]
        assert config["dev"]["mdl"] == "PI16 inverter"
        assert cmps["grid_power"]["uniq_id"] == "solarstack_inv1_grid_power"
        assert cmps["grid_power"]["dev_cla"] == "power"
        assert cmps["grid_export_energy"]["stat_cla"] == "total_increasing"
        assert not [k for k in cmps if k.startswith("set_")]

        # a write is refused by the reader with one line; nothing reaches the unit
        rec.publish(f"{topic}/set/output_source_priority", "sbu")
        result = json.loads(wait_for(lambda: rec.last(f"{topic}/set/output_source_priority/result"), 10))
        assert result["ok"] is False and "\n" not in result["error"]
        rec.publish(f"{topic}/query", "QPIRI")
        answer = json.loads(wait_for(lambda: rec.last(f"{topic}/query/result"), 10))
        assert answer["ok"] and answer["fields"]["rated_battery_voltage"] == 48.0
        # the unit NAKs any setter text: none arrived
        assert sim_state(pi16_sim)["naks"] == "0" and int(sim_state(pi16_sim)["requests"]) > 0
    finally:
        out = reader.output()
        rec.stop()
    assert reader.proc.returncode == 0, out
    assert "refused inv1.output_source_priority='sbu': PI16 inverters take no settings here" in out  # audit log
    assert rec.last(f"{topic}/availability") == b"offline"

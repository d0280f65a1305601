"""A PI41 (LV5048 class) inverter end to end: `solarstack sim inverter --protocol pi41` over
real TCP, the real `solarstack run inverter` process with INVERTER_DEVICES=pi41+tcp://…, a
real Mosquitto.

The reader names no protocol: the split-phase unit's two lines, the load of both lines and
PV2's power derived by the device class, the counters, Home Assistant's entities and the
setting write with its read-back all come through the registry row (devices/pi41.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from reader_support import Broker, Recorder, Sim, WaitFor, last_state, sim_state, start_reader, tcp_sim

from solarstack.core import catalog
from solarstack.protocols import pi41


@pytest.fixture
def pi41_sim(wait_for: WaitFor) -> Iterator[Sim]:
    """The simulator in PI41 mode on a free TCP port (`Sim.pty` holds its tcp:// address)."""
    yield from tcp_sim(wait_for, "--protocol", "pi41")


def test_both_lines_counters_discovery_and_a_setting(
    mosquitto: Broker, pi41_sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    reader = start_reader(mosquitto, pi41_sim, tmp_path, wait_for, INVERTER_DEVICES=f"pi41+{pi41_sim.pty}?name=inv1")
    topic = "solarstack/inv1"
    try:
        wait_for(lambda: rec.last(f"{topic}/availability") == b"online", 10, what="online")
        cat = catalog.parse(wait_for(lambda: rec.last(f"{topic}/catalog"), 10, what="the catalogue"))
        assert (cat.kind, cat.device["protocol"], cat.device["model"]) == ("inverter", "pi41", "LV5048")
        assert {"QPIGS", "QPIGS2", "QPIRI", "QBEQI", "QPI"} <= set(cat.queries)
        assert not {q for q in cat.queries if not pi41.is_query(q)}
        # one load figure for the site (both lines), PV from both MPPTs
        assert [f.key for f in cat.by_role("load_power")] == ["load_power"]
        assert {f.key for f in cat.by_role("pv_power")} == {"pv_input_power", "pv2_input_power"}
        assert {"output_source_priority", "equalization_period", "max_cv_charging_time"} <= set(cat.settings)
        assert "restore_defaults" not in cat.settings  # destructive: off unless enabled

        want = ("load_power", "l2_ac_output_active_power", "load_energy", "rated_battery_voltage")
        state = wait_for(lambda: (s := last_state(rec)) and all(k in s for k in want) and s, 15, what="full state")
        assert state["rated_ac_output_voltage"] == 120.0 and 40 < state["battery_voltage"] < 60
        for key in ("pv_energy", "load_energy", "battery_charge_energy", "battery_discharge_energy"):
            assert state[key] >= 0, key

        config = json.loads(wait_for(lambda: rec.last("homeassistant/device/inv1/config"), 10))
        cmps = config["cmps"]
        assert cmps["load_power"]["dev_cla"] == "power"
        assert cmps["set_equalization_period"]["unit_of_meas"] == "h"

        rec.publish(f"{topic}/set/output_source_priority", "solar")
        result = json.loads(wait_for(lambda: rec.last(f"{topic}/set/output_source_priority/result"), 10))
        assert result["ok"] is True and result["value"] == "solar", result
        rec.publish(f"{topic}/query", "QP2GS0")
        answer = json.loads(wait_for(lambda: rec.last(f"{topic}/query/result"), 10))
        assert answer["ok"] and answer["fields"]["l2_serial_number"] == "92911906100045"
        assert sim_state(pi41_sim)["naks"] == "0"
    finally:
        out = reader.output()
        rec.stop()
    assert reader.proc.returncode == 0, out
    assert "done inv1.output_source_priority='solar'" in out  # audit log

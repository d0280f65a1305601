"""A user's filters, names and multipliers, end to end: real simulators (TCP and pty), the
real `solarstack run inverter|bms` processes, a real Mosquitto and /metrics.

The inverter is shaped by URL options (a parallel system of two units at noon, unit 2
excluded); the battery by the YAML file (SOLARSTACK_CONFIG). In both, state, catalogue,
discovery and metrics must agree: excluded fields absent everywhere, a W field published in
kW with its new title, metrics still in watts (value x 1000 back), the excluded unit nowhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from shaping_support import metrics_text, sample, simulator, spawn, stop

from support import MqttRecorder, free_port


def _reader_env(broker: Any, tmp_path: Path, metrics_port: int) -> dict[str, str]:
    return {
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.port),
        "STATE_DIR": str(tmp_path / "state"),
        "METRICS_PORT": str(metrics_port),
        "METRICS_HOST": "127.0.0.1",
    }


def _component(discovery: dict[str, Any], key: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = discovery["cmps"].get(key)
    return found


def test_inverter_url_options_shape_state_catalogue_discovery_and_metrics(
    mosquitto: Any, tmp_path: Path, wait_for: Any
) -> None:
    rec = MqttRecorder(mosquitto)
    wait_for(rec.subscribed.is_set, what="recorder subscribed")
    port = free_port()
    options = "&".join(
        [
            "name=inv1",
            "units=2",
            "title=Main inverter",
            "exclude=ac_output_voltage;bus_voltage",
            "rename=pv_input_power:PV power",
            "scale=pv_input_power:0.001:kW;ac_output_active_power:0.001:kW",
            "exclude_devices=inv1_unit2",
            "device_titles=inv1_unit1:Left unit",
        ]
    )
    with simulator("inverter", "--tcp", "0", "--units", "2", "--start", "2026-06-01T12:00:00", "--seed", "7") as sim:
        env = _reader_env(mosquitto, tmp_path, port) | {
            "INVERTER_DEVICES": f"pi30+{sim}?{options}",
            # one round, then quiet for the test: state and /metrics come from the same readings
            "INVERTER_POLL_SECONDS": "60",
            "INVERTER_SLOW_POLL_SECONDS": "300",
            "INVERTER_TIMEOUT": "1",
        }
        reader = spawn(["run", "inverter"], env)
        try:
            state = wait_for(
                lambda: (s := rec.json("solarstack/inv1/state")) and "pv_power" in s and "pv_input_power" in s and s,
                20,
                what="the system's state with its totals",
            )
            unit = wait_for(lambda: rec.json("solarstack/inv1_unit1/state"), 10, what="unit 1 state")
            text = wait_for(
                lambda: (t := metrics_text(port)) and sample(t, "solarstack_pv_input_power_watts", device="inv1") and t,
                10,
                what="metrics",
                ignore=(OSError,),
            )
            catalog = rec.json("solarstack/inv1/catalog")
            discovery = rec.json("homeassistant/device/inv1/config")
            unit_catalog = rec.json("solarstack/inv1_unit1/catalog")
        finally:
            stop(reader)
    # state: excluded keys absent, the multiplier applied (kW, a W reading of a few hundred to thousands)
    assert "ac_output_voltage" not in state and "bus_voltage" not in state
    assert 0 < state["pv_input_power"] < 10, state["pv_input_power"]
    assert "ac_output_voltage" not in unit and 0 <= unit["ac_output_active_power"] < 10
    # catalogue: the same table
    fields = {f["key"]: f for f in catalog["fields"]}
    assert "ac_output_voltage" not in fields and "bus_voltage" not in fields
    pv = fields["pv_input_power"]
    assert (pv["unit"], pv["title"], pv["metric"], pv["metric_scale"]) == (
        "kW",
        "PV power",
        "solarstack_pv_input_power_watts",
        1000.0,
    )
    assert catalog["device"]["name"] == "Main inverter"
    assert catalog["device"]["units"] == ["inv1_unit1"]
    assert unit_catalog["device"]["name"] == "Left unit"
    # discovery: HA gets kW and the friendly name; no entity for an excluded field
    pv_entity = _component(discovery, "pv_input_power")
    assert pv_entity is not None and (pv_entity["unit_of_meas"], pv_entity["name"]) == ("kW", "PV power")
    assert _component(discovery, "ac_output_voltage") is None
    assert discovery["dev"]["name"] == "Main inverter"
    # metrics: base units, the value back in watts; excluded field and unit absent
    assert sample(text, "solarstack_pv_input_power_watts", device="inv1") == pytest.approx(
        state["pv_input_power"] * 1000, abs=0.01
    )
    assert sample(text, "solarstack_ac_output_voltage_volts", device="inv1") is None
    assert 'device="inv1_unit1"' in text and 'device="inv1_unit2"' not in text
    # the excluded unit: never on any topic, retained or not
    assert not [t for t in rec.topics() if "inv1_unit2" in t], sorted({t for t in rec.topics() if "unit2" in t})
    rec.close()


def test_bms_shaped_from_the_yaml_file(mosquitto: Any, tmp_path: Path, wait_for: Any) -> None:
    rec = MqttRecorder(mosquitto)
    wait_for(rec.subscribed.is_set, what="recorder subscribed")
    port = free_port()
    with simulator("bms", "--protocol", "jkserial", "--pty") as pty:
        config = tmp_path / "solarstack.yaml"
        config.write_text(
            f"""\
mqtt:
  host: {mosquitto.host}
  port: {mosquitto.port}
state_dir: {tmp_path / "state"}
metrics:
  port: {port}
  host: 127.0.0.1
bms:
  devices:
    - url: jkserial+serial://{pty}
      name: pack1
      title: Shed battery
      exclude: [temperature_mos, alarm_low_capacity]
      rename: {{power: Battery power}}
      scale:
        power: 0.001 kW
        cell_voltages: {{factor: 1000, unit: mV}}
      options: {{poll: 30}}
"""
        )
        reader = spawn(["run", "bms"], {"SOLARSTACK_CONFIG": str(config)})
        try:
            state = wait_for(lambda: rec.json("solarstack/pack1/state"), 20, what="pack1 state")
            text = wait_for(
                lambda: (
                    (t := metrics_text(port)) and sample(t, "solarstack_power_watts", device="pack1") is not None and t
                ),
                10,
                what="metrics",
                ignore=(OSError,),
            )
            catalog = wait_for(lambda: rec.json("solarstack/pack1/catalog"), 5, what="catalogue")
            # a pack's per-cell sensors are announced once its first reading says how many cells it
            # has: right after that reading's state, so the discovery seen with the state may not have them yet
            discovery = wait_for(
                lambda: (d := rec.json("homeassistant/device/pack1/config")) and "cell_voltages_01" in d["cmps"] and d,
                5,
                what="discovery with the per-cell sensors",
            )
        finally:
            stop(reader)
    assert "temperature_mos" not in state and "alarm_low_capacity" not in state
    assert -10 < state["power"] < 10 and state["power"] != 0  # kW now (the sim draws a few hundred W)
    assert all(3000 < v < 3700 for v in state["cell_voltages"]), state["cell_voltages"]  # mV
    fields = {f["key"]: f for f in catalog["fields"]}
    assert (fields["power"]["unit"], fields["power"]["title"]) == ("kW", "Battery power")
    assert fields["cell_voltages"]["unit"] == "mV"
    assert "temperature_mos" not in fields and "alarm_low_capacity" not in fields
    assert catalog["device"]["name"] == "Shed battery"
    assert discovery["cmps"]["power"]["unit_of_meas"] == "kW"
    assert discovery["cmps"]["cell_voltages_01"]["unit_of_meas"] == "mV"
    assert "temperature_mos" not in discovery["cmps"] and "alarm_low_capacity" not in discovery["cmps"]
    assert sample(text, "solarstack_power_watts", device="pack1") == pytest.approx(state["power"] * 1000, abs=0.01)
    cell = sample(text, "solarstack_cell_voltages_volts", device="pack1", cell="01")
    assert cell == pytest.approx(state["cell_voltages"][0] / 1000, abs=1e-6)
    assert sample(text, "solarstack_temperature_mos_celsius", device="pack1") is None
    rec.close()

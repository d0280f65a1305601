"""A real, headless Home Assistant ingests our discovery from a real Mosquitto, shows the
entities' states, and sends commands back on our `set/` topics: 2024.1.6 fed per-entity
discovery, 2025.4.4 fed the device-based message.

HA runs from its cached venv (see conftest.py) with a minimal config bound to loopback,
is onboarded over HTTP and gets the MQTT integration through the config-flow API. The
service side is the real MqttClient.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ha_venv import ha_python

from solarstack.core.discovery import DeviceInfo, build_discovery, with_removals
from solarstack.core.fields import Field, Kind, Setting
from solarstack.core.mqtt import MqttClient
from solarstack.core.settings import CommonSettings
from solarstack.protocols.pi30.energy import PI30_COUNTERS
from solarstack.soak.homeassistant import HomeAssistant

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DEVICE = DeviceInfo("inverter1", "Inverter 1", "Voltronic", "Axpert", "0.1")
# a unit of a parallel system: read over the system's link, so the system's last will is its own
UNIT = DeviceInfo("inverter1_unit1", "Inverter 1 Unit 1", "Voltronic", "Axpert", "0.1", via_device="inverter1")
FIELDS = (
    Field("battery_voltage", 0, Kind.FLOAT, "V"),
    Field("device_mode", 1, Kind.ENUM, options={"L": "Line", "B": "Battery"}),
    Field("load_on", 2, Kind.BOOL, bit=0),
    Field("cell_voltage", 3, Kind.ARRAY, "V"),
    *PI30_COUNTERS[0].fields(),
)
SETTINGS = (
    Setting("output_source_priority", "Output source priority", options=("utility", "solar", "sbu"), readback="osp"),
    Setting("bulk_voltage", "Bulk voltage", minimum=48.0, maximum=58.4, step=0.1, unit="V", readback="bv"),
)
STATE = {
    "ts": "2026-06-01T10:00:00Z",
    "battery_voltage": 52.31,
    "device_mode": "Battery",
    "load_on": True,
    "cell_voltage": [3.301, 3.305],
    "pv_energy": 1234.5,
    "pv_energy_today": 3.25,
    "osp": "sbu",
    "bv": 56.4,
}

# 2024.1 reads per-entity discovery only; 2025.4 reads the device-based message.
MODES = {"2024.1": "entity", "2025.4": "device"}


@pytest.fixture(params=sorted(MODES))
def home_assistant(request: pytest.FixtureRequest, tmp_path: Path, wait_for: Any) -> Iterator[HomeAssistant]:
    ha = HomeAssistant(ha_python(request.param), tmp_path / "ha", wait_for)
    ha.mode = MODES[request.param]
    try:
        yield ha
    finally:
        ha.stop()


def test_home_assistant_shows_our_entities_and_commands_them(home_assistant, mosquitto, wait_for):
    ha = home_assistant
    ha.add_mqtt(mosquitto.host, mosquitto.port)
    messages = build_discovery(
        ha.mode,
        "solarstack",
        "homeassistant",
        DEVICE,
        FIELDS,
        SETTINGS,
        origin_version="0.1.0",
        array_sizes={"cell_voltage": 2},
    )
    service = MqttClient(
        CommonSettings(mqtt_host=mosquitto.host, mqtt_port=mosquitto.port),
        "inverter1",
        will_topic="solarstack/inverter1/availability",
    )
    commands: list[tuple[str, bytes]] = []
    service.subscribe("solarstack/inverter1/set/+", lambda t, p: commands.append((t, p)))
    service.start()
    try:
        assert service.wait_connected(5)
        for topic, payload in messages:
            service.publish(topic, payload, retain=True)
        service.publish("solarstack/inverter1/state", json.dumps(STATE), retain=True)
        unit = build_discovery(ha.mode, "solarstack", "homeassistant", UNIT, FIELDS[:1], origin_version="0.1.0")
        for topic, payload in unit:
            service.publish(topic, payload, retain=True)
        unit_state = json.dumps({"ts": STATE["ts"], "battery_voltage": 52.2})
        service.publish("solarstack/inverter1_unit1/state", unit_state, retain=True)
        service.publish("solarstack/inverter1_unit1/availability", "online", retain=True)

        # Both lines name entities "<device name> <entity name>"; HA 2025.10+ takes def_ent_id.
        def state_is(entity_id: str, value: str) -> bool:
            s = ha.state(entity_id)
            return s is not None and s["state"] == value

        wait_for(lambda: state_is("sensor.inverter_1_battery_voltage", "52.31"), timeout=20, what="battery voltage")
        wait_for(
            lambda: state_is("sensor.inverter_1_unit_1_battery_voltage", "52.2"), timeout=10, what="unit's voltage"
        )
        bv = ha.state("sensor.inverter_1_battery_voltage")
        assert bv is not None
        assert bv["attributes"]["unit_of_measurement"] == "V"
        assert bv["attributes"]["device_class"] == "voltage"
        assert bv["attributes"]["state_class"] == "measurement"
        expected = {
            "sensor.inverter_1_device_mode": "Battery",
            "binary_sensor.inverter_1_load_on": "on",
            "sensor.inverter_1_cell_voltage_1": "3.301",
            "sensor.inverter_1_cell_voltage_2": "3.305",
            "sensor.inverter_1_pv_energy": "1234.5",
            "sensor.inverter_1_pv_energy_today": "3.25",
            "select.inverter_1_output_source_priority": "sbu",
            "number.inverter_1_bulk_voltage": "56.4",
        }
        for entity_id, value in expected.items():
            wait_for(lambda e=entity_id, v=value: state_is(e, v), timeout=10, what=f"{entity_id} == {value}")
        energy = ha.state("sensor.inverter_1_pv_energy")
        assert energy is not None
        assert (energy["attributes"]["state_class"], energy["attributes"]["unit_of_measurement"]) == (
            "total_increasing",
            "kWh",
        )

        # HA -> our set/ topics
        ha.api(
            "POST",
            "/api/services/select/select_option",
            {"entity_id": "select.inverter_1_output_source_priority", "option": "utility"},
        )
        ha.api("POST", "/api/services/number/set_value", {"entity_id": "number.inverter_1_bulk_voltage", "value": 55.2})
        wait_for(lambda: len(commands) == 2, what="two commands")
        assert sorted(commands) == [
            ("solarstack/inverter1/set/bulk_voltage", b"55.2"),
            ("solarstack/inverter1/set/output_source_priority", b"utility"),
        ]

        # a removed entity disappears (an empty entity message, or a platform-only component)
        fewer = build_discovery(
            ha.mode,
            "solarstack",
            "homeassistant",
            DEVICE,
            tuple(f for f in FIELDS if f.key != "pv_energy_today"),
            SETTINGS,
            origin_version="0.1.0",
            array_sizes={"cell_voltage": 2},
        )
        for topic, payload in with_removals(messages, fewer):
            service.publish(topic, payload, retain=True)
        wait_for(lambda: ha.state("sensor.inverter_1_pv_energy_today") is None, timeout=10, what="entity removed")
    finally:
        service.stop()  # publishes `offline` on the availability topic
    wait_for(
        lambda: state_is("sensor.inverter_1_battery_voltage", "unavailable"), timeout=10, what="availability offline"
    )
    # the unit's own topic still says `online` (retained); the system's last will takes it down too
    wait_for(
        lambda: state_is("sensor.inverter_1_unit_1_battery_voltage", "unavailable"),
        timeout=10,
        what="the unit unavailable with its system",
    )

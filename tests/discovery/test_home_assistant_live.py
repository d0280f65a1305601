"""A real, headless Home Assistant ingests our discovery from a real Mosquitto, shows the
entities' states, and sends commands back on our `set/` topics: 2024.1.6 fed per-entity
discovery, 2025.4.4 fed the device-based message.

HA runs from its cached venv (see conftest.py) with a minimal config bound to loopback,
is onboarded over HTTP and gets the MQTT integration through the config-flow API. The
service side is the real MqttClient.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from ha_venv import ha_python

from solarstack.core.discovery import DeviceInfo, build_discovery, with_removals
from solarstack.core.fields import Field, Kind, Setting
from solarstack.core.mqtt import MqttClient
from solarstack.core.settings import CommonSettings
from solarstack.protocols.pi30.energy import PI30_COUNTERS
from support import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DEVICE = DeviceInfo("inverter1", "Inverter 1", "Voltronic", "Axpert", "0.1")
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

CONFIG = """\
homeassistant:
  name: solarstack-test
  latitude: 52.5
  longitude: 13.4
  elevation: 30
  unit_system: metric
  time_zone: UTC
  currency: EUR
  country: DE
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
onboarding:
logger:
  default: warning
"""


class HomeAssistant:
    """A running `hass` on loopback, onboarded; `api()` calls its REST API with a token."""

    def __init__(self, python: Path, config_dir: Path, wait_for: Any) -> None:
        self.mode = "entity"  # the discovery mode this HA is fed
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "configuration.yaml").write_text(CONFIG.format(port=self.port))
        self.log = config_dir / "hass.log"
        hass = python.parent / "hass"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([str(hass), "-c", str(config_dir), "--skip-pip"], stdout=log, stderr=log)
        self.session = requests.Session()
        wait_for(self._up, timeout=60, interval=0.2, what=f"Home Assistant HTTP (log: {self.log})")
        self._onboard()

    def _up(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()[-3000:]
        try:
            return self.session.get(f"{self.base}/api/onboarding", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def _onboard(self) -> None:
        client_id = f"{self.base}/"
        user = {"client_id": client_id, "name": "t", "username": "t", "password": "test-pass-1", "language": "en"}
        code = self.session.post(f"{self.base}/api/onboarding/users", json=user, timeout=10).json()["auth_code"]
        token = self.session.post(
            f"{self.base}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": client_id},
            timeout=10,
        ).json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"
        # Not core_config: that step adds integrations which go to the internet.
        self.api("POST", "/api/onboarding/analytics")
        redirect = {"client_id": client_id, "redirect_uri": f"{self.base}/?auth_callback=1"}
        self.api("POST", "/api/onboarding/integration", redirect)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        r = self.session.request(method, f"{self.base}{path}", json=body, timeout=10)
        r.raise_for_status()
        return r.json() if r.content else None

    def add_mqtt(self, host: str, port: int) -> None:
        flow = self.api("POST", "/api/config/config_entries/flow", {"handler": "mqtt"})
        assert flow["step_id"] == "broker", flow
        done = self.api("POST", f"/api/config/config_entries/flow/{flow['flow_id']}", {"broker": host, "port": port})
        assert done["type"] == "create_entry", done

    def state(self, entity_id: str) -> dict[str, Any] | None:
        r = self.session.get(f"{self.base}/api/states/{entity_id}", timeout=5)
        return r.json() if r.status_code == 200 else None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


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

        # Both lines name entities "<device name> <entity name>"; HA 2025.10+ takes def_ent_id.
        def state_is(entity_id: str, value: str) -> bool:
            s = ha.state(entity_id)
            return s is not None and s["state"] == value

        wait_for(lambda: state_is("sensor.inverter_1_battery_voltage", "52.31"), timeout=20, what="battery voltage")
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

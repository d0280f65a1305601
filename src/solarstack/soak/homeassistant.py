"""Soak harness: a real, headless Home Assistant, driven from outside like every other process.

`HomeAssistant` runs `hass` from an HA venv (tests/discovery/install_ha.sh builds them) on
loopback with a minimal config, onboards it over HTTP, adds the MQTT integration through the
config-flow API and reads states over REST and the entity registry over the websocket API.
`restart()` stops and starts the same config directory: what a user's HA restart is (its
registry and MQTT entry kept on disk). `energy_issues()` is what HA's Energy dashboard checks:
every energy sensor's statistics (`recorder/validate_statistics`) and the dashboard's own
validation (`energy/validate`) with each one as a consumer.

The soak attaches one with `--ha` (statistics validated after the faulted day); the discovery
tests use it for restarts. It imports no service code.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import websocket

from solarstack.dev import free_port


def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    """`check()`'s first truthy result, polled until `timeout` (TimeoutError naming `what`)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


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

    def __init__(
        self, python: Path, config_dir: Path, wait_for: Callable[..., Any] = wait_for, *, extra_config: str = ""
    ) -> None:
        """`extra_config`: more of configuration.yaml (`recorder:` for statistics)."""
        self.mode = "entity"  # the discovery mode this HA is fed
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "configuration.yaml").write_text(CONFIG.format(port=self.port) + extra_config)
        self.config_dir = config_dir
        self.log = config_dir / "hass.log"
        self.hass = python.parent / "hass"
        self.wait_for = wait_for
        self.session = requests.Session()
        self._start()
        self._onboard()

    def _start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.hass), "-c", str(self.config_dir), "--skip-pip"], stdout=log, stderr=log
            )
        self.wait_for(self._up, timeout=60, interval=0.2, what=f"Home Assistant HTTP (log: {self.log})")

    def restart(self) -> None:
        """Stop HA and start it again on the same config dir (registry, MQTT entry and token kept)."""
        self.stop()
        self._start()
        self.wait_for(self._api_up, timeout=60, interval=0.2, what="Home Assistant API after a restart")

    def _api_up(self) -> bool:
        try:
            return self.session.get(f"{self.base}/api/", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

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
        # That access token expires after 30 minutes (a soak's HA is asked after 48): a
        # long-lived one, as a user makes on their profile page, for the rest of the run.
        lasting = self.ws({"type": "auth/long_lived_access_token", "client_name": "solarstack", "lifespan": 30})
        self.session.headers["Authorization"] = f"Bearer {lasting}"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        r = self.session.request(method, f"{self.base}{path}", json=body, timeout=10)
        r.raise_for_status()
        return r.json() if r.content else None

    def add_mqtt(self, host: str, port: int, username: str | None = None, password: str | None = None) -> None:
        flow = self.api("POST", "/api/config/config_entries/flow", {"handler": "mqtt"})
        assert flow["step_id"] == "broker", flow
        broker: dict[str, Any] = {"broker": host, "port": port}
        if username is not None:
            broker |= {"username": username, "password": password}
        done = self.api("POST", f"/api/config/config_entries/flow/{flow['flow_id']}", broker)
        assert done["type"] == "create_entry", done

    def ws(self, message: dict[str, Any]) -> Any:
        """One websocket API command's result (the registry is not on the REST API)."""
        token = self.session.headers["Authorization"].removeprefix("Bearer ")
        conn = websocket.create_connection(f"ws://127.0.0.1:{self.port}/api/websocket", timeout=10)
        try:
            assert json.loads(conn.recv())["type"] == "auth_required"
            conn.send(json.dumps({"type": "auth", "access_token": token}))
            assert json.loads(conn.recv())["type"] == "auth_ok"
            conn.send(json.dumps({"id": 1, **message}))
            reply = json.loads(conn.recv())
        finally:
            conn.close()
        assert reply.get("success"), reply
        return reply["result"]

    def mqtt_entities(self) -> dict[str, str]:
        """unique_id -> entity_id of every MQTT entity in HA's entity registry."""
        entries = self.ws({"type": "config/entity_registry/list"})
        return {e["unique_id"]: e["entity_id"] for e in entries if e.get("platform") == "mqtt"}

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

    def energy_sensors(self) -> list[str]:
        """Every MQTT sensor HA's Energy dashboard accepts: device class energy, state class
        total or total_increasing."""
        mqtt = set(self.mqtt_entities().values())
        return sorted(
            s["entity_id"]
            for s in self.api("GET", "/api/states")
            if s["entity_id"] in mqtt
            and s["attributes"].get("device_class") == "energy"
            and s["attributes"].get("state_class") in ("total", "total_increasing")
        )

    def energy_issues(self, sensors: list[str]) -> dict[str, list[str]]:
        """entity_id -> the issues HA finds with it as an Energy dashboard source ({}: none):
        the recorder's statistics validation, and the dashboard's own with every sensor added
        as a device's consumption (units, state class, negative or unavailable states,
        statistics not recorded)."""
        found: dict[str, list[str]] = {}
        for entity, issues in self.ws({"type": "recorder/validate_statistics"}).items():
            if entity in sensors and issues:
                found.setdefault(entity, []).extend(f"statistics: {i['type']}" for i in issues)
        consumers = [{"stat_consumption": e} for e in sensors]
        self.ws({"type": "energy/save_prefs", "energy_sources": [], "device_consumption": consumers})
        checked = self.ws({"type": "energy/validate"})
        for entity, issues in zip(sensors, checked["device_consumption"], strict=True):
            if issues:
                found.setdefault(entity, []).extend(f"energy: {i['type']}" for i in issues)
        return found

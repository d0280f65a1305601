"""Profile `ha`: services/homeassistant/seed_mqtt.py pre-configures Home Assistant's MQTT
integration, and a real Home Assistant (2024.1 line, from the discovery tests' cached venv)
started on that config connects to the SHIPPED broker as user `homeassistant` and sends its
birth message, which the readers (allowed to read homeassistant/status) receive."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
from compose_model import SECRETS

from support import MqttRecorder, free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "services" / "homeassistant" / "seed_mqtt.py"
CONFIG = """\
homeassistant:
  name: solarstack-ha-profile
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
logger:
  default: warning
"""


def _ha_python() -> Path:
    spec = importlib.util.spec_from_file_location("ha_venv", ROOT / "tests" / "discovery" / "ha_venv.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Path(module.ha_python("2024.1"))


def _seed(python: Path, config: Path, broker_port: int, password: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "MQTT_PASSWORD_HOMEASSISTANT": password}
    result = subprocess.run(
        [str(python), str(SEED), str(config), "127.0.0.1", str(broker_port)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_seed_refuses_without_password(tmp_path: Path) -> None:
    result = subprocess.run(
        ["python3", str(SEED), str(tmp_path), "mosquitto", "1883"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "MQTT_PASSWORD_HOMEASSISTANT" in result.stderr
    assert not (tmp_path / ".storage").exists()


def test_home_assistant_uses_the_broker_out_of_the_box(shipped_broker, tmp_path: Path) -> None:
    python = _ha_python()
    config = tmp_path / "config"
    config.mkdir()
    (config / "configuration.yaml").write_text(CONFIG.format(port=free_port()))
    password = shipped_broker.passwords["homeassistant"]
    assert "added" in _seed(python, config, shipped_broker.port, password)
    # A second start keeps the user's entry: nothing is added or changed.
    before = (config / ".storage" / "core.config_entries").read_text()
    assert "already configured" in _seed(python, config, shipped_broker.port, "another")
    assert (config / ".storage" / "core.config_entries").read_text() == before

    reader = MqttRecorder(
        shipped_broker, "homeassistant/status", username="inverter", password=shipped_broker.passwords["inverter"]
    )
    log = (tmp_path / "hass.log").open("wb")
    hass = subprocess.Popen([str(python.parent / "hass"), "-c", str(config), "--skip-pip"], stdout=log, stderr=log)
    try:

        def born() -> bool:
            assert hass.poll() is None, (tmp_path / "hass.log").read_text()[-3000:]
            return b"online" in reader.payloads()

        wait_for(born, 180, 0.2, what="Home Assistant's birth message (log: hass.log)")
        entries = json.loads((config / ".storage" / "core.config_entries").read_text())["data"]["entries"]
        assert [e["domain"] for e in entries].count("mqtt") == 1
    finally:
        hass.terminate()
        try:
            hass.wait(30)
        except subprocess.TimeoutExpired:
            hass.kill()
            hass.wait(10)
        log.close()
        reader.close()


def test_compose_runs_the_seed_before_home_assistant(compose_v2: Path, tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("".join(f"{name}=x\n" for name in SECRETS) + "MQTT_PASSWORD_HOMEASSISTANT=pw-ha\n")
    cmd = [str(compose_v2), "--project-directory", str(ROOT), "--env-file", str(env), "--profile", "ha"]
    result = subprocess.run([*cmd, "config", "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    ha = json.loads(result.stdout)["services"]["homeassistant"]
    mounts = {v["target"]: v["source"] for v in ha["volumes"]}
    assert mounts["/seed/seed_mqtt.py"] == str(SEED)
    script = ha["entrypoint"][-1]
    assert script.startswith("python3 /seed/seed_mqtt.py /config mosquitto 1883 && exec ")
    assert ha["environment"]["MQTT_PASSWORD_HOMEASSISTANT"] == "pw-ha"
    assert ha["depends_on"]["mosquitto"]["condition"] == "service_healthy"

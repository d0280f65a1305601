"""`solarstack run weather` as a process against the simulator over HTTP and a real Mosquitto:
state, catalogue and discovery (a forecast is a few sensors with attributes, not 48 entities;
`expire_after` on what HA shows); then each error the simulator can give leaves the last good
state published, marked stale, logs one line per failed fetch, and never crashes the reader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
import requests
from weather_support import WeatherSim, start_sim

from support import MqttRecorder, free_port, wait_for

INTERVAL = 1.0


@pytest.fixture
def sim() -> Iterator[WeatherSim]:
    s = start_sim("--hang", "2")
    yield s
    s.stop()


@pytest.fixture
def reader(mosquitto: Any, sim: WeatherSim, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    metrics = free_port()
    env = {
        **os.environ,
        "MQTT_HOST": mosquitto.host,
        "MQTT_PORT": str(mosquitto.port),
        "STATE_DIR": str(tmp_path / "state"),
        "METRICS_PORT": str(metrics),
        "METRICS_HOST": "127.0.0.1",
        "WEATHER_DEVICES": f"openmeteo+{sim.url}?name=weather",
        "WEATHER_LATITUDE": "45",
        "WEATHER_LONGITUDE": "0",
        "WEATHER_TIMEZONE": "GMT",
        "WEATHER_PV_ARRAYS": "east:2.2:30:90:14,west:2.2:30:270:14",
        "WEATHER_INTERVAL_SECONDS": str(INTERVAL),
        "WEATHER_TIMEOUT": "1",
        "WEATHER_RETRIES": "1",
        "LOG_LEVEL": "INFO",
    }
    log = tmp_path / "reader.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "solarstack.cli", "run", "weather"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    proc.log = log  # type: ignore[attr-defined]

    def ready() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            return requests.get(f"http://127.0.0.1:{metrics}/ready", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_for(ready, 15, what="weather reader /ready")
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def state(rec: MqttRecorder) -> dict[str, Any]:
    raw = rec.last("solarstack/weather/state")
    return json.loads(raw) if raw else {}


def test_state_catalogue_and_discovery(mosquitto: Any, reader: subprocess.Popen[str]) -> None:
    rec = MqttRecorder(mosquitto)
    try:
        now = wait_for(lambda: state(rec).get("condition") and state(rec), 10, what="weather state")
        assert now["stale"] is False and len(now["pv_forecast_power"]) == 48
        assert now["pv_forecast_today"] > 0 and len(now["pv_forecast_correction"]) == 24

        cat = json.loads(wait_for(lambda: rec.last("solarstack/weather/catalog"), 5))
        assert cat["device"]["kind"] == "weather" and cat["device"]["protocol"] == "openmeteo"
        fields = {f["key"]: f for f in cat["fields"]}
        assert fields["hourly_temperature"]["kind"] == "array" and fields["hourly_temperature"]["group"] == "forecast"
        assert fields["pressure_msl"]["unit"] == "hPa" and fields["temperature"]["group"] == "weather"

        disc = json.loads(wait_for(lambda: rec.last("homeassistant/device/weather/config"), 5))
        cmps = disc["cmps"]
        assert not [k for k in cmps if k.endswith("_01")], "a series became one entity per hour"
        assert len(cmps) < 30, sorted(cmps)
        forecast = cmps["pv_forecast_today"]
        assert forecast["unit_of_meas"] == "kWh" and forecast["json_attr_t"] == "solarstack/weather/state"
        # a forecast is no meter: no state class, so HA keeps no sum of it and its Energy
        # dashboard does not offer it (a measured kWh total would have one)
        assert forecast["dev_cla"] == "energy" and "stat_cla" not in forecast
        assert fields["pv_forecast_today"]["state_class"] is None
        assert forecast["exp_aft"] == int(3 * INTERVAL + 60) and cmps["temperature"]["exp_aft"] == forecast["exp_aft"]
        # HA renders the attributes template against the state: the series arrive as lists
        attrs = json.loads(jinja2.Environment().from_string(forecast["json_attr_tpl"]).render(value_json=now))
        assert len(attrs["pv_forecast_power"]) == 48 and len(attrs["tilted_irradiance_west"]) == 48
        weather_attrs = json.loads(
            jinja2.Environment().from_string(cmps["condition"]["json_attr_tpl"]).render(value_json=now)
        )
        assert set(weather_attrs) >= {"hourly_temperature", "hourly_cloud_cover", "forecast_start"}
    finally:
        rec.close()


@pytest.mark.parametrize("fault", ["400", "429", "500", "timeout", "malformed"])
def test_errors_leave_the_last_good_state_marked_stale(
    mosquitto: Any, sim: WeatherSim, reader: subprocess.Popen[str], fault: str
) -> None:
    rec = MqttRecorder(mosquitto)
    try:
        good = wait_for(lambda: state(rec).get("condition") and state(rec), 10, what="weather state")
        assert sim.control(f"fault {fault} always") == "ok"
        stale = wait_for(lambda: state(rec).get("stale") is True and state(rec), 10, what="stale state")
        # the last good values stay: nothing was cleared, nothing invented
        assert stale["condition"] and len(stale["pv_forecast_power"]) == 48
        assert stale["ts"] >= good["ts"]
        # a quick failure gets its retry; a timeout takes the whole 1 s slot, so its retry is left to the next
        logged = f"failed after {1 if fault == 'timeout' else 2} attempt(s)"
        wait_for(lambda: logged in output(reader), 10, what="the failure logged")
        assert reader.poll() is None
        assert sim.control("clear") == "ok"
        fresh = wait_for(lambda: state(rec).get("stale") is False and state(rec), 15, what="fresh state again")
        assert fresh["ts"] > stale["ts"]
    finally:
        rec.close()
    reader.send_signal(signal.SIGTERM)
    assert reader.wait(10) == 0
    out = output(reader)
    assert "Traceback" not in out, out
    failures = [line for line in out.splitlines() if "weather forecast failed" in line]
    assert failures and all(len(line) < 400 for line in failures), out


def output(proc: subprocess.Popen[str]) -> str:
    """What the reader has logged so far."""
    return str(proc.log.read_text())  # type: ignore[attr-defined]

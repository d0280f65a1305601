"""The weather reader through a broker with the ACL the shipped entrypoint generates
(mosquitto/entrypoint.sh): it publishes its own device's topics, may read — only read — every
device's catalogue and state, and so finds the inverter's `pv_energy_today` by its role and
learns from it; the evening's learning is written to STATE_DIR."""

from __future__ import annotations

import getpass
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from weather_support import start_sim

from solarstack.core import catalog
from solarstack.core.fields import Field
from solarstack.dev import mosquitto_config
from support import MqttRecorder, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO = "/usr/sbin/mosquitto"
PASSWORDS = {u: f"pw-{u}" for u in ("inverter", "bms", "house", "weather", "web", "homeassistant")}
DEVICES = {
    "INVERTER_DEVICES": "pi30+tcp://sim:8899?name=inverter",
    "BMS_DEVICES": "jkserial+tcp://sim:8898?name=bms",
    "HOUSE_DEVICES": "bme280+i2c://1/0x76?name=house",
}


def test_weather_reads_the_site_through_the_shipped_acl(tmp_path: Path) -> None:
    sim = start_sim()
    url = f"openmeteo+{sim.url}?name=weather&latitude=45&longitude=0&timezone=GMT&arrays=south:4:30:180"
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    shipped = (ROOT / "mosquitto" / "mosquitto.conf").read_text()
    conf.write_text(mosquitto_config(shipped, port=port, host="127.0.0.1", auth_dir=tmp_path, user=getpass.getuser()))
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "MOSQUITTO_CONF": str(conf),
        "MOSQUITTO_ACL_TEMPLATE": str(ROOT / "mosquitto" / "acl.template"),
        **{f"MQTT_PASSWORD_{u.upper()}": p for u, p in PASSWORDS.items()},
        **DEVICES,
        "WEATHER_DEVICES": url,
    }
    with (tmp_path / "broker.log").open("wb") as log:
        broker = subprocess.Popen(
            ["sh", str(ROOT / "mosquitto" / "entrypoint.sh"), MOSQUITTO, "-c", str(conf)],
            env=env,
            stdout=log,
            stderr=log,
        )
    acl = wait_for(lambda: (tmp_path / "acl").exists() and (tmp_path / "acl").read_text(), 5)
    weather_block = acl.split("\nuser weather\n", 1)[1].split("\n\n", 1)[0]
    assert "topic read solarstack/+/catalog" in weather_block and "topic read solarstack/+/state" in weather_block
    assert "topic readwrite solarstack/weather/#" in weather_block
    site_wide = [line for line in weather_block.splitlines() if line.endswith(("/+/catalog", "/+/state"))]
    assert site_wide and all(line.startswith("topic read ") for line in site_wide), site_wide  # never write

    class Endpoint:
        host = "127.0.0.1"

    Endpoint.port = port  # type: ignore[attr-defined]
    wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=0.2).close() or True, 5, ignore=(OSError,))
    inverter = MqttRecorder(Endpoint, "solarstack/inverter/#", username="inverter", password=PASSWORDS["inverter"])
    watcher = MqttRecorder(Endpoint, "#", username="homeassistant", password=PASSWORDS["homeassistant"])
    fields = [Field("pv_energy_today", unit="kWh", state_class="total_increasing", role="pv_energy_today")]
    wait_for(lambda: inverter.client.is_connected(), 5, what="inverter user connected")
    inverter.publish(
        "solarstack/inverter/catalog",
        catalog.build({"id": "inverter", "name": "Inverter", "kind": "inverter"}, fields),
        retain=True,
    )

    reader_log = tmp_path / "reader.log"
    reader_env = {
        **os.environ,
        "MQTT_HOST": "127.0.0.1",
        "MQTT_PORT": str(port),
        "MQTT_USERNAME": "weather",
        "MQTT_PASSWORD": PASSWORDS["weather"],
        "STATE_DIR": str(tmp_path / "state"),
        "METRICS_PORT": "0",
        "WEATHER_DEVICES": url,
        "WEATHER_INTERVAL_SECONDS": "2",
        "WEATHER_LEARN_HOUR": "0",  # the evening is now: the day is judged at once
    }
    with reader_log.open("w") as out:
        reader = subprocess.Popen(
            [sys.executable, "-m", "solarstack.cli", "run", "weather"],
            env=reader_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "PV forecast learns from inverter.pv_energy_today" in reader_log.read_text(), 15)
        ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        inverter.publish("solarstack/inverter/state", json.dumps({"ts": ts, "pv_energy_today": 1.5}), retain=True)
        state = wait_for(lambda: watcher.json("solarstack/weather/state"), 15, what="weather state")
        assert state["stale"] is False and "pv_forecast_today" in state
        assert wait_for(lambda: watcher.json("solarstack/weather/catalog"), 5)["device"]["kind"] == "weather"
        assert wait_for(lambda: watcher.json("homeassistant/device/weather/config"), 5)["cmps"]
        # one reading of today is not a day: judged, not learnt, and the learner's state written
        saved = wait_for(lambda: (tmp_path / "state" / "pv-forecast.json").exists(), 15, what="learning saved")
        assert saved and "PV forecast " in reader_log.read_text()
        assert json.loads((tmp_path / "state" / "pv-forecast.json").read_text())["closed"]
        assert reader.poll() is None
    finally:
        reader.send_signal(signal.SIGTERM)
        reader.wait(10)
        for rec in (inverter, watcher):
            rec.close()
        broker.terminate()
        broker.wait(5)
        sim.stop()
    assert "Traceback" not in reader_log.read_text(), reader_log.read_text()

"""`solarstack run house` end to end: the real entry point as a process, sensors on the fake I2C
bus (the only fake), a real Mosquitto with the SHIPPED entrypoint, password file and ACL (so the
house user may publish only its sensors' topics and read the legacy sensor's), observed by a
plain paho subscriber: state, catalogue, discovery, availability, /metrics; the legacy
`house/<sensor>/<quantity>` floats re-published as a device of ours; configuration errors as
one line and exit 2."""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import MqttRecorder, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys; from solarstack.cli import main; sys.exit(main())"]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
DEVICES = ",".join(
    (
        "bme280+i2c://1/0x76?name=living&title=Living room&fake=plant&offset=-1.5",
        "bme280+i2c://1/0x77?name=attic&fake=plant&fake_chip=58",
        "legacy+mqtt://house/kitchen?name=kitchen&quantities=temperature+humidity+pressure",
    )
)
pytestmark = pytest.mark.timeout(60)


@dataclass
class Broker:
    host: str
    port: int
    passwords: dict[str, str]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto not installed (make deps)")
    from solarstack.dev import mosquitto_config

    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    shipped = (ROOT / "mosquitto" / "mosquitto.conf").read_text()
    conf.write_text(mosquitto_config(shipped, port=port, host="127.0.0.1", auth_dir=tmp_path, user=getpass.getuser()))
    # the shipped consumer rules, plus the old ESP8266's account that publishes house/…
    template = tmp_path / "acl.template"
    template.write_text((ROOT / "mosquitto" / "acl.template").read_text() + "\nuser esp\ntopic write house/#\n")
    passwords = {u: secrets.token_hex(8) for u in ("house", "homeassistant", "esp")}
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "MOSQUITTO_CONF": str(conf),
        "MOSQUITTO_ACL_TEMPLATE": str(template),
        "HOUSE_DEVICES": DEVICES,
        **{f"MQTT_PASSWORD_{u.upper()}": p for u, p in passwords.items()},
    }
    with (tmp_path / "broker.log").open("wb") as log:
        proc = subprocess.Popen(
            ["sh", str(ROOT / "mosquitto" / "entrypoint.sh"), MOSQUITTO, "-c", str(conf)],
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        wait_for(lambda: _listening(port), 5, what="mosquitto")
        yield Broker("127.0.0.1", port, passwords)
    finally:
        proc.terminate()
        proc.wait(5)


def _listening(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def house_env(broker: Broker, tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "HOUSE_", "METRICS_", "STATE_DIR"))}
    return {
        **keep,
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.port),
        "MQTT_USERNAME": "house",
        "MQTT_PASSWORD": broker.passwords["house"],
        "STATE_DIR": str(tmp_path / "state"),
        "METRICS_HOST": "127.0.0.1",
        "HOUSE_DEVICES": DEVICES,
        "HOUSE_POLL_SECONDS": "0.5",
        "HOUSE_ALTITUDE": "350",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def test_house_reader_publishes_sensors_and_legacy_topics(broker: Broker, tmp_path: Path) -> None:
    metrics_port = free_port()
    ha = broker.passwords["homeassistant"]
    watcher = MqttRecorder(broker, ["solarstack/#", "homeassistant/#"], username="homeassistant", password=ha)
    esp = MqttRecorder(broker, "nothing/here", username="esp", password=broker.passwords["esp"])
    log = (tmp_path / "house.log").open("wb")
    proc = subprocess.Popen(
        [*CLI, "run", "house"],
        env=house_env(broker, tmp_path, METRICS_PORT=str(metrics_port)),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # --- a BME280: state with derived values, catalogue, discovery, availability
        living = wait_for(lambda: watcher.json("solarstack/living/state"), 20, what="living state")
        assert set(living) == {
            "ts", "temperature", "humidity", "pressure", "dew_point", "absolute_humidity", "sea_level_pressure",
        }  # fmt: skip
        assert 5 < living["temperature"] < 35 and 20 < living["humidity"] < 80
        assert living["pressure"] < living["sea_level_pressure"] - 35  # station pressure at 350 m
        cat = wait_for(lambda: watcher.json("solarstack/living/catalog"), 10, what="living catalogue")
        device = cat["device"]
        assert (device["kind"], device["protocol"], device["model"]) == ("house", "bme280", "BME280")
        assert cat["device"]["name"] == "Living room" and cat["device"]["manufacturer"] == "Bosch Sensortec"
        fields = {f["key"]: f for f in cat["fields"]}
        assert fields["temperature"]["role"] == "indoor_temperature" and fields["temperature"]["unit"] == "°C"
        assert fields["humidity"]["role"] == "humidity" and fields["pressure"]["role"] == "pressure"
        assert fields["pressure"]["metric"] == "solarstack_pressure_hectopascals"
        assert cat["settings"] == [] and cat["queries"] == ["read"]
        disc = wait_for(lambda: watcher.json("homeassistant/device/living/config"), 10, what="living discovery")
        components = disc["cmps"] if "cmps" in disc else disc["components"]
        ids = {c.get("uniq_id") or c.get("unique_id") for c in components.values()}
        assert {"solarstack_living_temperature", "solarstack_living_humidity", "solarstack_living_pressure"} <= ids
        wait_for(lambda: watcher.text("solarstack/living/availability") == "online", 10, what="living online")

        # --- a BMP280: temperature and pressure only, one log line about the humidity
        attic = wait_for(lambda: watcher.json("solarstack/attic/state"), 10, what="attic state")
        assert set(attic) == {"ts", "temperature", "pressure", "sea_level_pressure"}
        attic_cat = wait_for(lambda: watcher.json("solarstack/attic/catalog"), 10, what="attic catalogue")
        assert attic_cat["device"]["model"] == "BMP280"
        assert "humidity" not in {f["key"] for f in attic_cat["fields"]}

        # --- the legacy sensor: plain floats on house/kitchen/… become the device `kitchen`
        esp.publish("house/kitchen/temperature", "21.5")
        esp.publish("house/kitchen/humidity", "48")
        esp.publish("house/kitchen/pressure", "980.2")
        esp.publish("house/kitchen/battery", "3.1")  # not a house quantity: ignored
        kitchen = wait_for(
            lambda: (s := watcher.json("solarstack/kitchen/state")) and "pressure" in s and s, 10, what="kitchen state"
        )
        assert kitchen["temperature"] == 21.5 and kitchen["humidity"] == 48.0 and kitchen["pressure"] == 980.2
        assert kitchen["dew_point"] == pytest.approx(10.1, abs=0.1)
        assert kitchen["sea_level_pressure"] == pytest.approx(1020.6, abs=0.5)  # HOUSE_ALTITUDE=350
        kitchen_cat = wait_for(lambda: watcher.json("solarstack/kitchen/catalog"), 10, what="kitchen catalogue")
        assert (kitchen_cat["device"]["kind"], kitchen_cat["device"]["protocol"]) == ("house", "legacy")
        assert watcher.json("homeassistant/device/kitchen/config")
        esp.publish("house/kitchen/temperature", "22.25")
        wait_for(lambda: watcher.json("solarstack/kitchen/state")["temperature"] == 22.25, 10, what="kitchen update")

        # --- metrics
        body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        assert 'solarstack_temperature_celsius{device="living"}' in body
        assert 'solarstack_humidity_ratio{device="kitchen"}' in body
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        watcher.close()
        esp.close()
    text = (tmp_path / "house.log").read_text()
    assert proc.returncode == 0, text
    assert text.count("has no humidity sensor") == 1, text
    assert watcher.text("solarstack/living/availability") == "offline"


def test_a_missing_sensor_is_retried_and_offline(broker: Broker, tmp_path: Path) -> None:
    devices = "bme280+i2c://1/0x76?name=living&fake=plant&fake_absent=1"
    watcher = MqttRecorder(broker, "solarstack/#", username="homeassistant", password=broker.passwords["homeassistant"])
    proc = subprocess.Popen(
        [*CLI, "run", "house"],
        env=house_env(broker, tmp_path, HOUSE_DEVICES=devices, METRICS_PORT="0", HOUSE_RETRIES="0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: watcher.json("solarstack/living/catalog"), 15, what="catalogue of a silent sensor")
        wait_for(lambda: watcher.text("solarstack/living/availability") == "offline", 20, what="offline")
        assert proc.poll() is None  # retried, never a crash
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0].decode()
        watcher.close()
    assert "I2C bus 1 address 0x76: no answer" in out


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HOUSE_DEVICES": ""}, "HOUSE_DEVICES"),
        ({"HOUSE_DEVICES": "bme280+i2c://1/0x99"}, "address 0x99 is not a 7-bit device address"),
        ({"HOUSE_DEVICES": "pi30+tcp://h:1"}, "is not one of bme280, legacy"),
        ({"HOUSE_POLL_SECONDS": "0"}, "HOUSE_POLL_SECONDS"),
        ({"HOUSE_ALTITUDE": "high"}, "HOUSE_ALTITUDE"),
    ],
)
def test_configuration_errors_are_one_line(tmp_path: Path, env: dict[str, str], message: str) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HOUSE_", "MQTT_"))}
    base |= {"HOUSE_DEVICES": "bme280+i2c://1/0x76?fake=plant", "STATE_DIR": str(tmp_path), "METRICS_PORT": "0"}
    out = subprocess.run([*CLI, "run", "house"], env=base | env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr

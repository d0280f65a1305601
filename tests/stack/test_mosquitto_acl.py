"""The shipped broker config for real: mosquitto/entrypoint.sh generates the password file
and ACL, Mosquitto runs the shipped mosquitto.conf. Anonymous and wrong passwords are
refused; each reader publishes only its own devices' topics; consumers read what they must.

A refused publish is dropped silently by the broker, so "not delivered" is proven by
ordering: the same client then publishes an allowed sentinel (QoS 1, in order), and once
the sentinel has arrived at a subscriber that reads everything, the refused message
would have arrived before it.
"""

from __future__ import annotations

import queue
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 5.0


class Conn:
    def __init__(self, port: int, user: str | None, password: str | None) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        self.connack: queue.Queue[ReasonCode] = queue.Queue()
        self.suback: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.client.on_connect = lambda c, u, f, rc, p: self.connack.put(rc)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.suback.put(list(rcs))
        self.client.on_message = lambda c, u, msg: self.messages.put((msg.topic, msg.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.rc = self.connack.get(timeout=TIMEOUT)

    def subscribe(self, topic: str) -> ReasonCode:
        self.client.subscribe(topic, qos=1)
        return self.suback.get(timeout=TIMEOUT)[0]

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(TIMEOUT)

    def received_until(self, sentinel_topic: str) -> list[str]:
        """Topics received up to and including the sentinel."""
        topics = []
        while True:
            topic, _ = self.messages.get(timeout=TIMEOUT)
            topics.append(topic)
            if topic == sentinel_topic:
                return topics

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def conns(shipped_broker) -> Iterator:
    made: list[Conn] = []

    def connect(user: str | None, password: str | None = None) -> Conn:
        if user is not None and password is None:
            password = shipped_broker.passwords[user]
        conn = Conn(shipped_broker.port, user, password)
        made.append(conn)
        return conn

    yield connect
    for conn in made:
        conn.close()


def test_anonymous_is_refused(conns) -> None:
    assert conns(None).rc.is_failure


def test_wrong_password_is_refused(conns) -> None:
    conn = conns("inverter", "not-the-password")
    assert conn.rc.is_failure
    assert conn.rc.getName() in ("Bad user name or password", "Not authorized")


def test_every_service_user_logs_in(conns, shipped_broker) -> None:
    for user in shipped_broker.passwords:
        assert not conns(user).rc.is_failure, user


def test_no_secret_is_written_in_clear(shipped_broker) -> None:
    generated = (shipped_broker.auth_dir / "passwd").read_text() + (shipped_broker.auth_dir / "acl").read_text()
    for password in shipped_broker.passwords.values():
        assert password not in generated
    assert oct((shipped_broker.auth_dir / "passwd").stat().st_mode & 0o777) == "0o600"


def test_reader_publishes_only_its_own_devices(conns) -> None:
    web = conns("web")
    assert not web.subscribe("solarstack/#").is_failure
    inverter = conns("inverter")
    inverter.publish("solarstack/bms/state", '{"forged": 1}')  # another reader's device
    inverter.publish("solarstack/pack1/state", '{"forged": 1}')
    inverter.publish("solarstack/other/availability", "online")
    inverter.publish("solarstack/inverter/state", '{"ac_output_power": 1}')  # its own (name= option)
    inverter.publish("solarstack/pi30_dev_ttyusb0/state", "{}")  # its own (default slug id)
    inverter.publish("solarstack/pi30_dev_ttyusb0_unit2/state", "{}")  # a unit of its parallel system
    inverter.publish("solarstack/pi30_dev_ttyusb0_unit3/state", "{}")  # no such unit (units=2)
    inverter.publish("solarstack/inverter/set/output_source_priority/result", '{"ok": true}')
    inverter.publish("solarstack/inverter/availability", "online")
    assert web.received_until("solarstack/inverter/availability") == [
        "solarstack/inverter/state",
        "solarstack/pi30_dev_ttyusb0/state",
        "solarstack/pi30_dev_ttyusb0_unit2/state",
        "solarstack/inverter/set/output_source_priority/result",
        "solarstack/inverter/availability",
    ]


def test_reader_discovery_scoped_to_its_devices(conns) -> None:
    ha = conns("homeassistant")
    assert not ha.subscribe("homeassistant/#").is_failure
    bms = conns("bms")
    bms.publish("homeassistant/device/inverter/config", "{}")  # not its device
    bms.publish("homeassistant/sensor/inverter/x/config", "{}")
    bms.publish("homeassistant/status", "offline")  # only Home Assistant says that
    bms.publish("homeassistant/sensor/pack1/soc/config", "{}")  # per-entity mode, own device
    bms.publish("homeassistant/device/pack1/config", "{}")  # device mode, own device
    assert ha.received_until("homeassistant/device/pack1/config") == [
        "homeassistant/sensor/pack1/soc/config",
        "homeassistant/device/pack1/config",
    ]


def test_reader_reads_back_only_its_own_discovery(conns) -> None:
    """A reader reads its retained discovery at start (to remove entities it no longer has)."""
    bms = conns("bms")
    assert not bms.subscribe("homeassistant/device/+/config").is_failure
    conns("inverter").publish("homeassistant/device/inverter/config", '{"dev": {}}')  # not the bms's
    bms.publish("homeassistant/device/pack1/config", '{"dev": {}}')
    assert bms.received_until("homeassistant/device/pack1/config") == ["homeassistant/device/pack1/config"]


def test_web_reads_device_catalogues_not_home_assistant_topics(conns) -> None:
    """The web labels fields from the device catalogues; discovery and Home Assistant's own
    topics stay private to Home Assistant."""
    web = conns("web")
    assert not web.subscribe("homeassistant/#").is_failure  # granted, then filtered on delivery
    assert not web.subscribe("solarstack/+/catalog").is_failure
    conns("homeassistant").publish("homeassistant/status", "online")
    inverter = conns("inverter")
    inverter.publish("homeassistant/device/inverter/config", '{"dev": {}}')
    inverter.publish("solarstack/inverter/catalog", '{"schema": 1}')
    assert web.received_until("solarstack/inverter/catalog") == ["solarstack/inverter/catalog"]


def test_web_may_ask_one_reader_or_all_to_refresh_and_reads_the_answers(conns) -> None:
    inverter = conns("inverter")
    for topic in ("solarstack/inverter/refresh", "solarstack/refresh"):
        assert not inverter.subscribe(topic).is_failure
    web = conns("web")
    web.publish("solarstack/inverter/refresh", "")
    web.publish("solarstack/refresh", "")
    assert inverter.received_until("solarstack/refresh") == ["solarstack/inverter/refresh", "solarstack/refresh"]
    assert not web.subscribe("solarstack/+/refresh/result").is_failure
    inverter.publish("solarstack/inverter/refresh/result", '{"ok": true, "polled": [], "error": null}')
    assert web.received_until("solarstack/inverter/refresh/result") == ["solarstack/inverter/refresh/result"]


def test_reader_receives_settings_and_ha_status_but_not_others(conns) -> None:
    inverter = conns("inverter")
    assert not inverter.subscribe("solarstack/inverter/set/+").is_failure
    assert not inverter.subscribe("homeassistant/status").is_failure
    inverter.subscribe("solarstack/pack1/#")  # Mosquitto grants it, then filters on delivery
    conns("bms").publish("solarstack/pack1/state", '{"soc": 80}')  # another reader's data
    conns("homeassistant").publish("homeassistant/status", "online")
    conns("web").publish("solarstack/inverter/set/output_source_priority", "SBU")
    assert inverter.received_until("solarstack/inverter/set/output_source_priority") == [
        "homeassistant/status",
        "solarstack/inverter/set/output_source_priority",
    ]


def test_consumers_cannot_forge_state(conns) -> None:
    observer = conns("homeassistant")
    assert not observer.subscribe("solarstack/#").is_failure
    for user in ("web", "homeassistant"):
        conns(user).publish("solarstack/inverter/state", '{"forged": 1}')
    web = conns("web")
    web.publish("solarstack/inverter/set/output_source_priority", "UTI")  # allowed: the sentinel
    assert observer.received_until("solarstack/inverter/set/output_source_priority") == [
        "solarstack/inverter/set/output_source_priority"
    ]


def test_entrypoint_refuses_to_start_without_passwords(tmp_path: Path) -> None:
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"password_file {tmp_path}/passwd\nacl_file {tmp_path}/acl\n")
    env = {
        "PATH": "/usr/sbin:/usr/bin:/bin",
        "MOSQUITTO_CONF": str(conf),
        "MOSQUITTO_ACL_TEMPLATE": str(ROOT / "mosquitto/acl.template"),
    }
    result = subprocess.run(
        ["sh", str(ROOT / "mosquitto/entrypoint.sh"), "true"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "MQTT_PASSWORD_" in result.stderr
    assert not (tmp_path / "passwd").exists()


def test_entrypoint_names_devices_like_the_python_parser(tmp_path: Path) -> None:
    """The shell copy of the device-id rule must agree with solarstack.core.device_url."""
    from solarstack.core.device_url import parse_device_list

    urls = (
        "pi30+serial:///dev/ttyUSB0?baud=2400,PI30+HIDRAW://?vid=0665&pid=5161, pi30+tcp://192.168.1.50:8899,"
        "jk02+ble://C8:47:8C:12:34:56?name=pack_1&x=y,bme280+i2c://1/0x76,daly+serial:///dev/serial/by-id/usb-FTDI_A1-if00"
    )
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"password_file {tmp_path}/passwd\nacl_file {tmp_path}/acl\n")
    env = {
        "PATH": "/usr/sbin:/usr/bin:/bin",
        "MOSQUITTO_CONF": str(conf),
        "MOSQUITTO_ACL_TEMPLATE": str(ROOT / "mosquitto/acl.template"),
        "MQTT_PASSWORD_INVERTER": "x",
        "MQTT_PASSWORD_WEB": "y",
        "INVERTER_DEVICES": urls,
    }
    subprocess.run(["sh", str(ROOT / "mosquitto/entrypoint.sh"), "true"], env=env, check=True, capture_output=True)
    acl = (tmp_path / "acl").read_text()
    granted = [line.split("/")[1] for line in acl.splitlines() if line.startswith("topic readwrite solarstack/")]
    assert granted == [url.name for url in parse_device_list(urls)]

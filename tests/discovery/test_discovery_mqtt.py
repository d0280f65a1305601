"""Discovery through a real Mosquitto: retained read-back, removal, re-send on HA's birth.

The service side uses the real MqttClient; "Home Assistant" is a plain paho client. To
know that every retained message has arrived, a subscriber publishes a marker after
subscribing and waits for it: the broker delivers in order, so retained messages sent on
SUBACK come first.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from solarstack.core.discovery import (
    DeviceInfo,
    build_discovery,
    discovery_subscriptions,
    on_ha_birth,
    with_removals,
)
from solarstack.core.fields import Field, Kind, Setting
from solarstack.core.mqtt import MqttClient
from solarstack.core.settings import CommonSettings

DEVICE = DeviceInfo("inverter1", "Inverter 1", "Voltronic", "Axpert")
FIELDS = (
    Field("battery_voltage", 0, Kind.FLOAT, "V"),
    Field("device_mode", 1, Kind.ENUM, options={"L": "Line", "B": "Battery"}),
    Field("load_on", 2, Kind.BOOL, bit=0),
    Field("serial_number", 3, Kind.TEXT, diagnostic=True),
    Field("pv_input_power", 4, Kind.INT, "W"),
)
SETTINGS = (Setting("output_source_priority", "Output source priority", options=("utility", "sbu"), readback="osp"),)


class Peer:
    """A plain paho client (here: Home Assistant) that records what it receives."""

    def __init__(self, broker: Any, topic_filter: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload))

    def received(self, topic: str | None = None) -> list[bytes]:
        with self.lock:
            return [p for t, p in self.messages if topic is None or t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for p in made:
        p.close()


def settings_for(broker: Any) -> CommonSettings:
    return CommonSettings(mqtt_host=broker.host, mqtt_port=broker.port)


def read_retained(broker: Any, wait_for: Any, *filters: str) -> list[tuple[str, str]]:
    """What the broker retains under `filters`, read the way a starting service would."""
    client = MqttClient(settings_for(broker), f"reader-{uuid.uuid4().hex[:8]}")
    got: list[tuple[str, str]] = []
    marker = f"test/marker/{uuid.uuid4().hex}"
    done = threading.Event()
    for f in filters:
        client.subscribe(f, lambda t, p: got.append((t, p.decode())))
    client.subscribe(marker, lambda t, p: done.set())
    client.start()
    try:
        assert client.wait_connected(5)
        # Subscriptions are sent on connect; publish the marker until it comes back (the
        # first may race the SUBSCRIBE), after which every retained message has arrived.
        wait_for(lambda: client.publish(marker, "m", qos=1) or done.wait(0.05), what="marker")
        return sorted(got)
    finally:
        client.stop()


def publish_all(broker: Any, messages: list[tuple[str, str]]) -> None:
    client = MqttClient(settings_for(broker), f"writer-{uuid.uuid4().hex[:8]}")
    client.start()
    assert client.wait_connected(5)
    for topic, payload in messages:
        client.publish(topic, payload, retain=True)
    client.stop()  # flushes: returns once the broker has every message


@pytest.mark.parametrize("mode", ["device", "entity"])
def test_a_restart_with_fewer_fields_removes_the_rest_from_the_broker(mosquitto, wait_for, mode):
    first = build_discovery(mode, "solarstack", "homeassistant", DEVICE, FIELDS, SETTINGS, origin_version="1")
    publish_all(mosquitto, first)
    filters = discovery_subscriptions("homeassistant", "inverter1")
    assert read_retained(mosquitto, wait_for, *filters) == sorted(first)

    # next start: a firmware without two of the fields, and the setting dropped
    second = build_discovery(mode, "solarstack", "homeassistant", DEVICE, FIELDS[:3], (), origin_version="1")
    previous = read_retained(mosquitto, wait_for, *filters)
    publish_all(mosquitto, with_removals(previous, second))
    retained = dict(read_retained(mosquitto, wait_for, *filters))

    if mode == "entity":
        assert retained == dict(second)  # the empty payloads deleted the others
    else:
        cmps = json.loads(retained["homeassistant/device/inverter1/config"])["cmps"]
        assert {k for k, v in cmps.items() if len(v) > 1} == {"battery_voltage", "device_mode", "load_on"}
        assert {k: v for k, v in cmps.items() if len(v) == 1} == {
            "serial_number": {"p": "sensor"},
            "pv_input_power": {"p": "sensor"},
            "set_output_source_priority": {"p": "select"},
        }


def test_switching_to_entity_mode_clears_the_device_message(mosquitto, wait_for):
    args = ("solarstack", "homeassistant", DEVICE, FIELDS, SETTINGS)
    publish_all(mosquitto, build_discovery("device", *args, origin_version="1"))
    filters = discovery_subscriptions("homeassistant", "inverter1")
    entity = build_discovery("entity", *args, origin_version="1")
    publish_all(mosquitto, with_removals(read_retained(mosquitto, wait_for, *filters), entity))
    assert read_retained(mosquitto, wait_for, *filters) == sorted(entity)


def test_discovery_is_sent_again_when_home_assistant_comes_online(mosquitto, wait_for, peers):
    messages = build_discovery("entity", "solarstack", "homeassistant", DEVICE, FIELDS, (), origin_version="1")
    service = MqttClient(settings_for(mosquitto), "inverter1", will_topic="solarstack/inverter1/availability")
    sends: list[int] = []

    def republish() -> None:
        sends.append(1)
        for topic, payload in messages:
            service.publish(topic, payload, retain=True)

    topic_filter, handler = on_ha_birth("homeassistant", republish)
    service.subscribe(topic_filter, handler)
    service.start()
    try:
        assert service.wait_connected(5)
        ha = Peer(mosquitto, "homeassistant/+/inverter1/+/config")
        peers.append(ha)
        wait_for(ha.subscribed.is_set, what="HA subscribed")
        assert ha.received() == []  # nothing published yet

        ha.client.publish("homeassistant/status", "offline", qos=1)  # HA going down: no reaction
        ha.client.publish("homeassistant/status", "online", qos=1)  # HA's birth message
        wait_for(lambda: len(ha.received()) == len(messages), what="discovery re-sent")
        assert sends == [1]
        assert sorted((t, p.decode()) for t, p in ha.messages) == sorted(messages)
    finally:
        service.stop()

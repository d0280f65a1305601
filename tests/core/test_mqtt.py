"""MqttClient against a real Mosquitto: pub/sub, LWT, online-only-after-CONNACK, outage replay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from solarstack.core.metrics import ServiceMetrics
from solarstack.core.mqtt import MqttClient
from solarstack.core.settings import CommonSettings
from support import MqttRecorder


def settings_for(broker: Any, **extra: Any) -> CommonSettings:
    return CommonSettings(mqtt_host=broker.host, mqtt_port=broker.port, **extra)


@pytest.fixture
def recorders() -> Iterator[list[MqttRecorder]]:
    made: list[MqttRecorder] = []
    yield made
    for rec in made:
        rec.close()


def test_publish_subscribe_and_online(mosquitto: Any, recorders: list[MqttRecorder], wait_for: Any) -> None:
    rec = MqttRecorder(mosquitto, "solarstack/#")
    recorders.append(rec)
    wait_for(rec.subscribed.is_set, what="subscribed")
    client = MqttClient(settings_for(mosquitto), "inv1", will_topic="solarstack/inv1/availability")
    got: list[tuple[str, bytes]] = []
    client.subscribe("solarstack/inv1/set/+", lambda t, p: got.append((t, p)))
    client.start()
    assert client.wait_connected(5)
    wait_for(lambda: b"online" in rec.payloads("solarstack/inv1/availability"), what="online")
    client.publish("solarstack/inv1/state", json.dumps({"ts": "2026-01-01T00:00:00Z", "x": 1}), retain=True)
    wait_for(lambda: rec.payloads("solarstack/inv1/state"), what="state")
    rec.client.publish("solarstack/inv1/set/output_priority", "SBU", qos=1)
    wait_for(lambda: got, what="handler call")
    assert got == [("solarstack/inv1/set/output_priority", b"SBU")]
    client.stop()
    wait_for(lambda: rec.payloads("solarstack/inv1/availability")[-1:] == [b"offline"], what="offline on stop")
    counters = client.counters()
    assert counters.published >= 1 and counters.spooled == 0


_KILLED_CLIENT = """
import sys, time
from solarstack.core.metrics import ServiceMetrics
from solarstack.core.mqtt import MqttClient
from solarstack.core.settings import CommonSettings
c = MqttClient(CommonSettings(mqtt_host=sys.argv[1], mqtt_port=int(sys.argv[2])), "victim",
               will_topic="solarstack/victim/availability")
c.start()
assert c.wait_connected(5)
print("connected", flush=True)
sys.stdin.read()
"""


def test_lwt_offline_when_killed(mosquitto: Any, recorders: list[MqttRecorder], wait_for: Any) -> None:
    rec = MqttRecorder(mosquitto, "solarstack/victim/availability")
    recorders.append(rec)
    wait_for(rec.subscribed.is_set, what="subscribed")
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CLIENT, mosquitto.host, str(mosquitto.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"connected"
        wait_for(lambda: rec.payloads() == [b"online"], what="online")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        # the broker notices the dead socket at once (closed by the kernel) and sends the LWT
        wait_for(lambda: rec.payloads() == [b"online", b"offline"], timeout=10, what="LWT offline")
    finally:
        proc.kill()
        proc.wait()


def _retained(broker: Any, topic: str, wait_for: Any, **auth: str) -> list[bytes]:
    """Retained messages on `topic`: subscribe, then publish a marker; whatever came before
    the marker is what the broker had retained."""
    rec = MqttRecorder(broker, "#", **auth)
    try:
        wait_for(rec.subscribed.is_set, what="subscribed")
        rec.client.publish("marker", "m", qos=1)
        wait_for(lambda: b"m" in rec.payloads("marker"), what="marker")
        return rec.payloads(topic)
    finally:
        rec.close()


def test_bad_password_never_online(mosquitto_factory: Any, wait_for: Any) -> None:
    broker = mosquitto_factory(users={"inverter": "right", "admin": "admin"})
    bad = MqttClient(
        settings_for(broker, mqtt_username="inverter", mqtt_password="wrong"),
        "badinv",
        will_topic="solarstack/badinv/availability",
        reconnect_min_delay=0.1,
        reconnect_max_delay=0.2,
    )
    bad.start()
    try:
        wait_for(lambda: broker.log_text().count("not authorised") >= 2, what="two refused attempts")
        assert not bad.connected
        assert _retained(broker, "solarstack/badinv/availability", wait_for, username="admin", password="admin") == []
    finally:
        bad.stop(timeout=1)

    good = MqttClient(
        settings_for(broker, mqtt_username="inverter", mqtt_password="right"),
        "goodinv",
        will_topic="solarstack/goodinv/availability",
    )
    good.start()
    assert good.wait_connected(5)
    wait_for(
        lambda: (
            _retained(broker, "solarstack/goodinv/availability", wait_for, username="admin", password="admin")
            == [b"online"]
        ),
        what="retained online",
    )
    good.stop()


def test_outage_replays_in_order_with_original_ts(
    mosquitto_factory: Any, recorders: list[MqttRecorder], tmp_path: Path, wait_for: Any
) -> None:
    broker = mosquitto_factory(persistence=True)
    # a persistent QoS 1 session: the broker queues what arrives while this subscriber reconnects
    rec = MqttRecorder(broker, "solarstack/inv1/state", client_id="recorder", persistent=True)
    recorders.append(rec)
    wait_for(rec.subscribed.is_set, what="subscribed")
    client = MqttClient(
        settings_for(broker),
        "inv1",
        will_topic="solarstack/inv1/availability",
        spool_dir=tmp_path / "spool",
        reconnect_min_delay=0.1,
        reconnect_max_delay=0.3,
    )
    client.start()
    assert client.wait_connected(5)

    def state(i: int) -> str:
        return json.dumps({"ts": f"2026-06-01T12:00:{i:02d}Z", "seq": i})

    for i in range(5):
        client.publish("solarstack/inv1/state", state(i))
    wait_for(lambda: len(rec.payloads()) == 5, what="5 before the outage")
    # the subscriber's acks must reach the broker, else it redelivers those (QoS 1) after restart
    wait_for(lambda: "PUBACK from recorder (Mid: 5" in broker.log_text(), what="recorder acked all 5")

    broker.stop()
    wait_for(lambda: not client.connected, what="client notices the outage")
    for i in range(5, 45):
        client.publish("solarstack/inv1/state", state(i))
    assert client.counters().spool_depth == 40
    broker.start()
    assert client.wait_connected(10)
    client.publish("solarstack/inv1/state", state(45))  # newer than the backlog: must come last
    wait_for(lambda: len(rec.payloads()) >= 46, timeout=15, what="all 46 messages")
    seqs = [json.loads(p)["seq"] for p in rec.payloads()]
    assert seqs == list(range(46))
    assert [json.loads(p)["ts"] for p in rec.payloads()] == [json.loads(state(i))["ts"] for i in range(46)]
    wait_for(lambda: client.counters().spool_depth == 0, what="spool emptied")
    counters = client.counters()
    assert counters.spooled == 41 and counters.replayed == 41 and counters.reconnects == 1
    registry = CollectorRegistry()
    ServiceMetrics(registry, "inverter").bind_mqtt(client)
    exposition = generate_latest(registry).decode()
    assert 'solarstack_mqtt_messages_total{client="inv1",path="replayed"} 41.0' in exposition
    assert 'solarstack_spool_depth{client="inv1"} 0.0' in exposition
    assert 'solarstack_mqtt_connected{client="inv1"} 1.0' in exposition
    client.stop()


_SPOOLING_PROCESS = """
import sys
from pathlib import Path
from solarstack.core.metrics import ServiceMetrics
from solarstack.core.mqtt import MqttClient
from solarstack.core.settings import CommonSettings
c = MqttClient(CommonSettings(mqtt_host=sys.argv[1], mqtt_port=int(sys.argv[2])), "inv2", spool_dir=Path(sys.argv[3]))
c.start()
for i in range(3):
    c.publish("solarstack/inv2/state", '{"ts": "2026-06-01T00:00:0%d Z", "seq": %d}' % (i, i))
c.stop(timeout=0.5)
"""


def test_spool_survives_a_process_restart(
    mosquitto: Any, recorders: list[MqttRecorder], tmp_path: Path, wait_for: Any
) -> None:
    mosquitto.stop()  # the first process runs while the broker is down
    spool_dir = tmp_path / "spool"
    subprocess.run(
        [sys.executable, "-c", _SPOOLING_PROCESS, mosquitto.host, str(mosquitto.port), str(spool_dir)],
        check=True,
        timeout=20,
    )
    assert (spool_dir / "inv2.sqlite3").exists()
    mosquitto.start()
    rec = MqttRecorder(mosquitto, "solarstack/inv2/state")
    recorders.append(rec)
    wait_for(rec.subscribed.is_set, what="subscribed")
    client = MqttClient(settings_for(mosquitto), "inv2", spool_dir=spool_dir)
    assert client.counters().spool_depth == 3
    client.start()
    wait_for(lambda: len(rec.payloads()) == 3, what="3 replayed")
    assert [json.loads(p)["seq"] for p in rec.payloads()] == [0, 1, 2]
    wait_for(lambda: client.counters().spool_depth == 0, what="spool emptied")
    client.stop()


def test_qos0_messages_spool_and_replay_in_order(
    mosquitto_factory: Any, recorders: list[MqttRecorder], tmp_path: Path, wait_for: Any
) -> None:
    # no in-flight cap towards the subscriber: with one, the broker itself lets QoS 0 overtake
    # QoS 1 messages queued behind the cap, and we check our client's order, not the broker's
    broker = mosquitto_factory(persistence=True, extra_config="queue_qos0_messages true\nmax_inflight_messages 0\n")
    rec = MqttRecorder(broker, "solarstack/mix/#", client_id="mixrec", persistent=True)
    recorders.append(rec)
    wait_for(rec.subscribed.is_set, what="subscribed")
    client = MqttClient(settings_for(broker), "mix", reconnect_min_delay=0.1, reconnect_max_delay=0.3)
    client.start()
    assert client.wait_connected(5)
    broker.stop()
    wait_for(lambda: not client.connected, what="client notices the outage")
    for i in range(50):
        client.publish("solarstack/mix/state", str(i), qos=i % 2)
    broker.start()
    wait_for(lambda: len(rec.payloads()) >= 50, timeout=15, what="all 50")
    assert [int(p) for p in rec.payloads()] == list(range(50))
    wait_for(lambda: client.counters().spool_depth == 0, what="spool emptied")
    assert client.counters().replayed == 50
    client.stop()


def test_a_failing_handler_does_not_stop_delivery(mosquitto: Any, wait_for: Any) -> None:
    client = MqttClient(settings_for(mosquitto), "sub1")
    got: list[bytes] = []

    def handler(topic: str, payload: bytes) -> None:
        got.append(payload)
        if payload == b"bad":
            raise ValueError("handler bug")

    client.subscribe("solarstack/sub1/#", handler)
    client.start()
    assert client.wait_connected(5)
    wait_for(lambda: "Sending SUBACK to sub1" in mosquitto.log_text(), what="subscribed")
    client.publish("solarstack/sub1/x", "bad")
    client.publish("solarstack/sub1/x", "good")
    wait_for(lambda: got == [b"bad", b"good"], what="both delivered")
    client.stop()

"""The inverter reader end to end: simulator over a real pty, a real Mosquitto, the
real `solarstack run inverter` process — state, discovery, availability, settings
written and read back, a broker outage that loses nothing, and injected device faults
that show as retries, availability changes and exact error counters."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import requests
from paho.mqtt.enums import CallbackAPIVersion

# Broker, BrokerFactory: the fixtures' types in tests/conftest.py (not imported: tests/ is
# not a package, and a second conftest.py on the command line makes `conftest` ambiguous).
Broker = Any
BrokerFactory = Any
WaitFor = Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


POLL = 0.5


@dataclass
class Sim:
    proc: subprocess.Popen[str]
    pty: str
    control_port: int

    def control(self, line: str) -> str:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as s:
            s.sendall(line.encode() + b"\n")
            return s.makefile().readline().strip()


@dataclass
class Recorder:
    """A test-side MQTT client that records every message (topic, payload)."""

    broker: Broker
    client_id: str = "test-recorder"
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    live: list[tuple[str, bytes]] = field(default_factory=list)  # not re-sent retained copies
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Recorder:
        # A persistent session: the broker queues QoS 1 messages for us across our own
        # reconnects and its restart (persistence on), so the test sees every message.
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False)
        self.client.on_connect = lambda c, *a: c.subscribe("#", qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect(self.broker.host, self.broker.port)
        self.client.loop_start()
        return self

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload))
            # A (re)subscription delivers the retained copy again (flag set): not a new message.
            if not msg.retain:
                self.live.append((msg.topic, msg.payload))

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p in self.messages if t == topic]

    def last(self, topic: str) -> bytes | None:
        found = self.on(topic)
        return found[-1] if found else None

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "solarstack.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _stop(proc: subprocess.Popen[str], timeout: float = 10.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return proc.returncode


@pytest.fixture
def sim(wait_for: WaitFor) -> Iterator[Sim]:
    port = free_port()
    proc = _spawn(["sim", "inverter", "--pty", "--control", str(port), "--seed", "7"])
    assert proc.stdout is not None
    pty = proc.stdout.readline().strip()
    assert pty.startswith("/dev/"), pty
    wait_for(lambda: _can_connect(port), 5, what="simulator control port")
    yield Sim(proc, pty, port)
    _stop(proc)


def _can_connect(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


@dataclass
class Reader:
    proc: subprocess.Popen[str]
    metrics_port: int
    device: str = "inv1"

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample in the reader's /metrics (0 when absent)."""
        text = requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        want = [f'{k}="{v}"' for k, v in labels.items()]
        for line in text.splitlines():
            named = line.startswith(name + "{") or line.startswith(name + " ")
            if named and all(w in line for w in want):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def output(self) -> str:
        _stop(self.proc)
        assert self.proc.stdout is not None
        return self.proc.stdout.read()


def start_reader(broker: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor, **extra: str) -> Reader:
    metrics_port = free_port()
    env = {
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.port),
        "STATE_DIR": str(tmp_path / "state"),
        "METRICS_PORT": str(metrics_port),
        "METRICS_HOST": "127.0.0.1",
        "INVERTER_DEVICES": f"pi30+serial://{sim.pty}?name=inv1",
        "INVERTER_POLL_SECONDS": str(POLL),
        "INVERTER_SLOW_POLL_SECONDS": "5",
        "INVERTER_TIMEOUT": "0.4",
        "INVERTER_RETRIES": "2",
        "LOG_LEVEL": "INFO",
        **extra,
    }
    reader = Reader(_spawn(["run", "inverter"], env), metrics_port)
    wait_for(lambda: _ready(metrics_port) or reader.proc.poll() is not None, 15, what="reader /ready")
    assert reader.proc.poll() is None, reader.output()
    return reader


def _ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _state(rec: Recorder) -> dict[str, Any]:
    raw = rec.last("solarstack/inv1/state")
    return json.loads(raw) if raw else {}


def test_publishes_state_discovery_and_availability(
    mosquitto: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    reader = start_reader(mosquitto, sim, tmp_path, wait_for)
    try:
        wait_for(lambda: rec.last("solarstack/inv1/availability") == b"online", 10, what="online")
        state = wait_for(lambda: (s := _state(rec)) and "output_source_priority" in s and "mode" in s and s, 10)
        assert state["ts"].endswith("Z")
        assert 40 < state["battery_voltage"] < 60
        assert state["mode"] in {"line", "battery"}
        assert isinstance(state["load_on"], bool)
        assert state["pv_energy"] >= 0 and state["load_energy"] >= 0  # energy counters merged in

        config = json.loads(wait_for(lambda: rec.last("homeassistant/device/inv1/config"), 10))
        cmps = config["cmps"]
        assert config["dev"]["ids"] == ["solarstack_inv1"]
        assert config["avty_t"] == "solarstack/inv1/availability"
        assert cmps["battery_voltage"]["uniq_id"] == "solarstack_inv1_battery_voltage"
        assert cmps["battery_voltage"]["dev_cla"] == "voltage"
        assert cmps["load_energy"]["stat_cla"] == "total_increasing"
        assert cmps["set_output_source_priority"]["p"] == "select"
        assert cmps["set_output_source_priority"]["cmd_t"] == "solarstack/inv1/set/output_source_priority"
    finally:
        out = reader.output()
        rec.stop()
    # SIGTERM: clean exit, and `offline` published last
    assert reader.proc.returncode == 0, out
    assert rec.last("solarstack/inv1/availability") == b"offline"


def test_setting_reaches_the_inverter_and_is_read_back(
    mosquitto: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    reader = start_reader(mosquitto, sim, tmp_path, wait_for)
    try:
        before = wait_for(lambda: _state(rec).get("output_source_priority"), 10)
        target = "utility" if before != "utility" else "sbu"
        rec.publish("solarstack/inv1/set/output_source_priority", target)
        result = json.loads(wait_for(lambda: rec.last("solarstack/inv1/set/output_source_priority/result"), 10))
        assert result == {"ok": True, "value": target, "error": None}
        # the simulator itself now reports it: ask it through the query topic (a fresh QPIRI)
        rec.publish("solarstack/inv1/query", "QPIRI")
        answer = json.loads(wait_for(lambda: rec.last("solarstack/inv1/query/result"), 10))
        assert answer["ok"] and answer["fields"]["output_source_priority"] == target

        # out of range for a 48 V unit: refused before it reaches the device
        rec.publish("solarstack/inv1/set/battery_float_voltage", "70.0")
        refused = json.loads(wait_for(lambda: rec.last("solarstack/inv1/set/battery_float_voltage/result"), 10))
        assert refused["ok"] is False and refused["error"]
        # a setter is not a query: the query topic refuses it
        rec.publish("solarstack/inv1/query", "POP02")
        wait_for(lambda: len(rec.on("solarstack/inv1/query/result")) == 2, 10)
        assert json.loads(rec.on("solarstack/inv1/query/result")[-1])["ok"] is False
    finally:
        out = reader.output()
        rec.stop()
    assert "write inv1.output_source_priority" in out  # audit log


def test_broker_outage_loses_no_reading(
    mosquitto_factory: BrokerFactory, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    broker = mosquitto_factory(persistence=True)
    rec = Recorder(broker).start()
    reader = start_reader(broker, sim, tmp_path, wait_for)
    try:
        wait_for(lambda: len(rec.on("solarstack/inv1/state")) >= 3, 10, what="first states")
        broker.stop()
        down_at = time.time()
        # the reader keeps polling and spools: wait until several cycles are on disk
        wait_for(lambda: reader.metric("solarstack_spool_depth") >= 9, 15, what="spooled states")
        broker.start()
        up_at = time.time()
        wait_for(lambda: reader.metric("solarstack_spool_depth") == 0, 15, what="spool replayed")
        wait_for(lambda: _ts(rec.on("solarstack/inv1/state")[-1]) > up_at, 10, what="live states after replay")
    finally:
        reader.output()
        rec.stop()
    # QoS 1 is at-least-once: a message in flight when the broker died comes again after
    # the restart. Duplicates are allowed; loss and reordering are not.
    stamps = list(dict.fromkeys(_ts(p) for t, p in rec.live if t == "solarstack/inv1/state"))
    # in order, with their original timestamps ...
    assert stamps == sorted(stamps)
    during = [t for t in stamps if down_at < t < up_at]
    assert len(during) >= 6  # the spool held >= 9; a few were stamped before down_at was read
    # ... and no hole: a poll cycle every POLL seconds, so no gap is much longer than that
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert max(gaps) < POLL * 4, max(gaps)


def _ts(payload: bytes) -> float:
    from datetime import datetime

    return datetime.fromisoformat(json.loads(payload)["ts"].replace("Z", "+00:00")).timestamp()


def test_device_faults_give_retries_availability_and_exact_counters(
    mosquitto: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    reader = start_reader(
        mosquitto, sim, tmp_path, wait_for, INVERTER_BREAKER_FAILURES="2", INVERTER_BREAKER_RESET_SECONDS="1"
    )
    try:
        wait_for(lambda: rec.last("solarstack/inv1/availability") == b"online", 10)
        # three corrupt replies: one poll uses its 1 + 2 retries and fails; the next succeeds
        assert sim.control("fault crc 3").startswith("ok")
        wait_for(lambda: reader.metric("solarstack_poll_errors_total", kind="crc") == 3, 10, what="3 crc errors")
        assert sim.control("fault nak 1").startswith("ok")
        wait_for(lambda: reader.metric("solarstack_poll_errors_total", kind="nak") == 1, 10, what="1 nak")
        # let the NAKed poll's retry finish (a success publishes state) before the next fault
        seen = len(rec.on("solarstack/inv1/state"))
        wait_for(lambda: len(rec.on("solarstack/inv1/state")) > seen + 1, 10, what="polls succeed again")
        assert rec.last("solarstack/inv1/availability") == b"online"  # retries hid both

        # a silent device: two failed polls in a row open the breaker -> offline
        assert sim.control("fault silence").startswith("ok")
        wait_for(lambda: rec.last("solarstack/inv1/availability") == b"offline", 20, what="offline")
        assert reader.metric("solarstack_device_up", device="inv1") == 0
        timeouts = reader.metric("solarstack_poll_errors_total", kind="timeout")
        assert timeouts >= 6  # 2 polls x 3 attempts
        assert sim.control("clear").startswith("ok")
        wait_for(lambda: rec.last("solarstack/inv1/availability") == b"online", 20, what="online again")
        assert reader.metric("solarstack_device_up", device="inv1") == 1
        # the pty was closed after the silent polls and reopened for the first good one
        assert reader.metric("solarstack_reconnects_total", device="inv1") >= 1
        # the crc and nak counts did not move
        assert reader.metric("solarstack_poll_errors_total", kind="crc") == 3
        assert reader.metric("solarstack_poll_errors_total", kind="nak") == 1
    finally:
        reader.output()
        rec.stop()


def test_entities_gone_since_the_last_run_are_removed(
    mosquitto: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    """Discovery retained by an earlier run that polled QPIGS2 loses the PV2 entities when the
    reader comes back without it: Home Assistant is told to remove them ({"p": platform})."""
    rec = Recorder(mosquitto).start()
    topic = "homeassistant/device/inv1/config"
    try:
        first = start_reader(mosquitto, sim, tmp_path, wait_for, INVERTER_COMMANDS="QPIGS:0.5,QPIGS2:0.5")
        wait_for(lambda: "pv2_input_power" in json.loads(rec.last(topic) or b"{}").get("cmps", {}), 10)
        first.output()
        second = start_reader(mosquitto, sim, tmp_path, wait_for, INVERTER_COMMANDS="QPIGS:0.5")
        try:
            cmps = wait_for(
                lambda: (
                    (c := json.loads(rec.last(topic) or b"{}").get("cmps", {})).get("pv2_input_power")
                    == {"p": "sensor"}
                    and c
                ),
                10,
                what="PV2 entities removed",
            )
        finally:
            second.output()
    finally:
        rec.stop()
    assert cmps["pv2_input_voltage"] == {"p": "sensor"}
    assert cmps["pv_input_power"]["p"] == "sensor" and "uniq_id" in cmps["pv_input_power"]  # still there

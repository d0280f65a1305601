"""What the reader tests share: the simulator over a real pty (`Sim`, the `sim` fixture in
conftest.py), the real `solarstack run inverter` process (`start_reader`), and a test-side
MQTT client that records every message (`Recorder`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import requests
from paho.mqtt.enums import CallbackAPIVersion

from support import free_port

# Broker, BrokerFactory: the fixtures' types in tests/conftest.py (not imported: tests/ is
# not a package, and a second conftest.py on the command line makes `conftest` ambiguous).
Broker = Any
BrokerFactory = Any
WaitFor = Any


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
    username: str | None = None  # the shipped broker: e.g. "homeassistant" (reads all, may command)
    password: str | None = None
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    live: list[tuple[str, bytes]] = field(default_factory=list)  # not re-sent retained copies
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Recorder:
        # A persistent session: the broker queues QoS 1 messages for us across our own
        # reconnects and its restart (persistence on), so the test sees every message.
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False)
        if self.username is not None:
            self.client.username_pw_set(self.username, self.password)
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

    def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "solarstack.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def stop(proc: subprocess.Popen[str], timeout: float = 10.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return proc.returncode


def sim_process(wait_for: WaitFor) -> Iterator[Sim]:
    port = free_port()
    proc = spawn(["sim", "inverter", "--pty", "--control", str(port), "--seed", "7"])
    assert proc.stdout is not None
    pty = proc.stdout.readline().strip()
    assert pty.startswith("/dev/"), pty
    wait_for(lambda: can_connect(port), 5, what="simulator control port")
    yield Sim(proc, pty, port)
    stop(proc)


def start_tcp_sim(wait_for: WaitFor, *args: str, port: int = 0) -> Sim:
    """`solarstack sim inverter <args>` on TCP `port` (0: a free one; `Sim.pty` holds its
    tcp:// address), with a control port. The caller stops it."""
    control = free_port()
    proc = spawn(["sim", "inverter", *args, "--tcp", str(port), "--control", str(control), "--seed", "7"])
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    assert address.startswith("tcp://127.0.0.1:"), address
    wait_for(lambda: can_connect(control), 5, what="simulator control port")
    return Sim(proc, address, control)


def tcp_sim(wait_for: WaitFor, *args: str) -> Iterator[Sim]:
    """`start_tcp_sim` for a fixture to `yield from`: stopped afterwards."""
    sim = start_tcp_sim(wait_for, *args)
    yield sim
    stop(sim.proc)


def sim_state(sim: Sim) -> dict[str, str]:
    """The simulator's own view (control port `state`): `ok key=value …`."""
    answer = sim.control("state")
    assert answer.startswith("ok "), answer
    return dict(word.split("=", 1) for word in answer.split()[1:])


def can_connect(port: int) -> bool:
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
        stop(self.proc)
        assert self.proc.stdout is not None
        return self.proc.stdout.read()


def start_reader(
    broker: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor, device: str = "inv1", **extra: str
) -> Reader:
    metrics_port = free_port()
    env = {
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.port),
        "STATE_DIR": str(tmp_path / "state"),
        "METRICS_PORT": str(metrics_port),
        "METRICS_HOST": "127.0.0.1",
        "INVERTER_DEVICES": f"pi30+serial://{sim.pty}?name={device}",
        "INVERTER_POLL_SECONDS": str(POLL),
        "INVERTER_SLOW_POLL_SECONDS": "5",
        "INVERTER_TIMEOUT": "0.4",
        "INVERTER_RETRIES": "2",
        "LOG_LEVEL": "INFO",
        **extra,
    }
    reader = Reader(spawn(["run", "inverter"], env), metrics_port, device)
    wait_for(lambda: ready(metrics_port) or reader.proc.poll() is not None, 15, what="reader /ready")
    assert reader.proc.poll() is None, reader.output()
    return reader


def ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def last_state(rec: Recorder, device: str = "inv1") -> dict[str, Any]:
    raw = rec.last(f"solarstack/{device}/state")
    return json.loads(raw) if raw else {}

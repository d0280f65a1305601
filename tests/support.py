"""Test helpers every test directory shares: `wait_for`, `free_port` and `MqttRecorder`.

A plain module, not fixtures: tests/ is on sys.path (tests/conftest.py sits there), so any
test module or support module imports it as `support`. tests/conftest.py wraps `wait_for`
as a fixture too, for tests that prefer one.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 5.0,
    interval: float = 0.01,
    what: str = "",
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll `predicate` until it returns something truthy; return that, or fail the test on
    timeout. An exception of a type in `ignore` (say OSError while a server starts) counts as
    "not yet"; the last value or exception is shown on timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
        except ignore as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate!r} (last: {last!r})")
        time.sleep(interval)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Endpoint(Protocol):
    """A broker as the fixtures in tests/conftest.py give it."""

    host: str
    port: int


class MqttRecorder:
    """A plain paho subscriber recording every (topic, payload, retain) in arrival order.

    `persistent=True` keeps a session (QoS 1 messages queued for it across its reconnects and
    a broker restart). `subscribed` is set once the broker acknowledged the subscription.
    """

    def __init__(
        self,
        broker: Endpoint,
        topics: str | list[str] = "#",
        *,
        client_id: str | None = None,
        persistent: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        wanted = [(t, 1) for t in ([topics] if isinstance(topics, str) else topics)]
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"rec-{uuid.uuid4().hex[:8]}",
            clean_session=not persistent,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=0.3)  # type: ignore[arg-type]
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(wanted)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def payloads(self, topic: str | None = None) -> list[bytes]:
        """Every payload on `topic` (on any topic if None), oldest first."""
        with self.lock:
            return [p for t, p, _ in self.messages if topic is None or t == topic]

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _, _ in self.messages]

    def last(self, topic: str) -> bytes | None:
        found = self.payloads(topic)
        return found[-1] if found else None

    def text(self, topic: str) -> str | None:
        raw = self.last(topic)
        return raw.decode() if raw is not None else None

    def json(self, topic: str) -> Any:
        """The latest payload on `topic`, decoded; None if none (or an empty, cleared retain)."""
        raw = self.last(topic)
        return json.loads(raw) if raw else None

    def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

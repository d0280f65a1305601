"""Services layer: the collector's MQTT link — core/mqtt.py's MqttClient with manual acks.

What it changes on MqttClient (a subclass, so reconnects, backoff, TLS, auth and restoring
subscriptions stay one implementation):

- a persistent session (clean_session off) under a fixed client id, so the broker queues
  QoS 1 messages while the collector is away;
- manual acknowledgement (paho 2 `manual_ack_set`): the PUBACK of a message is sent by
  `ack()` only after its point is stored in the sink or in the disk spool, so a collector
  killed with SIGKILL gets every unfinished message again from the broker;
- every message goes to one callback with its paho message (its `mid` is needed for the
  ack); topic filters may be shared (`$share/<group>/…`), which paho's `topic_matches_sub`
  in MqttClient's dispatch would not match.

Must not parse payloads or write anywhere: pipeline.py does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from solarstack.core.mqtt import MqttClient
from solarstack.core.settings import CommonSettings

log = logging.getLogger(__name__)

OnMessage = Callable[[paho.MQTTMessage], None]


def _unused(topic: str, payload: bytes) -> None:  # MqttClient wants a handler per filter
    raise AssertionError("AckingMqttClient delivers through on_message")


class AckingMqttClient(MqttClient):
    """A persistent session whose messages are acknowledged by `ack()`, not on arrival."""

    def __init__(self, settings: CommonSettings, client_id: str, on_message: OnMessage) -> None:
        super().__init__(settings, client_id, persistent_session=True)
        self._deliver = on_message
        self._client.manual_ack_set(True)
        self._unsubscribed = threading.Condition()
        self._unsubacks: set[int] = set()
        self._client.on_unsubscribe = self._on_unsubscribe

    def subscribe_all(self, filters: list[str]) -> None:
        """Subscribe (QoS 1) now and after every reconnect, in this order."""
        for topic_filter in filters:
            self.subscribe(topic_filter, _unused)

    def leave(self, topic_filter: str, timeout: float) -> bool:
        """Unsubscribe and wait (bounded) for the broker's UNSUBACK: True once it came. Used
        to leave a shared group on a graceful stop, so the broker gives this member's share to
        the others instead of queueing it in our session until we return."""
        mid = self.unsubscribe(topic_filter)
        if mid is None:
            return False
        with self._unsubscribed:  # the UNSUBACK may come before we get here: hence a set
            return self._unsubscribed.wait_for(lambda: mid in self._unsubacks, timeout)

    def _on_unsubscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        with self._unsubscribed:
            self._unsubacks.add(mid)
            self._unsubscribed.notify_all()

    def ack(self, mid: int, qos: int) -> None:
        """Send the PUBACK of message `mid` (any thread; no-op for QoS 0)."""
        if qos > 0:
            self._client.ack(mid, qos)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            self._deliver(message)
        except Exception:
            # not acknowledged: the broker sends it again after the next reconnect
            log.exception("collector failed on a message on %s", message.topic)

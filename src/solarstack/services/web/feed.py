"""Service layer (web): the one MQTT subscriber that feeds the store, history and command waiters.

Topics (DESIGN.md MQTT contract): `<prefix>/<device>/state`, `<prefix>/<device>/availability`,
`<ha prefix>/device/<device>/config`, and the read-back results
`<prefix>/<device>/set/<setting>/result` and `<prefix>/<device>/query/result`. Handlers run on
the MQTT client's network thread, so they only parse and hand over; a bad payload is
logged and dropped, never raised into the client. This module must not serve HTTP.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any, Protocol

from solarstack.services.web.catalog import parse_discovery
from solarstack.services.web.history import History
from solarstack.services.web.store import StateStore

log = logging.getLogger(__name__)

_DEVICE = re.compile(r"^[a-z0-9_]+$")


class Bus(Protocol):
    """The part of core.mqtt.MqttClient the web uses."""

    @property
    def connected(self) -> bool: ...

    def subscribe(self, topic_filter: str, handler: Callable[[str, bytes], None]) -> None: ...

    def publish(self, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False) -> None: ...

    def publish_now(self, topic: str, payload: str | bytes, qos: int = 1) -> bool: ...


class ResultSink(Protocol):
    def deliver(self, topic: str, result: dict[str, Any]) -> None: ...


class Feed:
    """Subscribes once and routes every message to the store, history or a waiting command."""

    def __init__(
        self, store: StateStore, history: History, results: ResultSink, prefix: str, discovery_prefix: str
    ) -> None:
        self.store = store
        self.history = history
        self.results = results
        self.prefix = prefix.rstrip("/")
        self.discovery_prefix = discovery_prefix.rstrip("/")

    def attach(self, bus: Bus) -> None:
        p = self.prefix
        bus.subscribe(f"{p}/+/state", self.on_state)
        bus.subscribe(f"{p}/+/availability", self.on_availability)
        bus.subscribe(f"{self.discovery_prefix}/device/+/config", self.on_discovery)
        bus.subscribe(f"{p}/+/set/+/result", self.on_result)
        bus.subscribe(f"{p}/+/query/result", self.on_result)

    def _device(self, topic: str, index: int) -> str | None:
        parts = topic.split("/")
        device = parts[index] if len(parts) > abs(index) else ""
        return device if _DEVICE.match(device) else None

    def on_state(self, topic: str, payload: bytes) -> None:
        device = self._device(topic, -2)
        data = _json_object(topic, payload)
        if device is None or data is None:
            return
        self.store.update_state(device, data)
        self.history.record(device, data)

    def on_availability(self, topic: str, payload: bytes) -> None:
        device = self._device(topic, -2)
        if device is not None:
            self.store.update_availability(device, payload.decode(errors="replace").strip() or "unknown")

    def on_discovery(self, topic: str, payload: bytes) -> None:
        device = self._device(topic, -2)
        if device is None:
            return
        if not payload:  # an empty retained payload removes the device from HA: forget its labels
            self.store.update_catalog(device, None)
            return
        data = _json_object(topic, payload)
        if data is not None:
            self.store.update_catalog(device, parse_discovery(device, data))

    def on_result(self, topic: str, payload: bytes) -> None:
        data = _json_object(topic, payload)
        if data is not None:
            self.results.deliver(topic, data)


def _json_object(topic: str, payload: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        log.warning("ignoring non-JSON payload on %s", topic)
        return None
    if not isinstance(data, dict):
        log.warning("ignoring non-object JSON on %s", topic)
        return None
    return data

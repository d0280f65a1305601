"""Service layer (web): the one MQTT subscriber that feeds the store, history and command waiters.

Topics (core/topics.py): `<prefix>/<device>/state`, `<prefix>/<device>/availability`, the
device catalogue `<prefix>/<device>/catalog` (core/catalog.py: titles, units, roles, settings;
never Home Assistant discovery, so the web works with HA_DISCOVERY=off), and the read-back
results `…/set/<setting>/result`, `…/query/result` and `…/refresh/result`. Handlers run on
the MQTT client's network thread, so they only parse and hand over; a bad payload is
logged and dropped, never raised into the client. This module must not serve HTTP.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any, Protocol

from solarstack.core import catalog
from solarstack.core.topics import Topics
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

    def __init__(self, store: StateStore, history: History, results: ResultSink, topics: Topics) -> None:
        self.store = store
        self.history = history
        self.results = results
        self.topics = topics

    def attach(self, bus: Bus) -> None:
        t = self.topics
        bus.subscribe(t.all("state"), self.on_state)
        bus.subscribe(t.all("availability"), self.on_availability)
        bus.subscribe(t.all("catalog"), self.on_catalog)
        for kind in ("set_result", "query_result", "refresh_result"):
            bus.subscribe(t.all(kind), self.on_result)

    def _device(self, topic: str) -> str | None:
        parsed = self.topics.parse(topic)
        return parsed.device if parsed is not None and _DEVICE.match(parsed.device) else None

    def on_state(self, topic: str, payload: bytes) -> None:
        device = self._device(topic)
        data = _json_object(topic, payload)
        if device is None or data is None:
            return
        self.store.update_state(device, data)
        self.history.record(device, data)

    def on_availability(self, topic: str, payload: bytes) -> None:
        device = self._device(topic)
        if device is not None:
            self.store.update_availability(device, payload.decode(errors="replace").strip() or "unknown")

    def on_catalog(self, topic: str, payload: bytes) -> None:
        device = self._device(topic)
        if device is None:
            return
        if not payload:  # an empty retained payload: the device is gone, so are its labels
            self.store.update_catalog(device, None)
            return
        try:
            parsed = catalog.parse(payload)
        except ValueError as exc:
            log.warning("ignoring the catalogue on %s: %s", topic, exc)
            return
        if parsed.id and parsed.id != device:
            log.warning("ignoring the catalogue on %s: it describes %r", topic, parsed.id)
            return
        self.store.update_catalog(device, parsed)

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

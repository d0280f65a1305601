"""Service layer (web): the latest state of every device and its catalogue, shared by all request threads.

What `/api/data` shows of a device is built here from the parsed `core.catalog.Catalog`
(`field_json`, `setting_json`: the catalogue's rows under the keys the pages read).

One MQTT subscriber thread writes (see feed.py); gunicorn's request threads read.
Every access goes through one lock. Live-stream clients each get their own bounded
queue: a slow browser loses its oldest events, never blocks the subscriber or other
clients. This module must not do I/O (no MQTT, no HTTP) and holds no module state.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from solarstack.core.catalog import Catalog, FieldInfo, SettingInfo


@dataclass
class DeviceState:
    device: str
    state: dict[str, Any] = field(default_factory=dict)
    availability: str = "unknown"
    received: float | None = None  # monotonic time the last state arrived
    catalog: Catalog | None = None


class StateStore:
    """Lock-guarded map device -> DeviceState, with a fan-out to live-stream queues."""

    def __init__(self, stale_seconds: float = 180.0, queue_size: int = 64, clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._devices: dict[str, DeviceState] = {}
        self._clients: set[queue.Queue[str]] = set()
        self._stale = stale_seconds
        self._queue_size = queue_size
        self._clock = clock
        self._version = 0
        self._cache: tuple[int, int, bytes] | None = None  # (version, second, /api/data body)
        self._closed = threading.Event()

    # -- writes (the subscriber thread) --------------------------------------------

    def update_state(self, device: str, state: Mapping[str, Any]) -> None:
        with self._lock:
            entry = self._devices.setdefault(device, DeviceState(device))
            entry.state = dict(state)
            entry.received = self._clock()
            self._version += 1
            event = self._event(entry)
        self._broadcast("state", event)

    def update_availability(self, device: str, availability: str) -> None:
        with self._lock:
            entry = self._devices.setdefault(device, DeviceState(device))
            entry.availability = availability
            self._version += 1
            # a system's units share its link: they go (and come back) with it
            events = [self._event(e) for e in (entry, *self._units_of(device))]
        for event in events:
            self._broadcast("state", event)

    def update_catalog(self, device: str, catalog: Catalog | None) -> None:
        with self._lock:
            entry = self._devices.setdefault(device, DeviceState(device))
            entry.catalog = catalog
            self._version += 1
        self._broadcast("catalog", {"device": device})

    # -- reads (request threads) ---------------------------------------------------

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    def devices(self) -> list[str]:
        with self._lock:
            return sorted(self._devices)

    def catalog(self, device: str) -> Catalog | None:
        with self._lock:
            entry = self._devices.get(device)
            return entry.catalog if entry else None

    def availability(self, device: str) -> str:
        with self._lock:
            entry = self._devices.get(device)
            return self._availability(entry) if entry else "unknown"

    def _units_of(self, device: str) -> list[DeviceState]:
        return [e for e in self._devices.values() if e.catalog is not None and e.catalog.via_device == device]

    def _availability(self, entry: DeviceState) -> str:
        """A unit of a system is offline while the system is: one link reads them all, and
        MQTT has one last will per connection — the system's (its units' own topics would
        still say `online` after the reader died)."""
        via = entry.catalog.via_device if entry.catalog else None
        system = self._devices.get(via) if via else None
        if system is not None and system.availability == "offline":
            return "offline"
        return entry.availability

    def state(self, device: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._devices.get(device)
            return dict(entry.state) if entry and entry.state else None

    def snapshot(self) -> dict[str, Any]:
        """Everything the pages need: per device state, labels, settings, availability, age."""
        with self._lock:
            return {
                "devices": {name: self._device_json(entry) for name, entry in sorted(self._devices.items())},
                "version": self._version,
            }

    def snapshot_json(self) -> bytes:
        """`snapshot()` serialised, cached until the store changes or a second passes (ages move)."""
        now = int(self._clock())
        with self._lock:
            cached = self._cache
            if cached is not None and cached[0] == self._version and cached[1] == now:
                return cached[2]
        body = json.dumps(self.snapshot(), separators=(",", ":")).encode()
        with self._lock:
            self._cache = (self._version, now, body)
        return body

    def _device_json(self, entry: DeviceState) -> dict[str, Any]:
        age = None if entry.received is None else max(0.0, self._clock() - entry.received)
        catalog = entry.catalog
        device = catalog.device if catalog else {}
        return {
            "name": catalog.name if catalog else entry.device,
            "kind": catalog.kind if catalog else None,
            "protocol": device.get("protocol"),
            "manufacturer": device.get("manufacturer"),
            "model": device.get("model") or "",
            "via_device": catalog.via_device if catalog else None,
            "units": list(catalog.units) if catalog else [],
            "totals": catalog.totals if catalog else {},
            "availability": self._availability(entry),
            "age_s": None if age is None else round(age, 1),
            "stale": self._is_stale(entry, age),
            "state": entry.state,
            "fields": {k: field_json(f) for k, f in catalog.fields.items()} if catalog else {},
            "settings": {k: setting_json(s) for k, s in catalog.settings.items()} if catalog else {},
            "queries": list(catalog.queries) if catalog else [],
        }

    def _is_stale(self, entry: DeviceState, age: float | None) -> bool:
        """No state for WEB_STALE_SECONDS, or for three of the device's own intervals when
        it polls slower (weather: every 10 min); or the reader itself marked its last good
        state stale (a fetch failed and it re-sent what it had)."""
        if age is None:
            return True
        interval = entry.catalog.interval if entry.catalog else None
        limit = max(self._stale, 3 * interval) if interval else self._stale
        return age > limit or (entry.state or {}).get("stale") is True

    def _event(self, entry: DeviceState) -> dict[str, Any]:
        return {
            "device": entry.device,
            "availability": self._availability(entry),
            "state": entry.state,
            "stale": self._is_stale(entry, 0.0 if entry.received is not None else None),
            "age_s": 0.0 if entry.received is not None else None,
        }

    # -- live stream ----------------------------------------------------------------

    @contextmanager
    def listen(self) -> Iterator[queue.Queue[str]]:
        """A bounded queue of ready-to-send SSE event texts for one client, removed on exit."""
        q: queue.Queue[str] = queue.Queue(self._queue_size)
        with self._lock:
            self._clients.add(q)
        try:
            yield q
        finally:
            with self._lock:
                self._clients.discard(q)

    @property
    def client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Wake every stream so it ends (shutdown)."""
        self._closed.set()
        self._broadcast("bye", {})

    def _broadcast(self, event: str, data: Mapping[str, Any]) -> None:
        text = f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
        with self._lock:
            clients = list(self._clients)
        for q in clients:
            try:
                q.put_nowait(text)
            except queue.Full:
                # A slow client: drop its oldest event rather than block the subscriber.
                try:
                    q.get_nowait()
                    q.put_nowait(text)
                except (queue.Empty, queue.Full):
                    pass


def field_json(f: FieldInfo) -> dict[str, Any]:
    """One field as /api/data shows it: the catalogue's row under the keys the pages read."""
    return {
        "name": f.title,
        "unit": f.unit,
        "device_class": f.device_class,
        "kind": f.kind,
        "precision": f.precision,
        "diagnostic": f.diagnostic,
        "role": f.role,
        "group": f.group,
        "size": f.size,
        "options": list(f.options) if f.options is not None else None,
    }


def setting_json(s: SettingInfo) -> dict[str, Any]:
    """One setting as /api/data shows it (`state_key`: the state field holding its current value)."""
    return {
        "name": s.title,
        "component": "select" if s.options else "number",
        "options": list(s.options or ()),
        "min": s.minimum,
        "max": s.maximum,
        "step": s.step,
        "unit": s.unit,
        "state_key": s.readback,
    }

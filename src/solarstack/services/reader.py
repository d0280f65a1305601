"""Services layer: the generic reader — one device, its poller and its MQTT session.

Every hardware reader (inverter, bms, house) runs one `DeviceReader` per device:

    poller (asyncio task) ──fetch──> device.query()  in a worker thread, one at a time
        │ on_result
        ├─ merged state ──> solarstack/<device>/state      (retained JSON, ts + fields)
        ├─ energy counters (kWh, persisted)  ──> merged into the same state
        ├─ metrics.export_reading()          ──> /metrics gauges
        └─ availability ──> solarstack/<device>/availability (LWT offline, online)
    MQTT (paho thread) ──> set/<setting>, query, homeassistant/status
        └─ handed to the event loop, run under the same device lock as polls

It must not know any protocol: field tables, settings and commands come from the
device object. Discovery is re-sent on every (re)connect, on Home Assistant's birth
message and whenever a firmware reveals fields we had not seen (extra_N).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from solarstack import __version__
from solarstack.core import discovery
from solarstack.core.energy import Counter, EnergyCounters
from solarstack.core.errors import TransportError
from solarstack.core.fields import Field, FieldTable, Reading, Value
from solarstack.core.health import Readiness
from solarstack.core.metrics import ServiceMetrics
from solarstack.core.mqtt import MqttClient
from solarstack.core.poller import CircuitBreaker, Poller, Schedule
from solarstack.core.settings import CommonSettings
from solarstack.devices.base import Device, SetResult

log = logging.getLogger(__name__)
T = TypeVar("T")

CONNECT_GRACE_SECONDS = 2.0


def iso(ts: datetime) -> str:
    """ISO-8601 UTC with a Z, millisecond precision: the `ts` of every state message."""
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def readiness(readers: Sequence[DeviceReader]) -> Readiness:
    """A reader service is ready once it reaches the broker and one of its devices answered."""
    if not any(r.mqtt.connected for r in readers):
        return Readiness(False, "not connected to the MQTT broker")
    if not any(r.ready.is_set() for r in readers):
        return Readiness(False, f"no answer yet from {', '.join(r.device.id for r in readers)}")
    return Readiness(True)


class DeviceReader:
    """Polls one device and publishes it (see module doc)."""

    def __init__(
        self,
        settings: CommonSettings,
        device: Device,
        schedules: Sequence[Schedule],
        *,
        info: discovery.DeviceInfo,
        metrics: ServiceMetrics | None = None,
        counters: Sequence[Counter] = (),
        energy_command: str | None = None,
        allow_settings: bool = True,
        retries: int = 3,
        breaker: CircuitBreaker | None = None,
        poll_timeout: float | None = None,
        max_gap_polls: float = 3.0,
    ) -> None:
        self.settings = settings
        self.device = device
        self.schedules = tuple(schedules)
        self.info = info
        self.metrics = metrics
        self.allow_settings = allow_settings
        self.prefix = settings.mqtt_prefix
        self.topic = f"{self.prefix}/{device.id}"
        self.state: dict[str, Value] = {}
        self.ready = asyncio.Event()  # set after the first successful poll
        self._io = asyncio.Lock()  # one exchange at a time on the device's link
        self._link_lost = False  # a call failed on the link: the next success counts a reconnect
        self._loop: asyncio.AbstractEventLoop | None = None
        self._extra_fields: dict[str, Field] = {}
        self._published_discovery: list[discovery.Message] = []  # what the device has now
        self._sent_discovery: dict[str, str] = {}  # topic -> last payload sent (removals included)
        # every (topic, payload) this process sent: our own messages come back from the broker
        # (we subscribe to read stale copies) and must not be taken for stale ones
        self._ours: set[tuple[str, int]] = set()
        self._energy_command = energy_command
        interval = min((s.every for s in self.schedules if s.command == energy_command), default=60.0)
        self.energy = (
            EnergyCounters(
                Path(settings.state_dir) / f"energy-{device.id}.json",
                counters=counters,
                max_gap=max_gap_polls * interval + 5.0,
            )
            if counters
            else None
        )
        self.mqtt = MqttClient(
            settings,
            f"solarstack-{device.id}",
            will_topic=discovery.availability_topic(self.prefix, device.id),
            spool_dir=Path(settings.state_dir) / "spool",
            on_connect=self._on_connect,
        )
        self.poller: Poller[Reading] = Poller(
            device.id,
            self.schedules,
            self._fetch,
            self._on_result,
            retries=retries,
            timeout=poll_timeout,
            breaker=breaker,
            on_available=self._on_available,
            metrics=metrics,
        )

    # -- the table of everything this device reports -------------------------------------

    def fields(self) -> FieldTable:
        seen: dict[str, Field] = {}
        for s in self.schedules:
            for f in self.device.table(s.command):
                seen.setdefault(f.key, f)
        for f in self._extra_fields.values():
            seen.setdefault(f.key, f)
        if self.energy is not None:
            for f in self.energy.fields:
                seen.setdefault(f.key, f)
        return tuple(seen.values())

    def discovery_messages(self) -> list[discovery.Message]:
        array_sizes = {k: len(v) for k, v in self.state.items() if isinstance(v, list)}
        return discovery.build_discovery(
            self.settings.ha_discovery,
            self.prefix,
            self.settings.ha_discovery_prefix,
            self.info,
            self.fields(),
            self.device.settings() if self.allow_settings else (),
            origin_version=__version__,
            array_sizes=array_sizes,
        )

    def publish_discovery(self) -> None:
        """Send all of it: on (re)connect, on HA's birth, when the field set grew."""
        current = self.discovery_messages()
        self._send_discovery(discovery.with_removals(self._published_discovery, current), force=True)
        self._published_discovery = current

    def _send_discovery(self, messages: Sequence[discovery.Message], *, force: bool = False) -> None:
        for topic, payload in messages:
            if force or self._sent_discovery.get(topic) != payload:
                self.mqtt.publish(topic, payload, qos=1, retain=True)
                self._sent_discovery[topic] = payload
                self._ours.add((topic, hash(payload)))

    def _on_discovery_seen(self, topic: str, payload: str) -> None:
        """A discovery message for this device came from the broker: our own echo, or the
        retained copy an earlier run left. A copy that is not what we sent is stale: its
        entities that no longer exist (fields of a command no longer polled, a firmware's
        old extras) are removed in Home Assistant, as if this process had published it."""
        if not payload or (topic, hash(payload)) in self._ours:
            return
        current = self._published_discovery or self.discovery_messages()
        self._send_discovery(discovery.with_removals([(topic, payload)], current))

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self.mqtt.subscribe(f"{self.topic}/set/+", self._on_set_message)
        self.mqtt.subscribe(f"{self.topic}/query", self._on_query_message)
        birth_topic, birth_handler = discovery.on_ha_birth(
            self.settings.ha_discovery_prefix, lambda: self._call_soon(self.publish_discovery)
        )
        self.mqtt.subscribe(birth_topic, birth_handler)
        for topic_filter in discovery.discovery_subscriptions(self.settings.ha_discovery_prefix, self.device.id):
            self.mqtt.subscribe(
                topic_filter, lambda t, p: self._call_soon(self._on_discovery_seen, t, p.decode("utf-8", "replace"))
            )
        self.mqtt.start()
        # Give the broker a moment, so the first readings go straight to it rather than
        # through the disk spool; a broker that is down costs only this bounded wait.
        await asyncio.to_thread(self.mqtt.wait_connected, CONNECT_GRACE_SECONDS)
        try:
            await self.poller.run(stop)
        finally:
            if self.energy is not None:
                self.energy.close()
            await self._locked(self.device.close)
            await asyncio.to_thread(self.mqtt.stop)

    def _call_soon(self, fn: Any, *args: Any) -> None:
        """Hand work from paho's network thread to the event loop."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_connect(self) -> None:  # paho thread
        self._call_soon(self.publish_discovery)
        if self.poller.available is False:
            self._call_soon(self._on_available, False)

    def _on_available(self, up: bool) -> None:
        topic = discovery.availability_topic(self.prefix, self.device.id)
        self.mqtt.publish(topic, "online" if up else "offline", 1, True)

    # -- polling -----------------------------------------------------------------------------

    async def _locked(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking device call in a worker thread, one at a time on this link.

        A thread cannot be interrupted: if the caller is cancelled (the poller's timeout),
        the lock is held until the call returns, so the next exchange never overlaps it.
        """
        async with self._io:
            call = asyncio.ensure_future(asyncio.to_thread(fn, *args))
            try:
                return await asyncio.shield(call)
            except asyncio.CancelledError:
                await asyncio.wait([call])
                raise

    async def _fetch(self, command: str) -> Reading:
        try:
            reading = await self._locked(self.device.query, command)
        except TransportError:
            self._link_lost = True  # devices close the link on these; the next call reopens it
            raise
        if self._link_lost:
            self._link_lost = False
            if self.metrics is not None:
                self.metrics.reconnect(self.device.id)
        return reading

    def _on_result(self, command: str, reading: Reading) -> None:
        values = dict(reading.values)
        fields = reading.fields
        grew = False
        known = {f.key for f in self.fields()}
        for f in fields:
            if f.key not in known:
                self._extra_fields[f.key] = f
                grew = True
        if self.energy is not None and command == self._energy_command:
            extra = self.energy.update(reading.ts, values)
            values.update(extra)
            fields = fields + self.energy.fields
        self.state.update(values)
        self.state["ts"] = iso(reading.ts)
        self._publish_state()
        if self.metrics is not None:
            self.metrics.export_reading(Reading(reading.device, reading.ts, values, fields))
        if grew:
            self.publish_discovery()
        self.ready.set()

    def _publish_state(self) -> None:
        payload = {"ts": self.state.get("ts"), **{k: v for k, v in self.state.items() if k != "ts"}}
        self.mqtt.publish(f"{self.topic}/state", json.dumps(payload, separators=(",", ":")), 1, True)

    # -- commands from MQTT ------------------------------------------------------------------

    def _on_set_message(self, topic: str, payload: bytes) -> None:  # paho thread
        setting = topic.rsplit("/", 1)[-1]
        value = payload.decode("utf-8", "replace").strip()
        self._call_soon(lambda: asyncio.ensure_future(self._apply(setting, value)))

    def _on_query_message(self, topic: str, payload: bytes) -> None:  # paho thread
        command = payload.decode("utf-8", "replace").strip()
        self._call_soon(lambda: asyncio.ensure_future(self._query(command)))

    async def _apply(self, setting: str, value: str) -> None:
        if not self.allow_settings:
            result = SetResult(False, setting, value, "settings are disabled on this reader")
        else:
            result = await self._locked(self.device.apply, setting, value)
        self.mqtt.publish(f"{self.topic}/set/{setting}/result", json.dumps(result.payload()), 1, False)
        if result.ok and result.readback:
            self.state.update(result.readback)
            self._publish_state()

    async def _query(self, command: str) -> None:
        out: dict[str, Any] = {"ok": False, "command": command, "fields": None, "error": None}
        if not self.device.is_query(command):
            out["error"] = f"{command!r} is not an allowed read-only query"
        else:
            try:
                reading = await self._locked(self.device.query, command)
                out.update(ok=True, fields=reading.values)
            except Exception as exc:  # reported to the asker; the reader goes on
                out["error"] = str(exc)
        self.mqtt.publish(f"{self.topic}/query/result", json.dumps(out), 1, False)

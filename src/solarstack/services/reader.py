"""Services layer: the generic reader — one device, its poller and its MQTT session.

Every hardware reader (inverter, bms, house) runs one `DeviceReader` per device:

    poller (asyncio task) ──fetch──> device.query()  in a worker thread, one at a time
        │ on_result
        ├─ merged state ──> solarstack/<device>/state      (retained JSON, ts + fields)
        ├─ energy counters (kWh, persisted)  ──> merged into the same state
        ├─ metrics.export_reading()          ──> /metrics gauges
        └─ availability ──> solarstack/<device>/availability (LWT offline, online)
    MQTT (paho thread) ──> set/<setting>, query, homeassistant/status
        └─ handed to the event loop: checked (size, age, live not retained), rate-limited,
           queued (bounded), then run one at a time under the same device lock as polls

It must not know any protocol: field tables, settings and commands come from the
device object. Discovery is re-sent on every (re)connect, on Home Assistant's birth
message and whenever a firmware reveals fields we had not seen (extra_N).

Commands never replay and never starve the polls: a retained copy on a command topic
is ignored (it would run again at every restart), an envelope older than
`core.command.MAX_AGE_SECONDS` is refused, a burst beyond the token bucket or the
queue bound gets a "busy" result at once, and the device lock is FIFO, so a poll
waits for at most the one command in progress. `/ready` turns false when the poll
loop has not come round for `stall_after` seconds.

Energy counters never go down across a restart: the reader reads its own retained
state back from the broker and raises its counters to it before it publishes any
(a crash loses up to a minute since the last checkpoint; the broker does not).

What a user shaped (core/shaping.py: include/exclude, titles, multipliers, excluded
sub-devices) is applied here and only here, to what leaves the process: `fields()` (so the
catalogue, discovery and metrics names), the state payloads and the metrics export. The
reader's own `state`, its energy counters and the units' totals stay in the device's units;
a retained state read back as the counters' floor is unshaped first. An excluded unit is
read (it counts in the totals) but nothing of it is published.

A device that is a parallel system (its optional `parallel()`: devices/parallel.py)
publishes one more device per unit over the same session — `<device>_unitN` with its own
state, energy counters, catalogue and discovery, `via_device` the system — and the system
device gets the totals once the last unit of a round answered (`_UnitOut`). A device
without it is published exactly as before. A system whose units come inside its own answer
(a Hoymiles DTU: `Reading.units`) is the same, with units taken on as they first appear
(`_adopt_units`: a DTU's inverters are known only from its answers).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from solarstack import __version__
from solarstack.core import catalog, command, discovery
from solarstack.core.energy import EnergyCounters
from solarstack.core.errors import ConfigError, SettingError, SolarstackError, TransportError
from solarstack.core.fields import Field, FieldTable, Reading, Value
from solarstack.core.health import Readiness
from solarstack.core.metrics import ServiceMetrics
from solarstack.core.mqtt import MqttClient, reconnect_delay_for
from solarstack.core.poller import CircuitBreaker, Poller, Schedule
from solarstack.core.ratelimit import TokenBucket
from solarstack.core.settings import CommonSettings
from solarstack.core.shaping import Shape, check_table
from solarstack.core.topics import Topics
from solarstack.devices.base import Device, Identity, SetResult
from solarstack.devices.parallel import ParallelSystem, Unit

log = logging.getLogger(__name__)
audit = logging.getLogger("solarstack.audit")
T = TypeVar("T")

CONNECT_GRACE_SECONDS = 2.0
#: After connecting, how long the reader waits at most for its own retained state (the
#: counters' floor) before it publishes counters anyway (normally one round trip: see run()).
FLOOR_GRACE_SECONDS = 5.0
#: Commands per device: a burst of this many, then one every COMMAND_INTERVAL seconds;
#: at most COMMAND_QUEUE waiting. Beyond either: a "busy" result, nothing queued.
COMMAND_BURST = 5
COMMAND_INTERVAL = 2.0
COMMAND_QUEUE = 8
#: Busy refusals are logged once, then counted in one line at most this often.
BUSY_LOG_SECONDS = 10.0
#: A setting name from a topic level is a slug; anything else gets no result topic echoed.
SETTING_NAME = re.compile(r"[a-z0-9_]{1,64}")


class _Job(NamedTuple):
    """One admitted command: where its result goes, and the work."""

    result_topic: str
    run: Callable[[], Awaitable[dict[str, Any]]]
    failed: Callable[[str], dict[str, Any]]  # the result payload when the work raised


def iso(ts: datetime) -> str:
    """ISO-8601 UTC with a Z, millisecond precision: the `ts` of every state message."""
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def readiness(readers: Sequence[DeviceReader]) -> Readiness:
    """A reader service is ready once it reaches the broker and one of its devices answered."""
    if not any(r.mqtt.connected for r in readers):
        return Readiness(False, "not connected to the MQTT broker")
    if not any(r.ready.is_set() for r in readers):
        return Readiness(False, f"no answer yet from {', '.join(r.device.id for r in readers)}")
    stalled = [r.device.id for r in readers if r.poller.stalled(r.stall_after)]
    if stalled:
        return Readiness(False, f"polls stalled on {', '.join(stalled)}")
    return Readiness(True)


class _UnitOut:
    """One unit of a parallel system as an MQTT device of its own: its state, energy
    counters and what was last sent for it (the system's reader publishes it)."""

    def __init__(self, unit: Unit, system: ParallelSystem, energy: EnergyCounters) -> None:
        self.unit = unit
        self.table = unit.table if unit.table is not None else system.unit_table
        self.energy = energy
        self.state: dict[str, Value] = {}
        self.latest: dict[str, Value] = {}  # the last reading with its derived powers (for the totals)
        self.latest_ts: datetime | None = None
        self.extra: dict[str, Field] = {}
        self.online = False
        self.info: discovery.DeviceInfo | None = None

    def fields(self) -> FieldTable:
        seen: dict[str, Field] = {f.key: f for f in self.table}
        for f in (*self.extra.values(), *self.energy.fields):
            seen.setdefault(f.key, f)
        return tuple(seen.values())


class DeviceReader:
    """Polls one device and publishes it (see module doc)."""

    def __init__(
        self,
        settings: CommonSettings,
        device: Device,
        schedules: Sequence[Schedule],
        *,
        name: str | None = None,
        metrics: ServiceMetrics | None = None,
        allow_settings: bool = True,
        retries: int = 3,
        breaker: CircuitBreaker | None = None,
        poll_timeout: float | None = None,
        max_gap_polls: float = 3.0,
        stall_after: float | None = None,
        commands: TokenBucket | None = None,
        mark_stale: bool = False,
        shape: Shape | None = None,
    ) -> None:
        for s in schedules:
            if not device.is_query(s.command):
                # a setter in the schedule would be sent on every poll (PF: a factory reset)
                raise ConfigError(
                    f"{device.id}: {s.command!r} is not a read-only query; the poll schedule takes queries only"
                )
        self.settings = settings
        self.device = device
        self.schedules = tuple(schedules)
        # what the user shaped (core/shaping.py): applied to what leaves the process (fields(),
        # the state payloads, the metrics export); self.state and energy counters stay raw
        self.shape = shape or Shape()
        if allow_settings:
            self.shape.check_settings(device.id, device.settings())
        check_table(device.id, self.shape, (f for s in self.schedules for f in device.table(s.command)))
        fastest = min((s.every for s in self.schedules), default=60.0)
        self.stall_after = stall_after if stall_after is not None else max(60.0, 3 * fastest)
        self._commands = commands or TokenBucket(1 / COMMAND_INTERVAL, COMMAND_BURST)
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(COMMAND_QUEUE)
        self._busy_refused = 0
        self._busy_logged_at = -BUSY_LOG_SECONDS
        self.name = name or device.id.replace("_", " ").title()
        # a poll that failed all its attempts re-sends the last state with `stale: true` (a device
        # whose readings say `stale: false`, like the weather: its last forecast stays useful)
        self.mark_stale = mark_stale
        self.info = self._device_info(Identity())
        self._identified = False  # identity asked again once the first reading is in
        self._introduced = False  # identity asked at start: catalogue and discovery may go out
        self._catalog_sent: str | None = None
        self.metrics = metrics
        self.allow_settings = allow_settings
        self._topics = Topics(settings.mqtt_prefix, settings.ha_discovery_prefix)
        self.prefix = settings.mqtt_prefix
        self._availability = self._topics.availability(device.id)
        self._sizes_sent: dict[str, int] = {}
        self.state: dict[str, Value] = {}
        self.ready = asyncio.Event()  # set after the first successful poll
        self._io = asyncio.Lock()  # one exchange at a time on the device's link
        self._link_lost = False  # a call failed on the link: the next success counts a reconnect
        self._loop: asyncio.AbstractEventLoop | None = None
        self._extra_fields: dict[str, Field] = {}
        self._published_discovery: list[discovery.Message] = []  # what the device has now
        self._stale: list[discovery.Message] = []  # retained copies an earlier run left
        self._sent_discovery: dict[str, str] = {}  # topic -> last payload sent (removals included)
        # every (topic, payload) this process sent: our own messages come back from the broker
        # (we subscribe to read stale copies) and must not be taken for stale ones
        self._ours: set[tuple[str, int]] = set()
        counters = device.counters()
        self._energy_command = device.energy_command
        interval = min((s.every for s in self.schedules if s.command == self._energy_command), default=60.0)
        self.energy = (
            EnergyCounters(
                Path(settings.state_dir) / f"energy-{device.id}.json",
                counters=counters,
                max_gap=max_gap_polls * interval + 5.0,
            )
            if counters
            else None
        )
        # counters are withheld from state until the retained copy was read back (or
        # FLOOR_GRACE_SECONDS after connecting showed there is none): see module doc
        self._floor_known = self.energy is None
        own = getattr(device, "parallel", None)  # optional: a single unit has none
        self.parallel: ParallelSystem | None = own() if callable(own) else None
        self._units: dict[str, _UnitOut] = {}
        self._max_gap = max_gap_polls * interval + 5.0
        if self.parallel is not None:
            self._units = {u.command: self._unit_out(u, self.parallel) for u in self.parallel.units}
            check_table(device.id, self.shape, (f for out in self._units.values() for f in out.table))
        self._floor_timer: asyncio.TimerHandle | None = None
        self.mqtt = MqttClient(
            settings,
            f"solarstack-{device.id}",
            will_topic=self._availability,
            spool_dir=Path(settings.state_dir) / "spool",
            on_connect=self._on_connect,
            reconnect_max_delay=reconnect_delay_for(fastest),
        )
        self.poller: Poller[Reading] = Poller(
            device.id,
            self.schedules,
            self._fetch,
            self._on_result,
            retries=retries,
            timeout=poll_timeout,
            breaker=breaker,
            on_failure=self._on_failure,
            on_available=self._on_available,
            metrics=metrics,
        )

    # -- the table of everything this device reports -------------------------------------

    def fields(self) -> FieldTable:
        """Every field as published (shaped): what catalogue, discovery and metrics show."""
        return self.shape.table(self._raw_fields())

    def _raw_fields(self) -> FieldTable:
        seen: dict[str, Field] = {}
        for s in self.schedules:
            if s.command in self._units:  # a unit's fields are its own device's
                continue
            for f in self.device.table(s.command):
                seen.setdefault(f.key, f)
        for f in self._extra_fields.values():
            seen.setdefault(f.key, f)
        if self.parallel is not None:
            for f in self.parallel.total_fields:
                seen.setdefault(f.key, f)
        if self.energy is not None:
            for f in self.energy.fields:
                seen.setdefault(f.key, f)
        return tuple(seen.values())

    def discovery_messages(self) -> list[discovery.Message]:
        array_sizes = self._array_sizes()
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

    def _device_info(self, identity: Identity) -> discovery.DeviceInfo:
        return discovery.DeviceInfo(
            id=self.device.id,
            name=self.name,
            manufacturer=identity.manufacturer,
            model=identity.model or self.device.protocol,
            sw_version=identity.sw_version,
            hw_version=identity.hw_version,
            serial_number=identity.serial_number,
        )

    def _identity(self, info: discovery.DeviceInfo, kind: str | None = None) -> dict[str, str | None]:
        """The catalogue's device block for `info` (this reader's device, or one of its units)."""
        return {
            "id": info.id,
            "name": info.name,
            "kind": kind or self.device.kind,
            "protocol": self.device.protocol,
            "manufacturer": info.manufacturer,
            "model": info.model,
            "serial_number": info.serial_number,
            "sw_version": info.sw_version,
            "via_device": info.via_device,
        }

    def catalog_message(self) -> str:
        """The device catalogue (core/catalog.py): what every consumer reads."""
        info = self.info
        return catalog.build(
            self._identity(info),
            self.fields(),
            self.device.settings() if self.allow_settings else (),
            (*self.device.queries(), *(s.command for s in self.schedules)),
            array_sizes=self._array_sizes(),
            interval=min((s.every for s in self.schedules), default=None),
            units=tuple(u.id for u in self._units_kept()),
            totals={t.field.key: t.source for t in self.parallel.totals_table if self.shape.keeps(t.field.key)}
            if self.parallel
            else None,
        )

    def _array_sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.state.items() if isinstance(v, list)}

    def publish_discovery(self) -> None:
        """Send all of it: on (re)connect, on HA's birth, when the field set grew. The
        catalogue goes out whatever HA_DISCOVERY says (the web and collector read it)."""
        cat = self.catalog_message()
        self.mqtt.publish(self._topics.catalog(self.device.id), cat, 1, True)
        self._catalog_sent = cat
        current = self.discovery_messages()
        # what this run published before, and the stale copies an earlier run left: both lose
        # the entities that are gone (re-sending must not undo an earlier removal)
        messages = discovery.with_removals(self._stale, discovery.with_removals(self._published_discovery, current))
        self._send_discovery(messages, force=True)
        self._published_discovery = current
        self._sizes_sent = self._array_sizes()
        for unit in self._units.values():
            if self._unit_kept(unit):
                self._publish_unit_discovery(unit)

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
        self._stale = [(t, p) for t, p in self._stale if t != topic] + [(topic, payload)]
        current = self._published_discovery or self.discovery_messages()
        self._send_discovery(discovery.with_removals([(topic, payload)], current))

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        # retained=False: a command left retained on the broker must not run at every start
        t = self._topics
        self.mqtt.subscribe(t.set(self.device.id, "+"), self._on_set_message, retained=False)
        self.mqtt.subscribe(t.query(self.device.id), self._on_query_message, retained=False)
        for refresh in (t.refresh(self.device.id), t.refresh()):
            self.mqtt.subscribe(refresh, lambda _, p: self._call_soon(self._admit_refresh), retained=False)
        if not self._floor_known:
            # Before the system's own state: its arrival settles the floor (_on_own_state), so
            # the units' retained copies, asked first, have come in by then.
            for unit in self._units.values():
                self.mqtt.subscribe(t.state(unit.unit.id), self._unit_state_handler(unit))
            self.mqtt.subscribe(t.state(self.device.id), lambda _, p: self._call_soon(self._on_own_state, p))
            # Subscribed after the state, and always retained (the client publishes `online`
            # before it subscribes): the broker hands its copy over after any retained state,
            # so its arrival settles the floor without waiting out FLOOR_GRACE_SECONDS.
            self.mqtt.subscribe(self._availability, lambda _, p: self._call_soon(self._settle_floor))
        birth_topic, birth_handler = discovery.on_ha_birth(
            self.settings.ha_discovery_prefix, lambda: self._call_soon(self._introduce)
        )
        self.mqtt.subscribe(birth_topic, birth_handler)
        for topic_filter in discovery.discovery_subscriptions(self.settings.ha_discovery_prefix, self.device.id):
            self.mqtt.subscribe(
                topic_filter, lambda t, p: self._call_soon(self._on_discovery_seen, t, p.decode("utf-8", "replace"))
            )
        self.mqtt.start()
        # Who the device is (an inverter is asked once; a pack tells with its readings).
        self.info = self._device_info(await self._locked(self.device.identify, {}))
        self._introduced = True
        if self.mqtt.connected:  # else the (re)connect sends them
            self.publish_discovery()
        # Give the broker a moment, so the first readings go straight to it rather than
        # through the disk spool; a broker that is down costs only this bounded wait.
        await asyncio.to_thread(self.mqtt.wait_connected, CONNECT_GRACE_SECONDS)
        worker = asyncio.create_task(self._serve_commands())
        try:
            await self.poller.run(stop)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            if self._floor_timer is not None:
                self._floor_timer.cancel()
            if self.energy is not None:
                self.energy.close()
            for unit in self._units.values():
                unit.energy.close()
                if self._unit_kept(unit):
                    self.mqtt.publish(self._topics.availability(unit.unit.id), "offline", 1, True)
            await self._locked(self.device.close)
            await asyncio.to_thread(self.mqtt.stop)

    async def once(self, sink: Any) -> list[str]:
        """`--dry-run`: who the device is, then every scheduled command polled once through the
        production path (retries, shaping, energy counters), with `sink` in place of the MQTT
        client: it gets every publish and connects nowhere. Returns the commands that got no
        answer. Call it instead of run(), on a reader whose STATE_DIR is a scratch one."""
        self._loop = asyncio.get_running_loop()
        self.mqtt = sink  # only publish() is called on this path
        self._floor_known = True  # no broker: no retained counters to read back
        try:
            self.info = self._device_info(await self._locked(self.device.identify, {}))
            self._introduced = True
            self.publish_discovery()
            commands = dict.fromkeys(s.command for s in self.schedules)
            return [c for c in commands if await self.poller.poll(c) is None]
        finally:
            if self.energy is not None:
                self.energy.close()
            for unit in self._units.values():
                unit.energy.close()
            await self._locked(self.device.close)

    def _call_soon(self, fn: Any, *args: Any) -> None:
        """Hand work from paho's network thread to the event loop."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_connect(self) -> None:  # paho thread
        self._call_soon(self._introduce)
        if not self._floor_known:
            self._call_soon(self._arm_floor_timer)
        if self.poller.available is False:
            self._call_soon(self._on_available, False)

    def _introduce(self) -> None:
        """Catalogue and discovery after a (re)connect, once the device said who it is: a
        consumer never sees a catalogue without the identity."""
        if self._introduced:
            self.publish_discovery()

    def _on_failure(self, command: str, error: Exception) -> None:
        if not self.mark_stale or not self.state or self.state.get("stale") is True:
            return
        self.state["stale"] = True
        self._publish_state()
        log.warning("%s: %s failed; the last good state stays published, marked stale", self.device.id, command)

    def _on_available(self, up: bool) -> None:
        self.mqtt.publish(self._availability, "online" if up else "offline", 1, True)
        if not up:  # the link is down: no unit answers either (each comes back with its next reading)
            for unit in self._units.values():
                unit.online = False
                if self._unit_kept(unit):
                    self.mqtt.publish(self._topics.availability(unit.unit.id), "offline", 1, True)

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

    async def _on_result(self, command: str, reading: Reading) -> None:
        unit = self._units.get(command)
        adopted = False
        if unit is not None:
            totals = self._on_unit_result(unit, reading)
            if totals is None:
                return
            reading = totals  # the system's reading of this round: fed to its counters below
        elif reading.units:  # the units came inside the system's own answer (a Hoymiles DTU)
            adopted = self._adopt_units()
            totals = None
            for sub in reading.units:
                out = next((u for u in self._units.values() if u.unit.id == sub.device), None)
                if out is not None:
                    totals = self._on_unit_result(out, sub) or totals
            if totals is not None:
                reading = reading._replace(
                    values={**reading.values, **totals.values}, fields=reading.fields + totals.fields
                )
        values = dict(reading.values)
        fields = reading.fields
        grew = False
        known = {f.key for f in self._raw_fields()}
        for f in fields:
            if f.key not in known:
                self._extra_fields[f.key] = f
                grew = True
        if self.energy is not None and command == self._energy_command:
            extra = self.energy.update(reading.ts, values)
            if self._floor_known:  # else withheld: it could be lower than what is retained
                values.update(extra)
                fields = fields + self.energy.fields
        self.state.update(values)
        self.state["ts"] = iso(reading.ts)
        self._publish_state()
        if self.metrics is not None:
            self.metrics.export_reading(self.shape.reading(Reading(reading.device, reading.ts, values, fields)))
        if not self._identified:
            # Packs tell model and firmware in their readings (and only then the cell count):
            # the first reading completes the device page. Inverters answered at start (cached).
            self._identified = True
            info = self._device_info(await self._locked(self.device.identify, dict(self.state)))
            grew = grew or info != self.info
            self.info = info
        if grew or adopted or self._array_sizes() != self._sizes_sent:
            self.publish_discovery()
        self.ready.set()

    def _publish_state(self) -> None:
        payload = {"ts": self.state.get("ts"), **self.shape.values({k: v for k, v in self.state.items() if k != "ts"})}
        self.mqtt.publish(self._topics.state(self.device.id), json.dumps(payload, separators=(",", ":")), 1, True)

    # -- the units of a parallel system ------------------------------------------------------

    def _unit_out(self, unit: Unit, system: ParallelSystem) -> _UnitOut:
        counters = unit.counters if unit.counters is not None else system.unit_counters
        path = Path(self.settings.state_dir) / f"energy-{unit.id}.json"
        return _UnitOut(unit, system, EnergyCounters(path, counters=counters, max_gap=self._max_gap))

    def _adopt_units(self) -> bool:
        """Units known only from the device's answers (a DTU's inverters): ask the device for
        its system again and take on the units it did not have; True when there were any."""
        own = getattr(self.device, "parallel", None)
        system = own() if callable(own) else None
        if system is None:
            return False
        self.parallel = system
        new = [u for u in system.units if u.command not in self._units]
        for u in new:
            self._units[u.command] = self._unit_out(u, system)
        return bool(new)

    def _on_unit_result(self, out: _UnitOut, reading: Reading) -> Reading | None:
        """Publish one unit's reading as its own device; after the last unit of a round, the
        system's totals as a reading of the system (None before, or while a unit is silent)."""
        values = dict(reading.values)
        fields = reading.fields
        known = {f.key for f in out.fields()}
        grew = False
        for f in fields:
            if f.key not in known:
                out.extra[f.key] = f
                grew = True
        extra = out.energy.update(reading.ts, values)
        out.latest, out.latest_ts = values | extra, reading.ts
        if self._floor_known:  # else withheld, as the system's (see module doc)
            values.update(extra)
            fields = fields + out.energy.fields
        out.state.update(values)
        out.state["ts"] = iso(reading.ts)
        if self._unit_kept(out):  # an excluded unit still counts in the totals, unpublished
            shaped = self.shape.values({k: v for k, v in out.state.items() if k != "ts"})
            payload = {"ts": out.state["ts"], **shaped}
            self.mqtt.publish(self._topics.state(out.unit.id), json.dumps(payload, separators=(",", ":")), 1, True)
            if self.metrics is not None:
                self.metrics.export_reading(self.shape.reading(Reading(out.unit.id, reading.ts, values, fields)))
            if grew or self._unit_info(out) != out.info:  # its serial number comes with its readings
                self._publish_unit_discovery(out)
            if not out.online:
                out.online = True
                self.mqtt.publish(self._topics.availability(out.unit.id), "online", 1, True)
        assert self.parallel is not None
        if out.unit != self.parallel.units[-1]:
            return None
        fresh = [
            u.latest
            for u in self._units.values()
            if u.latest_ts is not None and (reading.ts - u.latest_ts).total_seconds() <= self._max_gap
        ]
        totals = self.parallel.totals(fresh)
        if totals is None:
            return None
        return Reading(self.device.id, reading.ts, totals, self.parallel.total_fields)

    def _units_kept(self) -> list[Unit]:
        return [out.unit for out in self._units.values() if self._unit_kept(out)]

    def _unit_serial(self, out: _UnitOut) -> str | None:
        serial = out.state.get("serial_number")
        return str(serial) if serial not in (None, "") else None

    def _unit_kept(self, out: _UnitOut) -> bool:
        """False for a unit the user excluded (by id, or by the serial its readings carry)."""
        return self.shape.keeps_device(out.unit.id, self._unit_serial(out))

    def _unit_info(self, out: _UnitOut) -> discovery.DeviceInfo:
        serial = self._unit_serial(out)
        return discovery.DeviceInfo(
            id=out.unit.id,
            name=self.shape.device_title(out.unit.id, serial, f"{self.name} {out.unit.title}"),
            manufacturer=self.info.manufacturer,
            model=out.unit.model or self.info.model,
            sw_version=out.unit.sw_version or self.info.sw_version,
            serial_number=serial,
            via_device=self.device.id,
        )

    def _publish_unit_discovery(self, out: _UnitOut) -> None:
        """A unit's catalogue and discovery: no settings or queries of its own (both go to
        the system device, whose link reads every unit)."""
        out.info = info = self._unit_info(out)
        sizes = {k: len(v) for k, v in out.state.items() if isinstance(v, list)}
        fields = self.shape.table(out.fields())
        cat = catalog.build(
            self._identity(info, out.unit.kind),
            fields,
            array_sizes=sizes,
            interval=next(
                (s.every for s in self.schedules if s.command == out.unit.command),
                min((s.every for s in self.schedules), default=None),  # read with the system's answer
            ),
        )
        self.mqtt.publish(self._topics.catalog(info.id), cat, 1, True)
        messages = discovery.build_discovery(
            self.settings.ha_discovery,
            self.prefix,
            self.settings.ha_discovery_prefix,
            info,
            fields,
            (),
            origin_version=__version__,
            array_sizes=sizes,
        )
        self._send_discovery(messages, force=True)

    def _unit_state_handler(self, out: _UnitOut) -> Callable[[str, bytes], None]:
        return lambda _, payload: self._call_soon(self._on_unit_own_state, out, payload)

    def _on_unit_own_state(self, out: _UnitOut, payload: bytes) -> None:
        """A unit's retained state from an earlier run: the floor of its counters."""
        if self._floor_known:
            return
        try:
            state = json.loads(payload) if payload else {}
            ts = datetime.fromisoformat(str(state.get("ts", "")).replace("Z", "+00:00"))
        except (ValueError, AttributeError):
            return
        if (
            isinstance(state, Mapping)
            and ts.tzinfo is not None
            and out.energy.floor(ts, self.shape.unshaped(state), datetime.now(UTC))
        ):
            log.info("%s: energy counters raised to the last published values", out.unit.id)

    # -- energy counters' floor -------------------------------------------------------------

    def _arm_floor_timer(self) -> None:
        if not self._floor_known and self._floor_timer is None and self._loop is not None:
            self._floor_timer = self._loop.call_later(FLOOR_GRACE_SECONDS, self._settle_floor)

    def _on_own_state(self, payload: bytes) -> None:
        """The retained state an earlier run left (or, later, our own echo): its counters
        are the floor ours may not go below."""
        if self._floor_known or self.energy is None:
            return
        try:
            state = json.loads(payload) if payload else {}
            ts = datetime.fromisoformat(str(state.get("ts", "")).replace("Z", "+00:00"))
        except ValueError:
            state, ts = {}, datetime.fromtimestamp(0, UTC)
        if (
            isinstance(state, Mapping)
            and ts.tzinfo is not None
            and self.energy.floor(ts, self.shape.unshaped(state), datetime.now(UTC))
        ):
            log.info("%s: energy counters raised to the last published values", self.device.id)
        self._settle_floor()

    def _settle_floor(self) -> None:
        if self._floor_known:
            return
        self._floor_known = True
        if self._floor_timer is not None:
            self._floor_timer.cancel()
        self.mqtt.unsubscribe(self._topics.state(self.device.id))
        self.mqtt.unsubscribe(self._availability)
        for unit in self._units.values():
            self.mqtt.unsubscribe(self._topics.state(unit.unit.id))

    # -- commands from MQTT ------------------------------------------------------------------

    def _on_set_message(self, topic: str, payload: bytes) -> None:  # paho thread
        self._call_soon(self._admit_setting, topic.rsplit("/", 1)[-1], payload)

    def _on_query_message(self, topic: str, payload: bytes) -> None:  # paho thread
        self._call_soon(self._admit_query, payload)

    def _admit_setting(self, setting: str, payload: bytes) -> None:
        if not SETTING_NAME.fullmatch(setting):
            audit.warning("refused %s: malformed setting name %r", self.device.id, command.shown(setting))
            return
        result_topic = self._topics.set_result(self.device.id, setting)

        def refused(error: str, value: str | None = None) -> dict[str, Any]:
            return SetResult(False, setting, value, error).payload()

        try:
            cmd = command.parse(payload, datetime.now(UTC))
        except SettingError as exc:
            audit.warning("refused %s.%s: %s", self.device.id, setting, exc)
            self._publish_result(result_topic, refused(str(exc)))
            return
        shown = command.shown(cmd.value)

        async def run() -> dict[str, Any]:
            return await self._apply(setting, cmd.value)

        self._enqueue(_Job(result_topic, run, lambda error: refused(error, shown)), f"{setting}={shown}")

    def _admit_query(self, payload: bytes) -> None:
        result_topic = self._topics.query_result(self.device.id)

        def refused(error: str, name: str | None = None) -> dict[str, Any]:
            return {"ok": False, "command": name, "fields": None, "error": error}

        try:
            cmd = command.parse(payload, datetime.now(UTC), key="command")
        except SettingError as exc:
            self._publish_result(result_topic, refused(str(exc)))
            return
        shown = command.shown(cmd.value)
        if not self.device.is_query(cmd.value):
            self._publish_result(result_topic, refused(f"{shown!r} is not an allowed read-only query", shown))
            return

        async def run() -> dict[str, Any]:
            reading = await self._locked(self.device.query, cmd.value)
            return {"ok": True, "command": cmd.value, "fields": reading.values, "error": None}

        def failed(error: str) -> dict[str, Any]:
            return refused(error, shown)

        self._enqueue(_Job(result_topic, run, failed), shown)

    def _admit_refresh(self) -> None:
        """Poll every scheduled command now (the web's refresh button), as one command: it
        takes a token and a queue slot like any other, so a refresh flood cannot starve polls."""
        commands = list(dict.fromkeys(s.command for s in self.schedules))

        async def run() -> dict[str, Any]:
            polled = [c for c in commands if await self.poller.poll(c) is not None]
            silent = [c for c in commands if c not in polled]
            error = f"no answer to {', '.join(silent)}" if silent else None
            return {"ok": not silent, "polled": polled, "error": error}

        def failed(error: str) -> dict[str, Any]:
            return {"ok": False, "polled": [], "error": error}

        self._enqueue(_Job(self._topics.refresh_result(self.device.id), run, failed), "refresh")

    def _enqueue(self, job: _Job, what: str) -> None:
        """Admit a checked command, or refuse it at once as busy (never queue without bound)."""
        if not self._commands.take():
            error = f"busy: at most {self._commands.burst} commands at once, then one every {COMMAND_INTERVAL:g} s"
        elif self._queue.full():
            error = f"busy: {self._queue.maxsize} commands are already waiting for {self.device.id}"
        else:
            self._queue.put_nowait(job)
            return
        self._publish_result(job.result_topic, job.failed(error))
        # A flood must not flood the log too (disk, SD card): the first refusal, then a count
        # at most every BUSY_LOG_SECONDS.
        self._busy_refused += 1
        now = time.monotonic()
        if now - self._busy_logged_at >= BUSY_LOG_SECONDS:
            more = f" ({self._busy_refused - 1} more since the last such line)" if self._busy_refused > 1 else ""
            audit.warning("refused %s %s: %s%s", self.device.id, what, error, more)
            self._busy_logged_at, self._busy_refused = now, 0

    async def _serve_commands(self) -> None:
        """Run admitted commands one at a time; whatever a command does, a result goes out."""
        while True:
            job = await self._queue.get()
            try:
                out = await job.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reported to the sender; the reader goes on
                if not isinstance(exc, SolarstackError):
                    log.exception("%s: command failed unexpectedly", self.device.id)
                out = job.failed(command.shown(str(exc), 200))
            self._publish_result(job.result_topic, out)

    def _publish_result(self, topic: str, out: Mapping[str, Any]) -> None:
        self.mqtt.publish(topic, json.dumps(out, default=str), 1, False)

    async def _apply(self, setting: str, value: str) -> dict[str, Any]:
        if not self.allow_settings:
            result = SetResult(False, setting, value, "settings are disabled on this reader")
        else:
            result = await self._locked(self.device.apply, setting, value)
        if result.ok and result.readback:
            self.state.update(result.readback)
            self._publish_state()
        return result.payload()

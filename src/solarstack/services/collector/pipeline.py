"""Services layer: the collector's path from an MQTT message to a stored point, and its acks.

    paho thread                      writer (asyncio task; blocking writes in a worker thread)
    message -> point -> pending  ──>  take pending -> sink.write()  -> ack each message
                                        └ sink down -> disk spool   -> ack each message
                                        (spool replayed oldest first once the sink answers)

- **ack after store**: a message's PUBACK is sent only once its point is in the sink or
  committed to the disk spool (backlog.py). A collector killed at any moment gets every
  unfinished message again from its persistent session; writing it again is harmless, since
  the same (device, ts) is the same series and timestamp (points.py): it overwrites.
- **batching by the clock of the writes**: the writer takes whatever is pending as soon as
  its previous write returned (at most COLLECTOR_BATCH_POINTS). A quiet site writes each
  state alone at once; a busy one gets batches as large as what arrived during one write —
  bounded by the broker's in-flight window (max_inflight_messages), since unacknowledged
  messages hold it. No linger timer: with a window of 100 it would cap the rate at 100/linger.
- **order and backoff**: once one write failed (retryable), everything new goes to the spool
  behind what is there, and the spool is replayed from its oldest batch at 1, 2, 4 … 30 s
  intervals until a write succeeds; then new points go straight to the sink again. A point
  the server refuses (HTTP 400: a field changed type, say) is logged, counted and dropped:
  sending it again would block everything behind it.
- **kind before state**: a state whose device has no known kind (no catalogue seen yet, none
  remembered in STATE_DIR) is held, unacknowledged, up to HOLD_SECONDS for its catalogue, then
  written under measurement `device`.

Must not open sockets itself (sink.py, subscriber.py) nor read the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

import paho.mqtt.client as paho

from solarstack.core import catalog
from solarstack.core.topics import Topics
from solarstack.services.collector.backlog import Backlog, Batch
from solarstack.services.collector.kinds import DeviceKinds
from solarstack.services.collector.metrics import CollectorMetrics
from solarstack.services.collector.points import BadState, LineFormatter
from solarstack.services.collector.sink import Sink, SinkError

log = logging.getLogger(__name__)

Ack = Callable[[int, int], None]

HOLD_SECONDS = 5.0
#: the measurement of a device whose catalogue never came
UNKNOWN_KIND = "device"
RETRY_MIN_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0
#: bytes of spooled line protocol replayed per write. Small on purpose: a replay read and its joined
#: body raise glibc's mmap threshold to their size, and the worker thread's arena then keeps that
#: much for good (4 MiB writes left the collector 8-11 MB bigger after one outage; 512 KiB, 3.5).
#: Still about the 5,000 lines InfluxDB suggests per write.
REPLAY_BYTES = 512 * 1024
TICK_SECONDS = 0.5


class Pending(NamedTuple):
    line: str
    ts: float
    mid: int
    qos: int


class Held(NamedTuple):
    payload: bytes
    mid: int
    qos: int
    since: float


class Pipeline:
    """Messages in (`on_message`, paho's thread), points out (`run`, the writer)."""

    def __init__(
        self,
        topics: Topics,
        kinds: DeviceKinds,
        sink: Sink,
        backlog: Backlog,
        metrics: CollectorMetrics,
        *,
        batch_points: int = 5000,
    ) -> None:
        self.topics = topics
        self.kinds = kinds
        self.sink = sink
        self.backlog = backlog
        self.metrics = metrics
        self.batch_points = batch_points
        self.ack: Ack = lambda mid, qos: None  # set once the MQTT client exists
        self._points = LineFormatter()  # paho's thread only
        self._lock = threading.Lock()
        self._pending: list[Pending] = []
        self._held: dict[str, list[Held]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._retry_at = 0.0  # monotonic; while the spool is not empty, the next replay attempt
        self._retry_delay = RETRY_MIN_SECONDS
        self._sink_down_since: float | None = None

    # ---- paho's thread ------------------------------------------------------------------

    def on_message(self, message: paho.MQTTMessage) -> None:
        parsed = self.topics.parse(message.topic)
        payload = bytes(message.payload)
        if parsed is not None and parsed.kind == "state" and payload:
            kind = self.kinds.get(parsed.device)
            if kind is not None:
                self._enqueue(kind, parsed.device, payload, message.mid, message.qos)
                return
            with self._lock:
                self._held.setdefault(parsed.device, []).append(
                    Held(payload, message.mid, message.qos, time.monotonic())
                )
            return
        if parsed is not None and parsed.kind == "catalog" and payload:
            self._catalog(parsed.device, payload)
        # availability, a cleared retained topic, anything else: nothing to store
        self.ack(message.mid, message.qos)

    def _catalog(self, device: str, payload: bytes) -> None:
        try:
            kind = catalog.parse(payload).kind or UNKNOWN_KIND
        except ValueError as exc:
            log.warning("%s: unreadable catalogue (%s); its states go under its last known kind", device, exc)
            return
        if self.kinds.set(device, kind):
            log.info("device %s: kind %s", device, kind)
        with self._lock:
            held = self._held.pop(device, [])
        for h in held:
            self._enqueue(kind, device, h.payload, h.mid, h.qos)

    def _enqueue(self, kind: str, device: str, payload: bytes, mid: int, qos: int) -> None:
        try:
            point = self._points.point(kind, device, payload)
        except BadState as exc:
            log.warning("%s: state not stored: %s", device, exc)
            self.metrics.errors.labels("invalid").inc()
            self.ack(mid, qos)
            return
        with self._lock:
            first = not self._pending
            self._pending.append(Pending(point.line, point.ts, mid, qos))
        if first and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    # ---- the writer -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, on_stopping: Callable[[], None] | None = None) -> None:
        """Write until `stop`; then call `on_stopping` (in a worker thread: it may block) and
        write (or spool) what is pending once more, and return."""
        self._loop = asyncio.get_running_loop()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                waking = asyncio.ensure_future(self._wake.wait())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        asyncio.wait({waking, stopping}, return_when="FIRST_COMPLETED"), TICK_SECONDS
                    )
                waking.cancel()
                self._wake.clear()
                self._release_held(time.monotonic() - HOLD_SECONDS)
                await asyncio.to_thread(self.cycle)
            if on_stopping is not None:
                await asyncio.to_thread(on_stopping)
            self._release_held(float("inf"))
            await asyncio.to_thread(self.cycle)
        finally:
            stopping.cancel()

    def _release_held(self, before: float) -> None:
        with self._lock:
            expired = {d: [h for h in hs if h.since <= before] for d, hs in self._held.items()}
            self._held = {d: [h for h in hs if h.since > before] for d, hs in self._held.items()}
            self._held = {d: hs for d, hs in self._held.items() if hs}
        for device, held in expired.items():
            if held:
                log.warning(
                    "%s: no catalogue after %.0f s; writing its states as measurement %r",
                    device,
                    HOLD_SECONDS,
                    UNKNOWN_KIND,
                )
            for h in held:
                self._enqueue(UNKNOWN_KIND, device, h.payload, h.mid, h.qos)

    def _take(self) -> list[Pending]:
        with self._lock:
            batch = self._pending[: self.batch_points]
            del self._pending[: self.batch_points]
            if self._pending and self._loop is not None:
                self._loop.call_soon_threadsafe(self._wake.set)
        return batch

    def cycle(self) -> None:
        """One round of the writer (a worker thread): write or spool what is pending, replay."""
        batch = self._take()
        if self.backlog or time.monotonic() < self._retry_at:
            self._spool(batch)
            if time.monotonic() >= self._retry_at:
                self._replay()
            return
        if not batch:
            return
        body = "\n".join(p.line for p in batch).encode()
        try:
            self._write(body, len(batch), max(p.ts for p in batch))
        except SinkError as exc:
            if exc.retryable:
                self._failed(exc)
                self._spool(batch)
                return
            self._rejected(exc, len(batch))
        self._ack(batch)

    def _write(self, body: bytes, points: int, newest: float) -> None:
        started = time.perf_counter()
        try:
            self.sink.write(body)
        except SinkError as exc:
            self.metrics.errors.labels(exc.kind).inc()
            raise
        self.metrics.written(points, newest, time.perf_counter() - started)
        if self._sink_down_since is not None:
            log.info("sink %s is back after %.0f s", self.sink.url, time.monotonic() - self._sink_down_since)
            self._sink_down_since = None
        self._retry_delay = RETRY_MIN_SECONDS

    def _failed(self, exc: SinkError) -> None:
        now = time.monotonic()
        if self._sink_down_since is None:
            self._sink_down_since = now
            log.warning("sink %s: %s; spooling to disk, retrying with backoff", self.sink.url, exc)
        else:
            log.debug("sink %s still failing: %s", self.sink.url, exc)
        self._retry_at = now + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_SECONDS)

    def _rejected(self, exc: SinkError, points: int) -> None:
        log.error("sink %s refused %d point(s), dropped: %s", self.sink.url, points, exc)

    def _spool(self, batch: list[Pending]) -> None:
        if not batch:
            return
        before = self.backlog.dropped_points
        self.backlog.append("\n".join(p.line for p in batch).encode(), len(batch))
        lost = self.backlog.dropped_points - before
        if lost:
            self.metrics.errors.labels("dropped").inc(lost)
            log.warning("spool full (COLLECTOR_SPOOL_MB): dropped its %d oldest point(s)", lost)
        self._ack(batch)

    def _replay(self) -> None:
        """Send the spool oldest first while the sink takes it; new arrivals join its tail."""
        while self.backlog:
            self._spool(self._take())  # keep acknowledging, so the broker keeps sending
            rows: list[Batch] = self.backlog.peek(REPLAY_BYTES)
            points = sum(b.points for b in rows)
            try:
                self._write(b"\n".join(b.body for b in rows), points, 0.0)
            except SinkError as exc:
                if exc.retryable:
                    self._failed(exc)
                    return
                self._rejected(exc, points)
            self.backlog.delete(rows)
        log.info("spool replayed into %s", self.sink.url)

    def _ack(self, batch: list[Pending]) -> None:
        ack = self.ack
        for p in batch:
            ack(p.mid, p.qos)

"""Core layer: one persistent MQTT connection (paho-mqtt 2.x) with a disk spool.

`MqttClient` wraps paho's client and its one network thread (`loop_start()`), which
also reconnects with capped exponential backoff. What it adds:

- availability: the LWT `offline` (retained) on `will_topic`; `online` (retained) is
  published only from a successful CONNACK, so a refused login never shows online;
- `publish()` never raises and never waits on the network: while disconnected, or
  while an older backlog is still being replayed, the message goes to the `Spool`;
- replay: after a reconnect, once paho has re-sent its own in-flight messages, the spool
  is sent oldest first in windows; a window is deleted from disk only after the broker
  acknowledged all of it, and only when the spool is empty do new messages bypass it —
  so the broker sees messages in the order they were published, each with its
  original payload (and `ts`);
- subscriptions are kept and restored on every reconnect.

THREADS: handlers given to `subscribe()`, like every paho callback, run in paho's
network thread: keep them short and thread-safe (hand work to an asyncio loop with
`loop.call_soon_threadsafe`). `publish()` may be called from any thread.

Lock order: `self._lock` is never held while calling into paho, because paho holds its
own message lock while it calls `on_publish` (taking ours there would deadlock).

Must not know about devices, readings or Home Assistant; never reads the environment.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from solarstack.core.settings import CommonSettings
from solarstack.core.spool import Spool

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]

#: Spooled messages handed to paho per replay window, deleted from disk together once all are
#: acknowledged; ~1600 msg/s replay here. paho's in-flight limit is raised to match: beyond it
#: paho queues QoS 1 but sends QoS 0 at once, which would let QoS 0 overtake older messages.
REPLAY_WINDOW = 100
KEEPALIVE_SECONDS = 30
EARLY_ACK_TTL = 5.0


@dataclass(frozen=True, slots=True)
class MqttCounters:
    """Totals since start, for metrics."""

    published: int  # handed to paho directly (not through the spool)
    spooled: int  # written to the spool
    replayed: int  # delivered from the spool (acknowledged by the broker)
    reconnects: int  # successful connects after the first
    dropped: int  # oldest spooled messages dropped at the spool bound
    spool_depth: int


class MqttClient:
    """A persistent, spooling MQTT client for one device or one service (see module doc)."""

    def __init__(
        self,
        settings: CommonSettings,
        client_id: str,
        *,
        will_topic: str | None = None,
        spool_dir: Path | None = None,
        on_connect: Callable[[], None] | None = None,
        persistent_session: bool = False,
        spool_max_messages: int = 100_000,
        reconnect_min_delay: float = 1.0,
        reconnect_max_delay: float = 30.0,
    ) -> None:
        """`spool_dir`: directory for `<client_id>.sqlite3` (e.g. STATE_DIR/spool); None keeps
        the spool in memory (lost on restart). `on_connect` runs in paho's thread after each
        successful connect (re-send discovery there). `persistent_session`: the broker keeps
        our subscriptions and queues QoS 1 messages while we are away (the collector)."""
        self.client_id = client_id
        self.will_topic = will_topic
        self._settings = settings
        self._user_on_connect = on_connect
        self._spool = Spool(spool_dir / f"{client_id}.sqlite3" if spool_dir else None, spool_max_messages)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when nothing is in flight
        self._connected_event = threading.Event()
        self._subscriptions: dict[str, list[Handler]] = {}
        # mid -> spool id (None for a direct publish) of messages paho has not yet seen acked
        self._inflight: dict[int, int | None] = {}
        # acks (mid -> time) that arrived before the publishing thread recorded the mid; kept
        # EARLY_ACK_TTL seconds so a QoS 0 ack (never tracked) cannot match a reused mid later
        self._early_acks: dict[int, float] = {}
        self._window: list[int] = []  # spool ids of the replay window being sent
        self._window_pending = 0
        self._backlog = self._spool.depth > 0  # True: new messages must queue behind the spool
        self._connects = 0
        self._published = 0
        self._spooled = 0
        self._replayed = 0
        self._stopping = False

        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not persistent_session,
            protocol=paho.MQTTv311,
        )
        if settings.mqtt_username:
            self._client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
        if settings.mqtt_tls:
            self._client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        if will_topic:
            self._client.will_set(will_topic, "offline", qos=1, retain=True)
        # Jitter: each client starts its backoff at a random point so a fleet restarted with
        # the broker does not reconnect in lock-step; paho doubles it up to the cap.
        first = reconnect_min_delay * random.uniform(0.5, 1.5)
        self._client.reconnect_delay_set(min_delay=first, max_delay=reconnect_max_delay)  # type: ignore[arg-type]
        self._client.max_inflight_messages_set(REPLAY_WINDOW)
        # An exception escaping a callback would end paho's network thread for good (no more
        # reconnects, no more messages). Our callbacks log their own errors; this is the net.
        self._client.suppress_exceptions = True
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background (returns at once; see `wait_connected`)."""
        self._client.connect_async(self._settings.mqtt_host, self._settings.mqtt_port, KEEPALIVE_SECONDS)
        self._client.loop_start()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish `offline`, wait (bounded) for in-flight QoS 1 messages, disconnect.

        A clean DISCONNECT suppresses the LWT, hence the explicit `offline`. Messages still
        spooled stay on disk for the next start.
        """
        deadline = time.monotonic() + timeout
        self._stopping = True
        if self.will_topic and self.connected:
            self._track_direct(self._client.publish(self.will_topic, "offline", qos=1, retain=True).mid)
        with self._idle:
            self._idle.wait_for(lambda: not self._inflight or not self.connected, max(deadline - time.monotonic(), 0))
        self._client.disconnect()
        self._client.loop_stop()
        self._connected_event.clear()
        self._spool.close()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected_event.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected_event.is_set()

    def counters(self) -> MqttCounters:
        with self._lock:
            return MqttCounters(
                published=self._published,
                spooled=self._spooled,
                replayed=self._replayed,
                reconnects=max(self._connects - 1, 0),
                dropped=self._spool.dropped,
                spool_depth=self._spool.depth,
            )

    # ---- publish / subscribe ---------------------------------------------------------

    def publish(self, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False) -> None:
        """Send, or spool while disconnected or while older messages wait. Never raises."""
        data = payload.encode() if isinstance(payload, str) else payload
        try:
            with self._lock:
                direct = self.connected and not self._backlog
                if not direct:
                    self._spool.append(topic, data, qos, retain)
                    self._spooled += 1
                    self._backlog = True
            if not direct:
                return
            info = self._client.publish(topic, data, qos=qos, retain=retain)
            # NO_CONN with QoS 1: the link dropped just now; paho keeps the message and re-sends
            # it first thing after the reconnect (replay waits for it), so order still holds.
            # QoS 0 is neither kept by paho then nor tracked here (there is no ack to wait for).
            no_conn = info.rc is MQTTErrorCode.MQTT_ERR_NO_CONN
            if info.rc is MQTTErrorCode.MQTT_ERR_SUCCESS or (qos > 0 and no_conn):
                if qos > 0:
                    self._track_direct(info.mid)
                with self._lock:
                    self._published += 1
            else:
                log.warning("paho refused a publish to %s (%s); spooling it", topic, info.rc)
                with self._lock:
                    self._spool.append(topic, data, qos, retain)
                    self._spooled += 1
                    self._backlog = True
        except Exception:  # publish() is called from device loops that must not die for MQTT
            log.exception("publish to %s failed; message dropped", topic)

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        """Call `handler(topic, payload)` (in paho's thread) for matching messages, now and
        after every reconnect."""
        with self._lock:
            first = topic_filter not in self._subscriptions
            self._subscriptions.setdefault(topic_filter, []).append(handler)
        if first and self.connected:
            self._client.subscribe(topic_filter, qos=1)

    # ---- paho callbacks (network thread) ---------------------------------------------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.error(
                "MQTT broker %s:%s refused the connection: %s",
                self._settings.mqtt_host,
                self._settings.mqtt_port,
                reason,
            )
            return
        with self._lock:
            self._connects += 1
            filters = list(self._subscriptions)
        log.info(
            "connected to MQTT broker %s:%s as %s", self._settings.mqtt_host, self._settings.mqtt_port, self.client_id
        )
        self._connected_event.set()
        if self.will_topic:
            self._track_direct(client.publish(self.will_topic, "online", qos=1, retain=True).mid)
        for topic_filter in filters:
            client.subscribe(topic_filter, qos=1)
        if self._user_on_connect is not None:
            try:
                self._user_on_connect()
            except Exception:
                log.exception("on_connect callback failed")
        self._pump()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        was_connected = self._connected_event.is_set()
        self._connected_event.clear()
        with self._idle:
            self._idle.notify_all()  # stop() waits for acks that will not come now
        # A half-acknowledged replay window is kept: paho re-sends its unacknowledged
        # messages after the reconnect, and the window completes from their acks.
        if was_connected and not self._stopping:
            log.warning("disconnected from MQTT broker (%s); spooling until it is back", reason)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        done: list[int] = []
        with self._lock:
            if mid not in self._inflight:
                now = time.monotonic()
                self._early_acks = {m: t for m, t in self._early_acks.items() if now - t < EARLY_ACK_TTL}
                self._early_acks[mid] = now
                return
            spool_id = self._inflight.pop(mid)
            if spool_id is not None and spool_id in self._window:
                self._window_pending -= 1
                self._replayed += 1
                if self._window_pending == 0:
                    done, self._window = self._window, []
            if not self._inflight:
                self._idle.notify_all()
        if done:
            try:
                self._spool.delete(done)
            except Exception:  # e.g. disk full: the window is sent again later (duplicates, no loss)
                log.exception("could not delete replayed messages from the spool")
        self._pump()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            handlers = [
                h for f, hs in self._subscriptions.items() if paho.topic_matches_sub(f, message.topic) for h in hs
            ]
        for handler in handlers:
            try:
                handler(message.topic, bytes(message.payload))
            except Exception:
                log.exception("handler for %s failed", message.topic)

    # ---- replay ----------------------------------------------------------------------

    def _track_direct(self, mid: int) -> None:
        """Record a QoS 1 message published outside the replay (any thread)."""
        with self._lock:
            if self._early_acks.pop(mid, None) is None:
                self._inflight[mid] = None

    def _pump(self) -> None:
        try:
            self._send_windows()
        except Exception:  # a spool error must not end paho's thread; the next ack/connect retries
            log.exception("replay from the spool failed")

    def _send_windows(self) -> None:
        """Send replay windows while nothing older is in flight (network thread only, so no
        ack can overtake the recording of a mid here)."""
        while True:
            with self._lock:
                if not self._backlog or not self.connected or self._window:
                    return
                if any(v is None for v in self._inflight.values()):
                    return  # older direct messages are still being (re-)sent by paho
                batch = self._spool.peek(REPLAY_WINDOW)
                if not batch:
                    self._backlog = False
                    return
                self._window = [m.id for m in batch]
                self._window_pending = sum(1 for m in batch if m.qos > 0)
            for message in batch:
                info = self._client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
                if message.qos > 0:
                    with self._lock:
                        self._inflight[info.mid] = message.id
            with self._lock:
                self._replayed += sum(1 for m in batch if m.qos == 0)  # no ack comes for QoS 0
                if self._window_pending:
                    return  # _on_publish completes the window and calls us again
                done, self._window = self._window, []
            self._spool.delete(done)

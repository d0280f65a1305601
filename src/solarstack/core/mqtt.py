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
import sys
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


@dataclass(frozen=True, slots=True)
class _Subscription:
    handler: Handler
    retained: bool  # False: a retained copy (flag set on delivery) is not handed over


#: Spooled messages handed to paho per replay window, deleted from disk together once all are
#: acknowledged; ~1600 msg/s replay here. paho's in-flight limit is raised to match: beyond it
#: paho queues QoS 1 but sends QoS 0 at once, which would let QoS 0 overtake older messages.
REPLAY_WINDOW = 100
KEEPALIVE_SECONDS = 30
#: While the broker cannot be reached, the first failure is logged at once and later ones at
#: doubling intervals up to this: a broker down for a day is a few dozen lines, not thousands.
CONNECT_FAILURE_LOG_MAX_SECONDS = 600.0
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


#: The longest wait between two reconnect attempts. A restarted broker is back in seconds; a
#: reader that waited 30 s for it (the soak saw 4-8 s with this doubling from 1 s) would miss
#: polls' worth of live state. A few attempts a minute against a broker down for hours cost nothing.
RECONNECT_MAX_DELAY = 5.0


def reconnect_delay_for(poll_seconds: float) -> float:
    """The reconnect cap of a client that publishes every `poll_seconds`: at least two attempts
    per poll, so the first poll after a broker restart goes out live (the soak's recovery rule:
    within one poll interval), and never less often than RECONNECT_MAX_DELAY."""
    return max(0.2, min(RECONNECT_MAX_DELAY, poll_seconds / 2))


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
        reconnect_max_delay: float = RECONNECT_MAX_DELAY,
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
        self._subscriptions: dict[str, list[_Subscription]] = {}
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
        self._publish_failures = 0
        self._publish_failure_logged = -60.0
        # connect failures since the last successful connect (paho's thread only)
        self._connect_failures = 0
        self._failing_since = 0.0
        self._failure_log_at = 0.0  # monotonic time the next failure may be logged
        self._failure_log_every = max(reconnect_min_delay, 1.0)
        self._failure_log_first = self._failure_log_every

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
        first = min(reconnect_min_delay * random.uniform(0.5, 1.5), reconnect_max_delay)
        self._client.reconnect_delay_set(min_delay=first, max_delay=reconnect_max_delay)  # type: ignore[arg-type]
        self._client.max_inflight_messages_set(REPLAY_WINDOW)
        # An exception escaping a callback would end paho's network thread for good (no more
        # reconnects, no more messages). Our callbacks log their own errors; this is the net.
        self._client.suppress_exceptions = True
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
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
        except Exception as exc:  # publish() is called from device loops that must not die for MQTT
            # e.g. STATE_DIR turned read-only or full while the broker is down: one line, then
            # a count at most once a minute, never a traceback per reading
            self._publish_failures += 1
            now = time.monotonic()
            if now - self._publish_failure_logged >= 60.0:
                log.error(
                    "publish to %s failed, message dropped (%d such since the last line): %s",
                    topic,
                    self._publish_failures,
                    " ".join(str(exc).split()) or type(exc).__name__,
                )
                self._publish_failure_logged, self._publish_failures = now, 0

    def publish_now(self, topic: str, payload: str | bytes, qos: int = 1) -> bool:
        """Hand the message to the broker link now, never to the spool: False when there is
        no connection (or a backlog would have to go first). For commands, which must either
        go now or fail now. A QoS 1 message paho already took may still be re-sent after a
        reconnect: commands carry their age (core/command.py) so a late copy is refused."""
        data = payload.encode() if isinstance(payload, str) else payload
        with self._lock:
            if not self.connected or self._backlog:
                return False
        info = self._client.publish(topic, data, qos=qos, retain=False)
        if info.rc is not MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        if qos > 0:
            self._track_direct(info.mid)
        with self._lock:
            self._published += 1
        return True

    def subscribe(self, topic_filter: str, handler: Handler, *, retained: bool = True) -> None:
        """Call `handler(topic, payload)` (in paho's thread) for matching messages, now and
        after every reconnect. `retained=False`: only live messages — a retained copy the
        broker hands over on (re)subscribing is dropped (commands must never replay)."""
        with self._lock:
            first = topic_filter not in self._subscriptions
            self._subscriptions.setdefault(topic_filter, []).append(_Subscription(handler, retained))
        if first and self.connected:
            self._client.subscribe(topic_filter, qos=1)

    def unsubscribe(self, topic_filter: str) -> int | None:
        """Drop every handler of `topic_filter` (not restored on a reconnect) and stop receiving
        it. The UNSUBSCRIBE's message id, for a caller that waits for its UNSUBACK; None when
        nothing was sent (not subscribed, or not connected)."""
        with self._lock:
            known = self._subscriptions.pop(topic_filter, None) is not None
        if known and self.connected:
            _rc, mid = self._client.unsubscribe(topic_filter)
            return mid
        return None

    # ---- paho callbacks (network thread) ---------------------------------------------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._connect_failed(logging.ERROR, f"refused the connection: {reason}")
            return
        with self._lock:
            self._connects += 1
            filters = list(self._subscriptions)
        failures, self._connect_failures = self._connect_failures, 0
        self._failure_log_every = self._failure_log_first
        took = f" after {failures} failed attempt(s) in {time.monotonic() - self._failing_since:.0f} s"
        log.info(
            "connected to MQTT broker %s:%s as %s%s",
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            self.client_id,
            took if failures else "",
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

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        # paho calls this inside its `except OSError:` around the connect, so the exception
        # is still the one being handled: refused, unknown host, timed out, TLS failed.
        exc = sys.exc_info()[1]
        why = (exc.strerror if isinstance(exc, OSError) else None) or str(exc or "") or type(exc).__name__
        self._connect_failed(logging.WARNING, f"cannot be reached ({why})")

    def _connect_failed(self, level: int, why: str) -> None:
        """Log a failed connect attempt: the first at once, later ones at doubling intervals."""
        now = time.monotonic()
        self._connect_failures += 1
        if self._connect_failures == 1:
            self._failing_since = now
        elif now < self._failure_log_at:
            return
        else:
            self._failure_log_every = min(self._failure_log_every * 2, CONNECT_FAILURE_LOG_MAX_SECONDS)
        self._failure_log_at = now + self._failure_log_every
        where = f"{self.client_id}: MQTT broker {self._settings.mqtt_host}:{self._settings.mqtt_port}"
        if self._connect_failures == 1:
            log.log(level, "%s %s; retrying with backoff, spooling until it is back", where, why)
        else:
            since = now - self._failing_since
            log.log(level, "%s %s; still retrying (%d attempts in %.0f s)", where, why, self._connect_failures, since)

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
                sub.handler
                for f, subs in self._subscriptions.items()
                if paho.topic_matches_sub(f, message.topic)
                for sub in subs
                if sub.retained or not message.retain
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

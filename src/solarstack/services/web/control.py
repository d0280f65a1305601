"""Service layer (web): commands from the console — allow-list checks, publish, wait for the read-back.

Every check reads the owning device's catalogue (core/catalog.py), which its reader
publishes from the same allow-list it enforces, so the web needs no protocol or device
module (tests/test_layers.py keeps it so): a query is allowed only if the catalogue lists
it in `queries`; a setting only if the catalogue lists it in `settings` and the value
passes `SettingInfo.check` (select options, number min/max/step for this unit). A device
without settings (a BMS, a weather feed) refuses every setting. The reader checks again
(rules a catalogue cannot state, such as PI30's "0 or 48-58 V", answer in its result). A
refused command raises `CommandRefused` and nothing is published. Accepted ones go to
`<prefix>/<device>/set/<setting>` or `<prefix>/<device>/query`, and the caller waits
(bounded) for the reader's `.../result`. A refresh ("poll now") goes to
`<prefix>/<device>/refresh`, or `<prefix>/refresh` for every device, and waits for each
device's `.../refresh/result` (core/topics.py).

A command reaches the broker now or fails now: while the MQTT link is down it is refused
(503) at once and not queued, so a command a user was told had failed does not run when
the broker is back. What is published is the `core.command` envelope with the moment it
was sent: should the link drop between that check and the publish, a copy re-sent after
the reconnect (paho's in-flight queue, or core.mqtt's spool) is refused by the reader once
older than `core.command.MAX_AGE_SECONDS`. This module must not know Flask or parse HTTP.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from solarstack.core.catalog import Catalog
from solarstack.core.command import MAX_AGE_SECONDS, envelope, shown
from solarstack.core.topics import Topics
from solarstack.services.web.feed import Bus
from solarstack.services.web.store import StateStore

_QUERY_SHAPE = re.compile(r"^[A-Za-z0-9^]{1,24}$")
_NOT_SENT = "not connected to the MQTT broker: the command was not sent"


class CommandRefused(Exception):
    """The command is not allowed; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Waiter:
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, Any] | None = None


class Commands:
    """Checks, publishes and awaits commands; also the sink for `.../result` messages."""

    def __init__(
        self,
        store: StateStore,
        bus: Callable[[], Bus | None],
        topics: Topics,
        timeout: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._bus = bus
        self._topics = topics
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._waiters: dict[str, list[_Waiter]] = {}

    # -- the allow-list: the owning device's catalogue, nothing else ----------------------

    def _catalog(self, device: str) -> Catalog:
        if device not in self._store.devices():
            raise CommandRefused(f"unknown device {shown(device)!r}", status=404)
        catalog = self._store.catalog(device)
        if catalog is None:
            raise CommandRefused(f"{device} has published no catalogue yet: its commands are not known")
        return catalog

    def check_query(self, device: str, command: str) -> str:
        catalog = self._catalog(device)
        command = command.strip()
        if not _QUERY_SHAPE.match(command):
            raise CommandRefused(f"{shown(command)!r} is not a command name")
        if command not in catalog.queries:
            allowed = ", ".join(catalog.queries) or "none"
            raise CommandRefused(f"{command} is not an allow-listed query for {device} (allowed: {allowed})")
        return command

    def check_setting(self, device: str, setting: str, value: object) -> str:
        catalog = self._catalog(device)
        if not catalog.settings:
            raise CommandRefused(f"{device} has no settings: {shown(setting)!r} is refused")
        info = catalog.settings.get(setting)
        if info is None:
            raise CommandRefused(f"{device} has no setting {shown(setting)!r}")
        try:
            return info.check(value)
        except ValueError as exc:
            raise CommandRefused(str(exc)) from None

    def refresh_targets(self, device: str | None) -> list[str]:
        """The devices a refresh asks: the one named, or every device that published a catalogue
        and is not offline (a reader that is down would only make everyone wait the timeout)."""
        if device is not None:
            self._catalog(device)
            return [device]
        store = self._store
        targets = [d for d in store.devices() if store.catalog(d) is not None and store.availability(d) != "offline"]
        if not targets:
            raise CommandRefused("no device that is online has published a catalogue: nothing to refresh", status=404)
        return targets

    # -- run -------------------------------------------------------------------------

    def run_query(self, device: str, command: str) -> dict[str, Any]:
        command = self.check_query(device, command)
        topic = self._topics.query(device)
        return self._send(topic, envelope(command, self._clock(), key="command"), self._topics.query_result(device))

    def change_setting(self, device: str, setting: str, value: object) -> dict[str, Any]:
        wire = self.check_setting(device, setting, value)
        topic = self._topics.set(device, setting)
        return self._send(topic, envelope(wire, self._clock()), self._topics.set_result(device, setting))

    def refresh(self, device: str | None) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Ask one device (or all) to poll now; ({device: result}, [devices that did not answer in time])."""
        targets = self.refresh_targets(device)
        topic = self._topics.refresh(device)
        results = self._send_many(
            topic, envelope("refresh", self._clock()), [self._topics.refresh_result(d) for d in targets]
        )
        answered = {
            d: results[self._topics.refresh_result(d)] for d in targets if self._topics.refresh_result(d) in results
        }
        return answered, [d for d in targets if d not in answered]

    def _send(self, topic: str, payload: str, result_topic: str) -> dict[str, Any]:
        results = self._send_many(topic, payload, [result_topic])
        if result_topic not in results:
            raise CommandRefused(
                f"no read-back from the device within {self._timeout:g} s"
                f" (a reader refuses the command once it is {MAX_AGE_SECONDS:g} s old)",
                status=504,
            )
        return results[result_topic]

    def _send_many(self, topic: str, payload: str, result_topics: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Publish once, then wait (one deadline for all) for a result on each of `result_topics`."""
        bus = self._bus()
        if bus is None or not bus.connected:
            # Never queue it: a command must not run after the user was told it failed.
            raise CommandRefused(_NOT_SENT, status=503)
        waiters = {t: _Waiter() for t in result_topics}
        with self._lock:
            for t, waiter in waiters.items():
                self._waiters.setdefault(t, []).append(waiter)
        try:
            if not bus.publish_now(topic, payload, qos=1):  # never the spool (see above)
                raise CommandRefused(_NOT_SENT, status=503)
            deadline = time.monotonic() + self._timeout
            for waiter in waiters.values():
                waiter.done.wait(max(0.0, deadline - time.monotonic()))
            return {t: w.result for t, w in waiters.items() if w.result is not None}
        finally:
            with self._lock:
                for t, waiter in waiters.items():
                    queued = self._waiters.get(t, [])
                    if waiter in queued:
                        queued.remove(waiter)
                    if not queued:
                        self._waiters.pop(t, None)

    def deliver(self, topic: str, result: dict[str, Any]) -> None:
        """A `.../result` arrived: hand it to the oldest command waiting on that topic."""
        with self._lock:
            waiters = self._waiters.get(topic)
            waiter = waiters.pop(0) if waiters else None
        if waiter is not None:
            waiter.result = result
            waiter.done.set()

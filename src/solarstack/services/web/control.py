"""Service layer (web): commands from the console — allow-list checks, publish, wait for the read-back.

A setting is allowed only if the device announced it in discovery (built by the reader
from its protocol's `SETTINGS` allow-list) and the value passes the same bounds
(select options, number min/max/step), and — when the protocol package is installed —
only if that protocol lists the key. A query is allowed only if a protocol's
`is_query(command)` accepts it. A refused command raises `CommandRefused` and nothing
is published. Accepted ones go to `<prefix>/<device>/set/<setting>` or
`<prefix>/<device>/query`, and the caller waits (bounded) for the reader's
`.../result`.

A command reaches the broker now or fails now: while the MQTT link is down it is refused
(503) at once and not queued, so a command a user was told had failed does not run when
the broker is back. What is published is the `core.command` envelope with the moment it
was sent: should the link drop between that check and the publish, a copy re-sent after
the reconnect (paho's in-flight queue, or core.mqtt's spool) is refused by the reader once
older than `core.command.MAX_AGE_SECONDS`. This module must not know Flask or parse HTTP.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from solarstack.core.command import MAX_AGE_SECONDS, envelope, shown
from solarstack.core.errors import SettingError
from solarstack.services.web.feed import Bus
from solarstack.services.web.store import StateStore

_QUERY_SHAPE = re.compile(r"^[A-Za-z0-9^]{1,24}$")


class CommandRefused(Exception):
    """The command is not allowed; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Waiter:
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, Any] | None = None


def installed_protocols() -> dict[str, ModuleType]:
    """Protocol packages that expose a query allow-list (`is_query`), by name."""
    import solarstack.protocols as protocols

    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(protocols.__path__):
        try:
            module = importlib.import_module(f"solarstack.protocols.{info.name}")
        except Exception:  # a half-installed codec must not take the web down
            continue
        if callable(getattr(module, "is_query", None)):
            found[info.name] = module
    return found


class Commands:
    """Checks, publishes and awaits commands; also the sink for `.../result` messages."""

    def __init__(
        self,
        store: StateStore,
        bus: Callable[[], Bus | None],
        prefix: str,
        timeout: float,
        protocols: dict[str, ModuleType] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._bus = bus
        self._prefix = prefix.rstrip("/")
        self._timeout = timeout
        self._protocols = installed_protocols() if protocols is None else protocols
        self._clock = clock
        self._lock = threading.Lock()
        self._waiters: dict[str, list[_Waiter]] = {}

    # -- the allow-list --------------------------------------------------------------

    def _named_protocol(self, device: str) -> ModuleType | None:
        """The device's protocol when discovery's model or hw_version names it ("PI30 inverter", "jkserial")."""
        catalog = self._store.catalog(device)
        words = set(re.split(r"[^a-z0-9]+", f"{catalog.model} {catalog.hardware}".lower())) if catalog else set()
        named = [m for name, m in self._protocols.items() if name in words]
        return named[0] if len(named) == 1 else None

    def _protocols_for(self, device: str) -> list[ModuleType]:
        named = self._named_protocol(device)
        return [named] if named is not None else list(self._protocols.values())

    def check_query(self, device: str, command: str) -> str:
        self._known(device)
        command = command.strip()
        if not _QUERY_SHAPE.match(command):
            raise CommandRefused(f"{shown(command)!r} is not a command name")
        modules = self._protocols_for(device)
        if not modules:
            raise CommandRefused("no protocol allow-list is installed; queries are refused")
        if not any(m.is_query(command) for m in modules):
            raise CommandRefused(f"{command} is not an allow-listed query for {device}")
        return command

    def check_setting(self, device: str, setting: str, value: object) -> str:
        self._known(device)
        catalog = self._store.catalog(device)
        info = catalog.settings.get(setting) if catalog else None
        if info is None:
            raise CommandRefused(f"{device} has no setting {shown(setting)!r}")
        try:
            wire = info.check(value)
        except ValueError as exc:
            raise CommandRefused(str(exc)) from None
        named = self._named_protocol(device)
        if named is not None:
            self._protocol_check(named, device, setting, value)
        return wire

    def _protocol_check(self, module: ModuleType, device: str, setting: str, value: object) -> None:
        """The protocol's own allow-list and range check, as the reader will run it.

        The context (nominal battery voltage, the device's current lists) comes from the
        device's last state when the protocol can build it from there (`context_from`).
        """
        keys = {s.key for s in (*getattr(module, "SETTINGS", ()), *getattr(module, "ACTIONS", ()))}
        if keys and setting not in keys:
            raise CommandRefused(f"{shown(setting)!r} is not in the protocol's settings allow-list")
        setter = getattr(module, "setter_command", None)
        if setter is None:
            return
        ctx = None
        context_from = getattr(module, "context_from", None)
        if context_from is not None:
            try:
                ctx = context_from(self._store.state(device) or {})
            except SettingError:
                ctx = None
        if ctx is None:
            return  # no context from the state yet: discovery's bounds above still applied
        try:
            setter(setting, value, ctx)
        except SettingError as exc:
            raise CommandRefused(str(exc)) from None

    def _known(self, device: str) -> None:
        if device not in self._store.devices():
            raise CommandRefused(f"unknown device {shown(device)!r}", status=404)

    # -- run -------------------------------------------------------------------------

    def run_query(self, device: str, command: str) -> dict[str, Any]:
        command = self.check_query(device, command)
        topic = f"{self._prefix}/{device}/query"
        return self._send(topic, envelope(command, self._clock(), key="command"), f"{topic}/result")

    def change_setting(self, device: str, setting: str, value: object) -> dict[str, Any]:
        wire = self.check_setting(device, setting, value)
        topic = f"{self._prefix}/{device}/set/{setting}"
        return self._send(topic, envelope(wire, self._clock()), f"{topic}/result")

    def _send(self, topic: str, payload: str, result_topic: str) -> dict[str, Any]:
        bus = self._bus()
        if bus is None or not bus.connected:
            # Never queue it: a command must not run after the user was told it failed.
            raise CommandRefused("not connected to the MQTT broker: the command was not sent", status=503)
        waiter = _Waiter()
        with self._lock:
            self._waiters.setdefault(result_topic, []).append(waiter)
        try:
            if not bus.publish_now(topic, payload, qos=1):  # never the spool (see above)
                raise CommandRefused("not connected to the MQTT broker: the command was not sent", status=503)
            if not waiter.done.wait(self._timeout):
                raise CommandRefused(
                    f"no read-back from the device within {self._timeout:g} s"
                    f" (a reader refuses the command once it is {MAX_AGE_SECONDS:g} s old)",
                    status=504,
                )
            assert waiter.result is not None
            return waiter.result
        finally:
            with self._lock:
                waiters = self._waiters.get(result_topic, [])
                if waiter in waiters:
                    waiters.remove(waiter)
                if not waiters:
                    self._waiters.pop(result_topic, None)

    def deliver(self, topic: str, result: dict[str, Any]) -> None:
        """A `.../result` arrived: hand it to the oldest command waiting on that topic."""
        with self._lock:
            waiters = self._waiters.get(topic)
            waiter = waiters.pop(0) if waiters else None
        if waiter is not None:
            waiter.result = result
            waiter.done.set()

"""Devices layer: what every Voltronic PI-family inverter shares — the link, queries, identity
and the setting-write flow. devices/pi30.py and devices/pi18.py are this plus their codec;
`RatedDevice` adds the cached context of every family that takes settings (PI30, PI41, PI18,
PI17: a ratings query and the unit's offers, refitted by a write's read-back), and
`AllowListDevice` what PI30 and PI41 share on top (settings, actions and setter text from the
codec's allow-list, `SetterCodec`).

The transport moves bytes, the codec says where a frame ends and what it means; `PiDevice`
joins them: one request at a time, bounded by a deadline, stale bytes dropped first, USB-HID
zero padding skipped, the link closed on failure so the next call reopens it (USB unplug,
TCP reset). Setting writes are range-checked against the unit's own ratings (the family's
"context"), acknowledged, then read back.

`apply` never raises: every outcome is a SetResult, and the audit log (logger
`solarstack.audit`) says what happened — `refused` (never reached the device), `write`
(only once the frame is on the wire), then `done`, `nak` or `failed`.

It must not name a protocol: a family's device class gives its codec through the small
methods marked "the family's" below (frame end, encode, decode, setter text, context).
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from solarstack.core.command import shown
from solarstack.core.errors import (
    ConfigError,
    DeviceTimeout,
    FrameError,
    NakError,
    ProtocolError,
    SettingError,
    SolarstackError,
    TransportError,
)
from solarstack.core.fields import Field, FieldTable, Kind, Reading, Setting, Value
from solarstack.devices.base import Identity, SetResult
from solarstack.transports.base import Transport

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

DEFAULT_TIMEOUT = 3.0
#: Longest reply we accept before calling it garbage (QPIRI is ~100 bytes, QPGSn ~150).
MAX_FRAME = 1024
#: Longest value text an audit line or result echoes (a payload can be megabytes).
SHOWN = 40
_KEY = re.compile(r"[a-z0-9_]{1,64}")
#: How a refused destructive action says it can be enabled (the reader's setting).
ENABLE_DESTRUCTIVE = "INVERTER_ALLOW_DESTRUCTIVE=true"

ContextT = TypeVar("ContextT")
ContextIn = TypeVar("ContextIn", contravariant=True)


class CommandSpec(Protocol):
    """What the shared code reads of a codec's command row (pi30.Command, pi18.Command)."""

    @property
    def read_only(self) -> bool: ...

    @property
    def fields(self) -> FieldTable: ...


class SetterCodec(Protocol[ContextIn]):
    """What AllowListDevice reads of a family's codec (its module: pi30's, pi41's)."""

    @property
    def SETTINGS(self) -> tuple[Setting, ...]: ...
    @property
    def ACTIONS(self) -> tuple[Setting, ...]: ...
    @property
    def SETTING_MAP(self) -> Mapping[str, Setting]: ...
    @property
    def DESTRUCTIVE(self) -> frozenset[str]: ...
    @property
    def PRESS(self) -> str: ...

    def settings_for(self, ctx: ContextIn) -> tuple[Setting, ...]: ...
    def setter_command(self, key: str, value: str | float, ctx: ContextIn) -> str: ...
    def expected_readback(self, key: str, value: str | float) -> Value: ...


def logger(name: str) -> logging.Logger:
    """`logging.getLogger`, imported on first use: `solarstack query` never logs, and
    importing logging is ~7 ms of its start-up (bench/bench_query.py)."""
    import logging

    return logging.getLogger(name)


def audit() -> logging.Logger:
    """Setting writes, refusals and read-backs: the audit trail (DESIGN.md)."""
    return logger("solarstack.audit")


class PiDevice(ABC, Generic[ContextT]):
    """One PI-family inverter behind one transport (see module doc); a family subclasses it."""

    protocol: str
    kind = "inverter"
    manufacturer = "Voltronic Power"
    #: Asked once for the device page (the family's identity queries).
    IDENTITY_COMMANDS: tuple[str, ...] = ()

    def __init__(self, device_id: str, transport: Transport, *, timeout: float, bump_zero: bool) -> None:
        self.id = device_id
        self.transport = transport
        self.timeout = timeout
        self.bump_zero = bump_zero
        self._context: ContextT | None = None
        self._identity: Identity | None = None

    # -- the family's: codec ---------------------------------------------------------

    @abstractmethod
    def frame_end(self, buffer: bytes) -> int | None: ...

    @abstractmethod
    def lookup(self, command: str) -> CommandSpec:
        """The command's row; ConfigError (one line) for an unknown command."""
        ...

    @abstractmethod
    def encode(self, command: str) -> bytes: ...

    @abstractmethod
    def decode(self, command: str, frame: bytes) -> dict[str, Value]: ...

    @abstractmethod
    def identity_from(self, found: Mapping[str, str]) -> Identity:
        """The device page from the identity queries' values (those that answered)."""
        ...

    # -- the family's: settings ------------------------------------------------------

    @abstractmethod
    def context(self, *, refresh: bool = False) -> ContextT:
        """The unit's ratings that bound settings, asked once and cached."""
        ...

    @abstractmethod
    def allowed(self, key: str) -> Setting:
        """The allow-listed setting `key`, or SettingError saying why not."""
        ...

    def precheck(self, spec: Setting, value: str) -> None:
        """Refuse a value before any I/O where no ratings are needed (SettingError)."""

    @abstractmethod
    def setter_command(self, setting: str, value: str, ctx: ContextT) -> str: ...

    @abstractmethod
    def expected_readback(self, setting: str, value: str) -> Value:
        """What the read-back field shows once `value` took effect (None: not compared)."""
        ...

    def refit(self, command: str, values: dict[str, Value]) -> None:
        """Update the cached context from a read-back (`command`'s values)."""

    # -- queries ---------------------------------------------------------------------

    def exchange(self, request: bytes, *, sent: Callable[[], None] | None = None) -> bytes:
        """Send one request and return the reply frame (up to and including `\\r`).

        `sent` is called once the request has been written (the audit's "write").
        """
        try:
            self.transport.open()
            self.transport.reset_input()
            self.transport.write(request)
            if sent is not None:
                sent()
            deadline = time.monotonic() + self.timeout
            buf = b""
            while True:
                end = self.frame_end(buf)
                if end is not None:
                    return buf[:end]
                if len(buf) > MAX_FRAME:
                    raise FrameError(f"no end of frame after {len(buf)} bytes")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeviceTimeout(
                        f"{self.id}: no answer within {self.timeout:g} s"
                        + (f" ({len(buf)} bytes of a reply)" if buf else "")
                    )
                # USB-HID replies come as zero-padded 8-byte reports; the padding follows
                # the `\r`, so frame_end() cuts it off. Zeros before a frame starts are
                # left-over padding. Zeros inside a frame can be a CRC byte: kept.
                buf = (buf + self.transport.read(left)).lstrip(b"\x00")
        except TransportError:
            self.transport.close()
            raise

    def query(self, command: str) -> Reading:
        spec = self.lookup(command)  # ConfigError for unknown commands, before any I/O
        if not spec.read_only:  # a setter only ever goes through apply()
            raise ConfigError(
                f"{command} is a setting command, not a query; settings change through their allow-listed names"
            )
        frame = self.exchange(self.encode(command))
        ts = datetime.now(UTC)
        values = self.decode(command, frame)
        return Reading(self.id, ts, values, with_extras(spec.fields, values))

    def table(self, command: str) -> FieldTable:
        return self.lookup(command).fields

    def identify(self, values: Mapping[str, Value]) -> Identity:
        """Serial number, firmware and model, asked once; and the ratings, so settings get
        this unit's own bounds from the start. A command the unit does not answer is skipped."""
        if self._identity is None:
            log = logger(type(self).__module__)
            found: dict[str, str] = {}
            for command in self.IDENTITY_COMMANDS:
                try:
                    found.update({k: str(v) for k, v in self.query(command).values.items()})
                except SolarstackError as exc:
                    log.debug("%s: %s not answered (%s)", self.id, command, exc)
            try:
                self.context()
            except SolarstackError as exc:
                log.info("%s: ratings not read yet (%s); settings use 48 V bounds until then", self.id, exc)
            self._identity = self.identity_from(found)
        return self._identity

    # -- settings --------------------------------------------------------------------

    def apply(self, setting: str, value: str) -> SetResult:
        """Validate, write, read back. Never raises: the result says what happened and why."""
        text = shown_value(value)
        try:
            return self._apply(setting, value, text)
        except Exception as exc:  # a bug, not a device answer: one result, one traceback
            logger(type(self).__module__).exception(
                "%s: setting %s=%s failed unexpectedly", self.id, key_text(setting), text
            )
            audit().warning("failed %s.%s=%s: %s", self.id, key_text(setting), text, one_line(exc))
            return SetResult(False, setting, echo(value), f"internal error: {one_line(exc)}")

    def _apply(self, setting: str, value: str, text: str) -> SetResult:
        what = f"{self.id}.{key_text(setting)}={text}"
        try:
            spec = self.allowed(setting)
            self.precheck(spec, value)
        except (SettingError, ConfigError) as exc:
            return refused(what, setting, value, exc)
        try:
            ctx = self.context()
        except (SettingError, ProtocolError, TransportError) as exc:
            audit().warning("failed %s: cannot read the unit's ratings: %s", what, one_line(exc))
            return SetResult(False, setting, echo(value), f"cannot read the inverter's ratings: {one_line(exc)}")
        try:
            command = self.setter_command(setting, value, ctx)
            request = self.encode(command)  # ConfigError if no valid setter text
        except (SettingError, ConfigError) as exc:
            return refused(what, setting, value, exc)
        written = False

        def sent() -> None:
            nonlocal written
            written = True
            audit().info("write %s as %s", what, command)

        try:
            reply = self.exchange(request, sent=sent)
            self.decode(command, reply)  # an acknowledgement passes; a refusal raises NakError
        except NakError:
            audit().warning("nak %s: the inverter refused %s", what, command)
            return SetResult(False, setting, value, f"the inverter refused {command} (NAK)")
        except (ProtocolError, TransportError) as exc:
            state = "written, no valid answer" if written else "not written"
            audit().warning("failed %s (%s): %s", what, state, one_line(exc))
            return SetResult(False, setting, value, f"write failed ({state}): {one_line(exc)}")
        readback: dict[str, Value] = {}
        result: Value = value
        if spec.readback_command:
            try:
                readback = self.query(spec.readback_command).values
            except (ProtocolError, TransportError) as exc:
                audit().warning("failed %s: acknowledged, read-back failed: %s", what, one_line(exc))
                return SetResult(False, setting, value, f"written, but read-back failed: {one_line(exc)}")
            self.refit(spec.readback_command, readback)
            if spec.readback:
                result = readback.get(spec.readback)
                expected = self.expected_readback(setting, value)
                if expected is not None and result != expected:
                    audit().warning("failed %s: acknowledged, but reads back %r", what, result)
                    return SetResult(False, setting, result, f"acknowledged, but the inverter reads back {result!r}")
        audit().info("done %s -> %r", what, result)
        return SetResult(True, setting, result, None, readback)

    def close(self) -> None:
        self.transport.close()


def shown_value(value: object) -> str:
    """repr() for a log line or message, cut short: a payload can be megabytes."""
    return shown(repr(value), SHOWN)


def key_text(setting: str) -> str:
    """A setting name for a log line: as is when it is a plain key, else quoted and cut."""
    return setting if _KEY.fullmatch(setting) else shown_value(setting)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "…"


def echo(value: str) -> str | None:
    """The value for a refusal's result: not echoed when it is too long to be a value."""
    return value if len(str(value)) <= 256 else None


def refused(what: str, setting: str, value: str, exc: Exception) -> SetResult:
    audit().warning("refused %s: %s", what, one_line(exc))
    return SetResult(False, setting, echo(value), one_line(exc))


def with_extras(fields: FieldTable, values: dict[str, Value]) -> FieldTable:
    """Fields a firmware sent beyond our table (`extra_N`) still get a row: kept, never lost."""
    known = {f.key for f in fields}
    extra = tuple(Field(k, kind=Kind.TEXT, diagnostic=True) for k in values if k not in known)
    return fields + extra if extra else fields


def flag_option(url_option: str | None) -> bool:
    """A yes/no URL option (`crc_bump_zero=1`)."""
    return url_option in ("1", "true", "yes")


def unknown_setting(key: str, settings: tuple[Setting, ...]) -> SettingError:
    """The one-line refusal of a name that is not on the allow-list."""
    return SettingError(f"unknown setting {key_text(key)}; allowed: {', '.join(s.key for s in settings)}")


def allow_listed(
    key: str,
    setting_map: Mapping[str, Setting],
    offered: Callable[[], tuple[Setting, ...]],
    *,
    destructive: frozenset[str] = frozenset(),
    enabled: bool = False,
) -> Setting:
    """The allow-listed setting `key`; SettingError for a name not on the list (naming what
    `offered` gives) or a destructive action its operator has not enabled."""
    found = setting_map.get(key)
    if found is None:
        raise unknown_setting(key, offered())
    if key in destructive and not enabled:
        raise SettingError(
            f"{key} erases the inverter's settings and is disabled; set {ENABLE_DESTRUCTIVE} to allow it"
        )
    return found


class RatedDevice(PiDevice[ContextT]):
    """A family whose settings are bounded by the unit's own answers (its context): a ratings
    query (`RATINGS`), which a write's read-back repeats, and what the unit offers (`offers`:
    its charge-current lists, setting ranges), which no setting changes. Both are asked once
    and cached; a read-back of the ratings refits the context (`refit`)."""

    #: The family's: the query the context is built from (and the read-back that refits it).
    RATINGS: str
    #: The family's: the lists of what the unit offers, in `context_from`'s order.
    OFFERED: tuple[str, ...] = ()
    #: The offers as the context was last asked with: `refit` builds on them.
    _offered: tuple[Mapping[str, Value] | None, ...] = ()

    @abstractmethod
    def context_from(self, ratings: Mapping[str, Value], *offers: Mapping[str, Value] | None) -> ContextT:
        """The family's context from decoded ratings and offers, in `OFFERED`'s order (SettingError
        if the ratings lack what it needs)."""
        ...

    def ratings(self) -> Mapping[str, Value]:
        """The ratings query's values, as the context is asked (not as read back)."""
        return self.query(self.RATINGS).values

    def offers(self) -> tuple[Mapping[str, Value] | None, ...]:
        """The lists the unit offers (`OFFERED`: its charge currents), None for a list it does
        not answer (older firmware): that setting keeps static bounds."""
        lists: list[Mapping[str, Value] | None] = []
        for command in self.OFFERED:
            try:
                lists.append(self.query(command).values)
            except ProtocolError as exc:
                logger(type(self).__module__).info(
                    "%s: %s unsupported (%s); current settings use static bounds", self.id, command, exc
                )
                lists.append(None)
        return tuple(lists)

    def context(self, *, refresh: bool = False) -> ContextT:
        """The unit's ratings and offers that bound settings, asked once and cached."""
        if self._context is None or refresh:
            ratings = self.ratings()
            self._offered = self.offers()
            self._context = self.context_from(ratings, *self._offered)
        return self._context

    def refit(self, command: str, values: dict[str, Value]) -> None:
        """The context from a read-back of the ratings and the offers as first asked (they do not
        change with settings: kept): no second round of queries per write (at 2400 baud each
        costs ~0.5 s)."""
        if command != self.RATINGS or self._context is None:
            return
        try:
            self._context = self.context_from(values, *self._offered)
        except SettingError:
            self._context = None  # asked again before the next write


class AllowListDevice(RatedDevice[ContextT]):
    """A family whose codec carries settings and actions (`SetterCodec`): settings fitted to
    the unit once its ratings are known, destructive actions off unless enabled, a button's
    payload checked before any I/O, setter text and read-back from the codec."""

    allow_destructive = False

    @abstractmethod
    def setters(self) -> SetterCodec[ContextT]:
        """The family's codec."""
        ...

    @abstractmethod
    def blank_context(self) -> ContextT:
        """A context with no ratings: enough to check a button's payload."""
        ...

    def settings(self) -> tuple[Setting, ...]:
        """Settings (and actions) with bounds fitted to this unit once its ratings are known;
        destructive actions only when enabled (catalogue, discovery and the web read this)."""
        codec = self.setters()
        fitted = codec.settings_for(self._context) if self._context is not None else codec.SETTINGS
        actions = (a for a in codec.ACTIONS if self.allow_destructive or a.key not in codec.DESTRUCTIVE)
        return (*fitted, *actions)

    def allowed(self, key: str) -> Setting:
        codec = self.setters()
        return allow_listed(
            key, codec.SETTING_MAP, self.settings, destructive=codec.DESTRUCTIVE, enabled=self.allow_destructive
        )

    def precheck(self, spec: Setting, value: str) -> None:
        codec = self.setters()
        if spec.options == (codec.PRESS,):  # a button needs no ratings: refuse junk before any I/O
            codec.setter_command(spec.key, value, self.blank_context())

    def setter_command(self, setting: str, value: str, ctx: ContextT) -> str:
        return self.setters().setter_command(setting, value, ctx)

    def expected_readback(self, setting: str, value: str) -> Value:
        return self.setters().expected_readback(setting, value)

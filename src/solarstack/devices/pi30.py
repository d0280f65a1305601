"""Devices layer: a PI30 inverter — the PI30 codec over any transport.

The transport moves bytes, the codec says where a frame ends and what it means;
this class joins them: one request at a time, bounded by a deadline, stale bytes
dropped first, the link closed on failure so the next call reopens it (USB unplug,
TCP reset). Setting writes are range-checked against the unit's own ratings
(QPIRI, QMCHGCR, QMUCHGCR), acknowledged, then read back.

`apply` never raises: every outcome is a SetResult, and the audit log (logger
`solarstack.audit`) says what happened — `refused` (never reached the device),
`write` (only once the frame is on the wire), then `done`, `nak` or `failed`.
Destructive actions (pi30.DESTRUCTIVE: restore defaults) are off the allow-list
unless the device is built with `allow_destructive=True`.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from solarstack.core.command import shown
from solarstack.core.device_url import DeviceURL
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
from solarstack.protocols import pi30
from solarstack.transports.base import Transport

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

    from solarstack.core.energy import Counter

DEFAULT_TIMEOUT = 3.0
#: Longest reply we accept before calling it garbage (QPIRI is ~100 bytes, QPGSn ~150).
MAX_FRAME = 1024
#: Longest value text an audit line or result echoes (a payload can be megabytes).
SHOWN = 40
#: How a refused destructive action says it can be enabled (the reader's setting).
ENABLE_DESTRUCTIVE = "INVERTER_ALLOW_DESTRUCTIVE=true"
_KEY = re.compile(r"[a-z0-9_]{1,64}")


def _logger(name: str) -> logging.Logger:
    """`logging.getLogger`, imported on first use: `solarstack query` never logs, and
    importing logging is ~7 ms of its start-up (bench/bench_query.py)."""
    import logging

    return logging.getLogger(name)


def _audit() -> logging.Logger:
    """Setting writes, refusals and read-backs: the audit trail (DESIGN.md)."""
    return _logger("solarstack.audit")


class Pi30Device:
    """One PI30-family inverter behind one transport."""

    protocol = "pi30"
    kind = "inverter"
    manufacturer = "Voltronic Power"
    energy_command = "QPIGS"
    #: Asked once for the device page: serial number, firmware, model name.
    IDENTITY_COMMANDS = ("QID", "QVFW", "QMN")

    def __init__(
        self,
        device_id: str,
        transport: Transport,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        bump_zero: bool = False,
        allow_destructive: bool = False,
    ) -> None:
        self.id = device_id
        self.transport = transport
        self.timeout = timeout
        self.bump_zero = bump_zero
        self.allow_destructive = allow_destructive
        self._context: pi30.Pi30Context | None = None
        self._identity: Identity | None = None

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
                end = pi30.frame_end(buf)
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
        spec = pi30.lookup(command)  # ConfigError for unknown commands, before any I/O
        if not spec.read_only:  # a setter (PF: factory reset) only ever goes through apply()
            raise ConfigError(
                f"{command} is a setting command, not a query; settings change through their allow-listed names"
            )
        frame = self.exchange(pi30.encode(command, bump_zero=self.bump_zero))
        ts = datetime.now(UTC)
        values = pi30.decode(command, frame)
        return Reading(self.id, ts, values, _with_extras(spec.fields, values))

    def default_commands(self) -> tuple[str, ...]:
        return ("QPIGS", "QPIRI", "QMOD", "QPIWS", "QFLAG")

    def schedule(self, fast: float, slow: float) -> tuple[tuple[str, float], ...]:
        """Live values every `fast` seconds, ratings and flags every `slow`."""
        return (("QPIGS", fast), ("QMOD", fast), ("QPIWS", fast), ("QPIRI", slow), ("QFLAG", slow))

    def counters(self) -> tuple[Counter, ...]:
        from solarstack.protocols.pi30.energy import PI30_COUNTERS

        return PI30_COUNTERS

    def identify(self, values: Mapping[str, Value]) -> Identity:
        """Serial number, firmware and model, asked once; and the ratings, so settings get
        this unit's own bounds from the start. A command the unit does not answer is skipped."""
        if self._identity is None:
            found: dict[str, str] = {}
            for command in self.IDENTITY_COMMANDS:
                try:
                    found.update({k: str(v) for k, v in self.query(command).values.items()})
                except SolarstackError as exc:
                    _logger(__name__).debug("%s: %s not answered (%s)", self.id, command, exc)
            try:
                self.context()
            except SolarstackError as exc:
                _logger(__name__).info(
                    "%s: ratings not read yet (%s); settings use 48 V bounds until then", self.id, exc
                )
            self._identity = Identity(
                manufacturer=self.manufacturer,
                model=found.get("model_name") or "PI30 inverter",
                serial_number=found.get("serial_number"),
                sw_version=found.get("main_cpu_firmware"),
            )
        return self._identity

    def table(self, command: str) -> FieldTable:
        return pi30.lookup(command).fields

    def is_query(self, command: str) -> bool:
        return pi30.is_query(command)

    def queries(self) -> tuple[str, ...]:
        """The read-only commands by name; patterned ones (QPGSn, dated energy) are allowed by
        `is_query` but listed only where a schedule names them."""
        return tuple(c.name for c in pi30.COMMANDS.values() if c.read_only and c.pattern is None)

    # -- settings --------------------------------------------------------------------

    def settings(self) -> tuple[Setting, ...]:
        """Settings (and actions) with bounds fitted to this unit once its ratings are known.

        Destructive actions are left out unless enabled: the catalogue, HA discovery and
        the web's allow-list are all built from this.
        """
        fitted = pi30.settings_for(self._context) if self._context is not None else pi30.SETTINGS
        actions = (a for a in pi30.ACTIONS if self.allow_destructive or a.key not in pi30.DESTRUCTIVE)
        return (*fitted, *actions)

    def context(self, *, refresh: bool = False) -> pi30.Pi30Context:
        """The unit's ratings that bound settings, asked once and cached."""
        if self._context is None or refresh:
            qpiri = self.query("QPIRI").values
            lists: list[dict[str, Value] | None] = []
            for cmd in ("QMCHGCR", "QMUCHGCR"):
                try:
                    lists.append(self.query(cmd).values)
                except ProtocolError as exc:  # older firmware lacks them: fall back to static bounds
                    _logger(__name__).info(
                        "%s: %s unsupported (%s); current settings use static bounds", self.id, cmd, exc
                    )
                    lists.append(None)
            self._context = pi30.context_from(qpiri, lists[0], lists[1])
        return self._context

    def apply(self, setting: str, value: str) -> SetResult:
        """Validate, write, read back. Never raises: the result says what happened and why."""
        shown = _shown(value)
        try:
            return self._apply(setting, value, shown)
        except Exception as exc:  # a bug, not a device answer: one result, one traceback
            _logger(__name__).exception("%s: setting %s=%s failed unexpectedly", self.id, _key(setting), shown)
            _audit().warning("failed %s.%s=%s: %s", self.id, _key(setting), shown, _one_line(exc))
            return SetResult(False, setting, _echo(value), f"internal error: {_one_line(exc)}")

    def _apply(self, setting: str, value: str, shown: str) -> SetResult:
        what = f"{self.id}.{_key(setting)}={shown}"
        try:
            spec = self._allowed(setting)
            if spec.options == (pi30.PRESS,):  # a button needs no ratings: refuse junk before any I/O
                pi30.setter_command(setting, value, pi30.Pi30Context())
        except (SettingError, ConfigError) as exc:
            return _refused(what, setting, value, exc)
        try:
            ctx = self.context()
        except (SettingError, ProtocolError, TransportError) as exc:
            _audit().warning("failed %s: cannot read the unit's ratings: %s", what, _one_line(exc))
            return SetResult(False, setting, _echo(value), f"cannot read the inverter's ratings: {_one_line(exc)}")
        try:
            command = pi30.setter_command(setting, value, ctx)
            request = pi30.encode(command, bump_zero=self.bump_zero)  # ConfigError if no valid setter text
        except (SettingError, ConfigError) as exc:
            return _refused(what, setting, value, exc)
        written = False

        def sent() -> None:
            nonlocal written
            written = True
            _audit().info("write %s as %s", what, command)

        try:
            reply = self.exchange(request, sent=sent)
            pi30.decode(command, reply)  # (ACK passes; (NAK raises NakError
        except NakError:
            _audit().warning("nak %s: the inverter refused %s", what, command)
            return SetResult(False, setting, value, f"the inverter refused {command} (NAK)")
        except (ProtocolError, TransportError) as exc:
            state = "written, no valid answer" if written else "not written"
            _audit().warning("failed %s (%s): %s", what, state, _one_line(exc))
            return SetResult(False, setting, value, f"write failed ({state}): {_one_line(exc)}")
        readback: dict[str, Value] = {}
        result: Value = value
        if spec.readback_command:
            try:
                readback = self.query(spec.readback_command).values
            except (ProtocolError, TransportError) as exc:
                _audit().warning("failed %s: acknowledged, read-back failed: %s", what, _one_line(exc))
                return SetResult(False, setting, value, f"written, but read-back failed: {_one_line(exc)}")
            if spec.readback_command == "QPIRI":
                self._refit(readback)
            if spec.readback:
                result = readback.get(spec.readback)
                expected = pi30.expected_readback(setting, value)
                if expected is not None and result != expected:
                    _audit().warning("failed %s: acknowledged, but reads back %r", what, result)
                    return SetResult(False, setting, result, f"acknowledged, but the inverter reads back {result!r}")
        _audit().info("done %s -> %r", what, result)
        return SetResult(True, setting, result, None, readback)

    def _refit(self, qpiri: dict[str, Value]) -> None:
        """Ratings from the read-back QPIRI: no second round of QPIRI, QMCHGCR, QMUCHGCR per
        write (at 2400 baud each costs ~0.5 s). The current lists do not change with settings."""
        try:
            nominal = pi30.context_from(qpiri).nominal_battery_voltage
        except SettingError:
            self._context = None  # asked again before the next write
            return
        if self._context is not None:
            self._context = self._context._replace(nominal_battery_voltage=nominal)

    def _allowed(self, key: str) -> Setting:
        found = pi30.SETTING_MAP.get(key)
        if found is None or (key in pi30.DESTRUCTIVE and not self.allow_destructive):
            if found is not None:
                raise SettingError(
                    f"{key} erases the inverter's settings and is disabled; set {ENABLE_DESTRUCTIVE} to allow it"
                )
            allowed = ", ".join(s.key for s in self.settings())
            raise SettingError(f"unknown setting {_key(key)}; allowed: {allowed}")
        return found

    def close(self) -> None:
        self.transport.close()


def _shown(value: object) -> str:
    """repr() for a log line or message, cut short: a payload can be megabytes."""
    return shown(repr(value), SHOWN)


def _key(setting: str) -> str:
    """A setting name for a log line: as is when it is a plain key, else quoted and cut."""
    return setting if _KEY.fullmatch(setting) else _shown(setting)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "…"


def _echo(value: str) -> str | None:
    """The value for a refusal's result: not echoed when it is too long to be a value."""
    return value if len(str(value)) <= 256 else None


def _refused(what: str, setting: str, value: str, exc: Exception) -> SetResult:
    _audit().warning("refused %s: %s", what, _one_line(exc))
    return SetResult(False, setting, _echo(value), _one_line(exc))


def _with_extras(fields: FieldTable, values: dict[str, Value]) -> FieldTable:
    """Fields a firmware sent beyond our table (`extra_N`) still get a row: kept, never lost."""
    known = {f.key for f in fields}
    extra = tuple(Field(k, kind=Kind.TEXT, diagnostic=True) for k in values if k not in known)
    return fields + extra if extra else fields


def open_device(url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False) -> Pi30Device:
    """Build a PI30 device from its URL (the transport opens on first use).

    `allow_destructive` puts restore-defaults on the allow-list (INVERTER_ALLOW_DESTRUCTIVE).
    """
    from solarstack.transports.factory import open_transport

    bump = url.option("crc_bump_zero", "0") in ("1", "true", "yes")
    return Pi30Device(
        url.name,
        open_transport(url),
        timeout=timeout if timeout is not None else url.float_option("timeout", DEFAULT_TIMEOUT),
        bump_zero=bump,
        allow_destructive=allow_destructive,
    )

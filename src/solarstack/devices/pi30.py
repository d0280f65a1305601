"""Devices layer: a PI30 inverter — the PI30 codec over any transport.

The transport moves bytes, the codec says where a frame ends and what it means;
this class joins them: one request at a time, bounded by a deadline, stale bytes
dropped first, the link closed on failure so the next call reopens it (USB unplug,
TCP reset). Setting writes are range-checked against the unit's own ratings
(QPIRI, QMCHGCR, QMUCHGCR), acknowledged, then read back.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import (
    ConfigError,
    DeviceTimeout,
    FrameError,
    NakError,
    ProtocolError,
    SettingError,
    TransportError,
)
from solarstack.core.fields import Field, FieldTable, Kind, Reading, Setting, Value
from solarstack.devices.base import SetResult
from solarstack.protocols import pi30
from solarstack.transports.base import Transport

if TYPE_CHECKING:
    import logging

DEFAULT_TIMEOUT = 3.0
#: Longest reply we accept before calling it garbage (QPIRI is ~100 bytes, QPGSn ~150).
MAX_FRAME = 1024


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

    def __init__(
        self,
        device_id: str,
        transport: Transport,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        bump_zero: bool = False,
    ) -> None:
        self.id = device_id
        self.transport = transport
        self.timeout = timeout
        self.bump_zero = bump_zero
        self._context: pi30.Pi30Context | None = None

    # -- queries ---------------------------------------------------------------------

    def exchange(self, request: bytes) -> bytes:
        """Send one request and return the reply frame (up to and including `\\r`)."""
        try:
            self.transport.open()
            self.transport.reset_input()
            self.transport.write(request)
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
        frame = self.exchange(pi30.encode(command, bump_zero=self.bump_zero))
        ts = datetime.now(UTC)
        values = pi30.decode(command, frame)
        return Reading(self.id, ts, values, _with_extras(spec.fields, values))

    def default_commands(self) -> tuple[str, ...]:
        return ("QPIGS", "QPIRI", "QMOD", "QPIWS", "QFLAG")

    def table(self, command: str) -> FieldTable:
        return pi30.lookup(command).fields

    def is_query(self, command: str) -> bool:
        return pi30.is_query(command)

    # -- settings --------------------------------------------------------------------

    def settings(self) -> tuple[Setting, ...]:
        """Settings (and actions) with bounds fitted to this unit once its ratings are known."""
        fitted = pi30.settings_for(self._context) if self._context is not None else pi30.SETTINGS
        return (*fitted, *pi30.ACTIONS)

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
        """Validate, write, read back. Never raises for a refused value: the result says why."""
        try:
            spec = _setting(setting)
            command = pi30.setter_command(setting, value, self.context())
        except (SettingError, ConfigError) as exc:
            _audit().warning("refused %s.%s=%r: %s", self.id, setting, value, exc)
            return SetResult(False, setting, value, str(exc))
        _audit().info("write %s.%s=%r as %s", self.id, setting, value, command)
        try:
            reply = self.exchange(pi30.encode(command, bump_zero=self.bump_zero))
            pi30.decode(command, reply)  # (ACK passes; (NAK raises NakError
        except NakError:
            _audit().warning("device refused %s (NAK)", command)
            return SetResult(False, setting, value, f"the inverter refused {command} (NAK)")
        except (ProtocolError, TransportError) as exc:
            _audit().warning("write %s failed: %s", command, exc)
            return SetResult(False, setting, value, f"write failed: {exc}")
        readback: dict[str, Value] = {}
        shown: Value = value
        if spec.readback_command:
            try:
                readback = self.query(spec.readback_command).values
                self._context = None  # ratings may have changed (battery type, voltages)
            except (ProtocolError, TransportError) as exc:
                return SetResult(False, setting, value, f"written, but read-back failed: {exc}")
            if spec.readback:
                shown = readback.get(spec.readback)
                expected = pi30.expected_readback(setting, value)
                if expected is not None and shown != expected:
                    _audit().warning("%s.%s: acknowledged, but reads back %r", self.id, setting, shown)
                    return SetResult(False, setting, shown, f"acknowledged, but the inverter reads back {shown!r}")
        _audit().info("done %s.%s -> %r", self.id, setting, shown)
        return SetResult(True, setting, shown, None, readback)

    def close(self) -> None:
        self.transport.close()


def _setting(key: str) -> Setting:
    found = pi30.SETTING_MAP.get(key)
    if found is None:
        raise SettingError(f"unknown setting {key!r}; allowed: {', '.join(pi30.SETTING_MAP)}")
    return found


def _with_extras(fields: FieldTable, values: dict[str, Value]) -> FieldTable:
    """Fields a firmware sent beyond our table (`extra_N`) still get a row: kept, never lost."""
    known = {f.key for f in fields}
    extra = tuple(Field(k, kind=Kind.TEXT, diagnostic=True) for k in values if k not in known)
    return fields + extra if extra else fields


def open_device(url: DeviceURL, *, timeout: float | None = None) -> Pi30Device:
    """Build a PI30 device from its URL (the transport opens on first use)."""
    from solarstack.transports.factory import open_transport

    bump = url.option("crc_bump_zero", "0") in ("1", "true", "yes")
    return Pi30Device(
        url.name,
        open_transport(url),
        timeout=timeout if timeout is not None else url.float_option("timeout", DEFAULT_TIMEOUT),
        bump_zero=bump,
    )

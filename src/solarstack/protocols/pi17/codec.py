"""Protocols layer (PI17): the one generic decoder (and its inverse) driven by commands.py.

Pure: bytes -> dict and dict -> payload text; no I/O, no logging, no per-command code.
Frame layout and CRC live in framing.py. Each field table is compiled once into a plan
(one converter per field).

Firmware tolerance, by rule (not by `if` per model):
  * a field past the table's last position is kept as `extra_<pos>` (raw text) — a
    recorded BATS has a 23rd field neither PDF names;
  * an empty field (`,,`: "reserved" in the PDF) and a field missing from a shorter
    reply are omitted;
  * a numeric field made only of `-` and `.` means 0 (as on PI30);
  * an enum value not in the table's options is kept as its raw text.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from solarstack.core.errors import FrameError
from solarstack.core.fields import Field, Kind, Value
from solarstack.protocols.pi17 import framing
from solarstack.protocols.pi17.commands import COMMANDS, Command, Style, lookup
from solarstack.protocols.pi18.tokens import converter


class _Plan:
    """A compiled field table: (position, key, converter) per row."""

    __slots__ = ("last", "prefix", "rows", "style")

    def __init__(self, command: Command) -> None:
        self.style = command.style
        self.prefix = command.prefix
        self.rows = tuple((f.pos, f.key, converter(f)) for f in command.fields)
        self.last = max((f.pos for f in command.fields), default=-1)

    def tokens(self, payload: str) -> list[str]:
        if self.style is Style.WHOLE:
            return [payload.removeprefix(self.prefix)]
        if self.style is Style.SERIAL:
            # `LL` + digits: the first LL of them are the serial (`14` + 20 digits)
            if len(payload) < 2 or not payload[:2].isdigit() or not payload[:2].isascii():
                raise FrameError(f"serial number reply {payload[:24]!r} does not start with its length")
            return [payload[2 : 2 + int(payload[:2])]]
        return payload.split(",")

    def run(self, payload: str) -> dict[str, Value]:
        tokens = self.tokens(payload)
        count = len(tokens)
        values: dict[str, Value] = {}
        for pos, key, convert in self.rows:
            if pos < count and tokens[pos]:
                values[key] = convert(tokens[pos])
        for pos in range(self.last + 1, count):
            values[f"extra_{pos}"] = tokens[pos]
        return values


@functools.cache
def _plan(name: str) -> _Plan:
    """The compiled plan of one command, built on first use (a one-shot CLI decodes one)."""
    return _Plan(COMMANDS[name])


def decode(command: str, frame: bytes) -> dict[str, Value]:
    """Decode one reply frame to {field key: value}.

    Raises only ProtocolError subclasses for anything the device sent (CrcError,
    NakError, FrameError); an unknown *command* is the caller's ConfigError.
    A setter's `^1` decodes to {"ack": True}.
    """
    spec = lookup(command)
    payload = framing.unframe(command, frame)
    if not spec.read_only:
        if payload is True:
            return {"ack": True}
        raise FrameError(f"{command}: expected ^1 or ^0, got a data reply")
    if payload is True:
        raise FrameError(f"{command}: query answered ^1")
    assert isinstance(payload, str)
    if not payload:
        raise FrameError(f"{command}: empty reply")
    return _plan(spec.name).run(payload)


# --- the inverse, for the simulator ---------------------------------------------


def _format_value(field: Field, value: Value) -> str:
    kind, fmt = field.kind, field.fmt or ""
    if kind is Kind.ENUM:
        for raw, label in (field.options or {}).items():
            if label == value:
                return raw
        return str(value)  # an unknown label stays raw, as the decoder keeps it
    if kind is Kind.BOOL:
        return "1" if value is True else "0"
    if kind is Kind.TEXT:
        return str(value)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{field.key}: {value!r} is not a number")
    scaled = value / field.scale if field.scale != 1.0 else value
    if fmt.endswith("d"):
        return format(round(scaled), fmt)
    return format(scaled, fmt)


def format_fields(command: str, values: Mapping[str, Value]) -> str:
    """The firmware's payload text for `values` (inverse of decode, without `^Dnnn`/CRC).

    Rows missing from `values` but before the last given row are written as zeros (flags
    `0`, enums their first option), so a partial dict still gives a reply of the right
    shape; `extra_<pos>` values are appended.
    """
    spec = lookup(command)
    fields = spec.fields
    last = max((f.pos for f in fields if f.key in values), default=-1)
    tokens: list[str] = ["0"] * (last + 1)
    for f in fields:
        if f.pos > last:
            continue
        if f.key in values:
            tokens[f.pos] = _format_value(f, values[f.key])
        elif f.kind is Kind.ENUM and f.options:
            tokens[f.pos] = next(iter(f.options))
        elif f.numeric and f.fmt:
            tokens[f.pos] = _format_value(f, 0)
    extras = sorted((int(k[6:]), str(v)) for k, v in values.items() if k.startswith("extra_") and k[6:].isdigit())
    tokens.extend(v for _, v in extras)
    if spec.style is Style.SERIAL:
        serial = tokens[0] if tokens else ""
        return f"{len(serial):02d}" + serial.ljust(20, "0")
    if spec.style is Style.WHOLE:
        return spec.prefix + tokens[0] if tokens else ""
    return ",".join(tokens)

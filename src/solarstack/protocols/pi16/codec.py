"""Protocols layer (PI16): the one generic decoder (and its inverse) driven by commands.py.

Pure: bytes -> dict and dict -> payload text; no I/O, no logging, no per-command code.
Frame layout and the optional CRC live in framing.py. Each field table is compiled once
into a plan: per row, its token, the characters of it it reads, and a converter.

Firmware tolerance, by rule (not by `if` per model):
  * a token past the table's last position is kept as `extra_<pos>` (raw text);
  * a token or part made only of `-` / `.` ("not supported") and a token missing from a
    shorter reply are omitted;
  * an enum value not in the table's options is kept as its raw text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping

from solarstack.core.errors import FrameError
from solarstack.core.fields import Field, Kind, Value
from solarstack.protocols.pi16 import framing
from solarstack.protocols.pi16.commands import COMMANDS, Command, Style, lookup

Converter = Callable[[str], Value]

#: What a PI16 number looks like: ASCII digits, an optional sign and decimals.
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def _number(token: str) -> float:
    if _NUMBER.fullmatch(token) is None:
        raise FrameError(f"not a number: {token[:16]!r}")
    return float(token)


def _converter(field: Field) -> Converter:
    kind, scale = field.kind, field.scale
    if kind is Kind.FLOAT:
        return lambda token: round(_number(token) * scale, 6)
    if kind is Kind.INT:
        return lambda token: round(_number(token) * scale)
    if kind is Kind.ENUM:
        options = field.options or {}
        return lambda token: options.get(token, token)
    if kind is Kind.BOOL:
        return lambda token: token == "1"
    return str


def _span(field: Field) -> tuple[int, int] | None:
    """The characters of its token a row reads (None: the whole token)."""
    if not isinstance(field.bit, int):
        return None
    width = int(field.fmt or "1") if field.kind is Kind.ENUM else 1
    return field.bit, field.bit + width


def _width(field: Field) -> int:
    """How long the token a partial row reads is: a bit string's stated width, else the
    end of the part."""
    span = _span(field)
    if field.kind is Kind.BOOL:
        return int(field.fmt or "1")
    return span[1] if span else 0


def _unsupported(text: str) -> bool:
    return not text or not text.strip("-.")


class _Plan:
    """A compiled field table: (position, span, key, converter) per row."""

    __slots__ = ("last", "prefix", "rows", "style")

    def __init__(self, command: Command) -> None:
        self.style = command.style
        self.prefix = command.prefix
        self.rows = tuple((f.pos, _span(f), f.key, _converter(f)) for f in command.fields)
        self.last = max((f.pos for f in command.fields), default=-1)

    def tokens(self, payload: str) -> list[str]:
        if self.style is Style.WHOLE:
            return [payload.strip().removeprefix(self.prefix)]
        return payload.split()

    def run(self, payload: str) -> dict[str, Value]:
        tokens = self.tokens(payload)
        count = len(tokens)
        values: dict[str, Value] = {}
        for pos, span, key, convert in self.rows:
            if pos >= count:
                continue
            text = tokens[pos] if span is None else tokens[pos][span[0] : span[1]]
            if span is not None and len(text) != span[1] - span[0]:
                continue  # a shorter status string than the notes describe
            if not _unsupported(text):
                values[key] = convert(text)
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
    """
    spec = lookup(command)
    payload = framing.unframe(command, frame)
    if payload is True:
        raise FrameError(f"{command}: query answered (ACK")
    assert isinstance(payload, str)
    if not payload.strip():
        raise FrameError(f"{command}: empty reply")
    return _plan(spec.name).run(payload)


# --- the inverse, for the simulator ---------------------------------------------


def _format_value(field: Field, value: Value) -> str:
    kind, fmt = field.kind, field.fmt or ""
    if kind is Kind.ENUM:
        for raw, label in (field.options or {}).items():
            if label == value:
                return raw
        return str(value)
    if kind is Kind.BOOL:
        return "1" if value is True else "0"
    if kind is Kind.TEXT:
        return str(value)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{field.key}: {value!r} is not a number")
    number = value / field.scale if field.scale != 1.0 else value
    if fmt.endswith("d"):
        return format(round(number), fmt)
    return format(number, fmt)


def format_fields(command: str, values: Mapping[str, Value]) -> str:
    """The firmware's payload text for `values` (inverse of decode, without `(`/CRC).

    Tokens missing from `values` but before the last given one are written as `-`
    ("not supported"); parts of a status token likewise. `extra_<pos>` values follow.
    """
    spec = lookup(command)
    if spec.style is Style.WHOLE:
        field = spec.fields[0]
        return spec.prefix + _format_value(field, values[field.key]) if field.key in values else ""
    given = [f for f in spec.fields if f.key in values]
    last = max((f.pos for f in given), default=-1)
    tokens: list[list[str] | str] = ["-"] * (last + 1)
    for f in given:
        span = _span(f)
        text = _format_value(f, values[f.key])
        if span is None:
            tokens[f.pos] = text
            continue
        width = max(_width(g) for g in spec.fields if g.pos == f.pos)
        chars = tokens[f.pos]
        if not isinstance(chars, list):
            chars = tokens[f.pos] = ["-"] * width
        chars[span[0] : span[1]] = list(text)
    extras = sorted((int(k[6:]), str(v)) for k, v in values.items() if k.startswith("extra_") and k[6:].isdigit())
    return " ".join([*("".join(t) if isinstance(t, list) else t for t in tokens), *(v for _, v in extras)])

"""Protocols layer (PI30): the one generic decoder (and its inverse) driven by commands.py.

Pure: bytes -> dict and dict -> payload text; no I/O, no logging, no per-command code.
Frame layout and CRC live in framing.py / crc.py. Each field table is compiled once
into a plan (one converter per token) so decoding QPIGS is a single pass.

Firmware tolerance, by rule (not by `if` per model):
  * a token past the table's last position is kept as `extra_<pos>` (0-based token
    index, raw text) — never a crash;
  * a row whose token is missing (older firmware, shorter reply) is omitted;
  * a numeric token made only of `-` and `.` (`-`, `--.-`) means 0;
  * an enum token not in the table's options is kept as its raw text;
  * a bit past the end of a short bit string is omitted;
  * a QFLAG letter not in the table is kept as `extra_<letter>`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping

from solarstack.core.errors import FrameError
from solarstack.core.fields import Field, Kind, Value
from solarstack.protocols.pi30 import framing
from solarstack.protocols.pi30.commands import Command, Style
from solarstack.protocols.pi30.variants import by_name, canonical, lookup

Converter = Callable[[str], Value]


def _number(token: str) -> float:
    try:
        value = float(token)
    except ValueError:
        if not token.strip("-."):
            return 0.0  # firmware writes "-" / "--.-" for "not applicable"
        raise FrameError(f"not a number: {token!r}") from None
    # float() also takes "nan", "inf" and "1_0"; inf - inf is nan, and nan != 0.
    if value - value != 0.0 or "_" in token:
        raise FrameError(f"not a number: {token!r}")
    return value


def _integer(token: str) -> int:
    try:
        value = int(token)
    except ValueError:
        return round(_number(token))  # "-", or a firmware that adds decimals
    if "_" in token:
        raise FrameError(f"not a number: {token!r}")
    return value


def _converter(field: Field) -> Converter:
    kind, scale = field.kind, field.scale
    if kind is Kind.FLOAT:
        if scale == 1.0:
            return _number
        return lambda token: round(_number(token) * scale, 6)
    if kind is Kind.INT:
        if scale == 1.0:
            return _integer
        return lambda token: round(_number(token) * scale)  # whole in the unit too (days -> h)
    if kind is Kind.ENUM:
        options = field.options or {}
        return lambda token: options.get(token, token)
    if kind in (Kind.BOOL, Kind.ARRAY):
        raise AssertionError("bits and arrays are decoded by the plan, not per token")
    return str


def _fast_converter(field: Field) -> Converter:
    """The C builtin where it gives the same answer on well-formed text (the hot path)."""
    if field.scale == 1.0 and field.kind is Kind.FLOAT:
        return float
    if field.scale == 1.0 and field.kind is Kind.INT:
        return int
    return _converter(field)


# Text the builtins accept but the firmware never means: "1_0", "nan", "inf(inity)".
_NOT_PLAIN = re.compile(r"[_nNiI]")


class Plan:
    """A compiled field table: per-token converters, and bit strings grouped per token.

    Built once per command, on first use; decoding is then two flat loops (bench: QPIGS).
    Well-formed replies go through builtin float/int; anything they refuse ("-",
    "12.0" for an integer, junk) is decoded again by the careful converters.
    """

    __slots__ = ("array", "bit_groups", "fast", "flags", "last", "name", "prefix", "scalars", "whole")

    def __init__(self, command: Command) -> None:
        self.name = command.name
        self.flags = command.style is Style.FLAGS
        self.whole = command.style is Style.WHOLE
        self.prefix = command.prefix
        fields = command.fields
        scalars = [f for f in fields if f.kind not in (Kind.BOOL, Kind.ARRAY) and not self.flags]
        self.scalars = tuple((f.pos, f.key, _converter(f)) for f in scalars)
        self.fast = tuple((f.pos, f.key, _fast_converter(f)) for f in scalars)
        groups: dict[int, list[tuple[str, int]]] = {}
        for f in fields:
            if f.kind is Kind.BOOL and isinstance(f.bit, int):
                groups.setdefault(f.pos, []).append((f.key, f.bit))
        self.bit_groups = tuple((pos, tuple(bits)) for pos, bits in groups.items())
        arrays = [f for f in fields if f.kind is Kind.ARRAY]
        self.array = arrays[0].key if arrays else None
        self.last = max((f.pos for f in fields), default=-1)

    def tokens(self, payload: str) -> list[str]:
        if self.whole:
            text = payload.strip()
            if self.prefix and text.startswith(self.prefix):
                text = text[len(self.prefix) :].strip()  # PI41's `VERFW2: 00041.17`
            return [text] if text else []
        return payload.split()

    def run(self, payload: str) -> dict[str, Value]:
        tokens = self.tokens(payload)
        if self.array is not None:
            return {self.array: [_integer(t) for t in tokens]}
        count = len(tokens)
        values: dict[str, Value] = {}
        try:
            if _NOT_PLAIN.search(payload) is not None:
                raise ValueError("not plain")  # take the careful path
            for pos, key, convert in self.fast:
                if pos < count:
                    values[key] = convert(tokens[pos])
        except ValueError:
            values = {}
            for pos, key, convert in self.scalars:
                if pos < count:
                    values[key] = convert(tokens[pos])
        for pos, bits in self.bit_groups:
            if pos < count:
                token = tokens[pos]
                length = len(token)
                for key, index in bits:
                    if index < length:  # a short bit string reports only the bits it has
                        values[key] = token[index] == "1"
        for pos in range(self.last + 1, count):
            values[f"extra_{pos}"] = tokens[pos]
        return values


def _decode_flags(command: Command, payload: str) -> dict[str, Value]:
    """`EakxyDbjuvz`: letters after E are enabled, after D disabled; unknown letters kept."""
    by_letter = {f.bit: f.key for f in command.fields}
    values: dict[str, Value] = {}
    state: bool | None = None
    for char in payload.strip():
        if char == "E":
            state = True
        elif char == "D":
            state = False
        elif state is None or not char.isalpha():
            raise FrameError(f"{command.name}: bad flag string {payload!r}")
        else:
            values[by_letter.get(char, f"extra_{char}")] = state
    return values


@functools.cache
def _plan(name: str, variant: str | None) -> Plan:
    """The compiled plan of one command (in one variant's layout), built on first use
    (a one-shot CLI decodes one)."""
    return Plan(by_name(name, variant))


def decode(command: str, frame: bytes, variant: str | None = None) -> dict[str, Value]:
    """Decode one reply frame to {field key: value}, in `variant`'s layout (variants.py;
    None: base PI30).

    Raises only ProtocolError subclasses for anything the device sent (CrcError,
    NakError, FrameError); an unknown *command* or variant is the caller's ConfigError.
    A setter's `(ACK` decodes to {"ack": True}.
    """
    spec = lookup(command, variant)
    return read_payload(
        command, spec, framing.unframe(command, frame), functools.partial(_plan, variant=canonical(variant))
    )


def read_payload(command: str, spec: Command, payload: str, plans: Callable[[str], Plan]) -> dict[str, Value]:
    """An unframed reply payload of `spec` as {field key: value}: ACK for a setter, QFLAG's
    letters, else the command's compiled plan (`plans(name)`). PI41's codec reads with it too."""
    if not spec.read_only:
        if payload == "ACK":
            return {"ack": True}
        raise FrameError(f"{command}: expected ACK or NAK, got {payload[:16]!r}")
    if payload == "ACK":
        raise FrameError(f"{command}: query answered ACK")
    if spec.style is Style.FLAGS:
        return _decode_flags(spec, payload)
    return plans(spec.name).run(payload)


# --- the inverse, for the simulator ---------------------------------------------


def _format_value(field: Field, value: Value) -> str:
    kind, fmt = field.kind, field.fmt or ""
    if kind is Kind.ENUM:
        for raw, label in (field.options or {}).items():
            if label == value:
                return raw
        return str(value)  # an unknown label stays raw, as the decoder keeps it
    if kind is Kind.TEXT:
        return str(value)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{field.key}: {value!r} is not a number")
    number = value / field.scale if field.scale != 1.0 else value
    if fmt.endswith("d"):
        return format(round(number), fmt)
    return format(number, fmt)


def format_fields(command: str, values: Mapping[str, Value], variant: str | None = None) -> str:
    """The firmware's payload text for `values` (inverse of decode, without `(`/CRC), in
    `variant`'s layout. Keys the layout has no row for are left out.

    Rows missing from `values` but before the last given row are written as zeros
    (bits as `0`), so a partial dict still gives a reply of the right shape; the reply
    ends at the last given row. `extra_<pos>` values are appended.
    """
    return format_payload(lookup(command, variant), values)


def format_payload(spec: Command, values: Mapping[str, Value], *, reserved: str = "0") -> str:
    """format_fields for one command's table; `reserved` stands for a token without a row
    (PI30 writes `0`, PI41 `00`)."""
    if spec.style is Style.FLAGS:
        letters = [(str(f.bit), values.get(f.key)) for f in spec.fields]
        letters += [(k[6:], v) for k, v in values.items() if k.startswith("extra_") and len(k) == 7 and k[6].isalpha()]
        enabled = "".join(letter for letter, state in letters if state is True)
        disabled = "".join(letter for letter, state in letters if state is False)
        return f"E{enabled}D{disabled}"
    fields = spec.fields
    if fields and fields[0].kind is Kind.ARRAY:
        items = values.get(fields[0].key) or []
        if not isinstance(items, list):
            raise ValueError(f"{fields[0].key}: expected a list")
        return " ".join(format(round(item), fields[0].fmt or "d") for item in items)
    # Stop after the last row given: a PI30 reply must not grow the MAX-only tail.
    last = max((f.pos for f in fields if f.key in values), default=-1)
    tokens: list[str] = [reserved] * (last + 1)
    bit_strings: dict[int, list[str]] = {}
    for f in fields:
        if f.pos > last:
            continue
        if f.kind is Kind.BOOL:
            chars = bit_strings.setdefault(f.pos, ["0"] * int(f.fmt or "1"))
            if values.get(f.key) is True and isinstance(f.bit, int):
                chars[f.bit] = "1"
            continue
        if f.key in values:
            tokens[f.pos] = _format_value(f, values[f.key])
        elif f.kind is Kind.ENUM and f.options:
            tokens[f.pos] = next(iter(f.options))
        elif f.numeric and f.fmt:
            tokens[f.pos] = _format_value(f, 0)
    for pos, chars in bit_strings.items():
        tokens[pos] = "".join(chars)
    extras = sorted((int(k[6:]), str(v)) for k, v in values.items() if k.startswith("extra_") and k[6:].isdigit())
    tokens.extend(v for _, v in extras)
    if spec.style is Style.WHOLE:
        return spec.prefix + tokens[0] if tokens else ""
    return " ".join(tokens)

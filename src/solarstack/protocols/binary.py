"""Protocols layer: the one generic walker for binary field tables (JK02, Daly).

A binary frame is described by `Field` rows: `pos` is the byte offset, `fmt` the
`struct` format (byte order included, e.g. "<H", ">I", "<24H", "16s"), `scale`
multiplies the raw number. Per kind:

- FLOAT / INT: raw * scale (INT rounds); ENUM: `options[str(raw)]` (unknown raw -> its text);
- BOOL: `bit` None -> raw != 0, else bit `bit` (0 = least significant) of the integer;
- TEXT: bytes up to the first NUL, ASCII (undecodable bytes replaced);
- ARRAY: a repeated format ("<24H") -> list of raw * scale.

A row whose `fmt` is None is derived: the codec computes it from other values
(min/max cell, cell count), so the walker skips it. Raw offsets (Daly's current is
stored + 30000, temperatures + 40) come in as `offsets` (added to raw before scale).

Pure: no I/O, no logging. Raises FrameError when the frame is shorter than a row needs.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from solarstack.core.errors import FrameError
from solarstack.core.fields import Field, FieldTable, Kind, Value


def checksum8(data: bytes) -> int:
    """Sum of all bytes modulo 256 (JK02 and Daly both use it)."""
    return sum(data) & 0xFF


def _scaled(raw: float, f: Field) -> float | int:
    if f.kind is Kind.INT:
        return round(raw * f.scale)
    value = raw * f.scale
    # round away binary noise (3327 * 0.001 -> 3.3270000000000004) without losing resolution
    return round(value, 6)


def read_field(f: Field, frame: bytes, base: int = 0, offset: float = 0.0) -> Value:
    """Decode one row at `base + f.pos`."""
    assert f.fmt is not None
    start = base + f.pos
    size = struct.calcsize(f.fmt)
    if start < 0 or start + size > len(frame):
        raise FrameError(f"frame of {len(frame)} bytes too short for {f.key} at byte {start} (+{size})")
    raw = struct.unpack_from(f.fmt, frame, start)
    if f.kind is Kind.TEXT:
        data = raw[0] if isinstance(raw[0], bytes) else bytes(raw)
        return data.split(b"\x00", 1)[0].decode("ascii", "replace").strip()
    if f.kind is Kind.ARRAY:
        return [_scaled(r + offset, f) for r in raw]
    value = raw[0]
    if f.kind is Kind.BOOL:
        if f.bit is None:
            return bool(value)
        assert isinstance(f.bit, int)
        return bool((int(value) >> f.bit) & 1)
    if f.kind is Kind.ENUM:
        key = str(value)
        return f.options.get(key, key) if f.options else key
    return _scaled(value + offset, f)


def walk(
    table: FieldTable, frame: bytes, *, base: int = 0, offsets: Mapping[str, float] | None = None
) -> dict[str, Value]:
    """Decode every row of `table` that has a `fmt`; derived rows are left to the codec."""
    offsets = offsets or {}
    return {f.key: read_field(f, frame, base, offsets.get(f.key, 0.0)) for f in table if f.fmt is not None}


def pack_into(
    table: FieldTable, values: Mapping[str, Value], frame: bytearray, *, offsets: Mapping[str, float] | None = None
) -> None:
    """The inverse of `walk` for simulators: write `values` into `frame` at each row's place.

    BOOL rows with a `bit` OR into their integer; derived rows (no `fmt`) and keys
    missing from `values` are skipped. ARRAY lists shorter than the format are zero-padded.
    """
    offsets = offsets or {}
    for f in table:
        if f.fmt is None or f.key not in values:
            continue
        value = values[f.key]
        off = offsets.get(f.key, 0.0)
        if f.kind is Kind.TEXT:
            struct.pack_into(f.fmt, frame, f.pos, str(value).encode("ascii"))
        elif f.kind is Kind.ARRAY:
            assert isinstance(value, list)
            n = len(struct.unpack_from(f.fmt, bytes(struct.calcsize(f.fmt))))
            items = [round(v / f.scale - off) for v in value][:n]
            struct.pack_into(f.fmt, frame, f.pos, *(items + [0] * (n - len(items))))
        elif f.kind is Kind.BOOL:
            current = struct.unpack_from(f.fmt, frame, f.pos)[0]
            if isinstance(f.bit, int):
                raw = (current | (1 << f.bit)) if value else (current & ~(1 << f.bit))
            else:  # a whole byte read as "non-zero": keep a richer non-zero code another row wrote
                raw = (current or 1) if value else 0
            struct.pack_into(f.fmt, frame, f.pos, raw)
        elif f.kind is Kind.ENUM:
            reverse = {label: raw for raw, label in (f.options or {}).items()}
            struct.pack_into(f.fmt, frame, f.pos, int(reverse.get(str(value), str(value))))
        else:
            assert isinstance(value, int | float)
            struct.pack_into(f.fmt, frame, f.pos, round(value / f.scale - off))


def bits(key_prefix: str, names: tuple[str, ...], pos: int, fmt: str, **kw: object) -> FieldTable:
    """Named alarm booleans from one bitmask: names[i] is bit i ("" = unused bit)."""
    return tuple(
        Field(f"{key_prefix}{name}", pos, Kind.BOOL, fmt=fmt, bit=i, device_class="problem", **kw)  # type: ignore[arg-type]
        for i, name in enumerate(names)
        if name
    )

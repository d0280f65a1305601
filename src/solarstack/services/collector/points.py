"""Services layer: one state message -> one InfluxDB line-protocol point.

The point schema (docs/collector.md): measurement = the device's kind from its catalogue,
tag `device` = the device id (the topic level), one field per state key with its value as
published — numbers always as floats (so a field's type never flips between an integer and
a float reading, which InfluxDB would refuse), booleans, strings; a JSON array `cell_voltage`
becomes `cell_voltage_01`, `cell_voltage_02`…; nulls, objects and non-finite numbers are
left out. The time is the payload's `ts` in nanoseconds — the same (device, ts) always gives
the same series key and timestamp, so writing a message twice overwrites, never doubles.

Pure: no I/O, no MQTT, no logging.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, NamedTuple

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: characters line protocol escapes in a measurement, tag value or field key
_SPECIAL = (",", " ", "=", "\\", "\n")


class Point(NamedTuple):
    line: str  # one line of line protocol, no newline
    fields: int  # how many fields it holds
    ts: float  # its time, seconds since the epoch


class BadState(ValueError):
    """A state message that cannot become a point (the text says why, in one line)."""


def _name(text: str) -> str:
    """Escape a measurement, tag value or field key (device ids and keys are slugs: rare)."""
    if not any(c in text for c in _SPECIAL):
        return text
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")


def _string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def timestamp_ns(ts: str) -> int:
    """ISO-8601 (`…Z` or `…+00:00`) to integer nanoseconds, exactly (no float rounding)."""
    try:
        when = datetime.fromisoformat(ts)
    except (TypeError, ValueError):
        raise BadState(f"ts {ts!r} is not an ISO-8601 time") from None
    if when.tzinfo is None:
        raise BadState(f"ts {ts!r} has no time zone (readers publish UTC)")
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


class LineFormatter:
    """Formats states as points; remembers each key's escaped `key=` (keys repeat every message:
    this is the collector's hot path, ~10 µs a state of 30 fields besides json.loads)."""

    #: distinct keys remembered; beyond it the memo starts again (a reader renaming keys forever)
    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}
        self._series: dict[tuple[str, str], str] = {}  # (measurement, device) -> "m,device=d"

    def _key(self, key: str) -> str:
        if len(self._keys) >= self.MAX_KEYS:
            self._keys.clear()
        found = self._keys[key] = _name(key) + "="
        return found

    def point(self, measurement: str, device: str, payload: bytes) -> Point:
        """The point of one state message (BadState if it has no `ts` or nothing to write)."""
        try:
            doc = json.loads(payload)
        except ValueError:
            raise BadState("state is not JSON") from None
        if type(doc) is not dict:
            raise BadState("state is not a JSON object")
        ts = doc.pop("ts", None)
        if type(ts) is not str:
            raise BadState("state has no ts")
        ns = timestamp_ns(ts)
        keys = self._keys
        parts: list[str] = []
        append = parts.append
        for key, value in doc.items():
            k = keys.get(key) or self._key(key)
            kind = type(value)
            # exact types: bool is not int here, and json gives nothing else
            if kind is float:
                if value - value == 0.0:  # finite (inf - inf and nan - nan are nan)
                    append(k + repr(value))
            elif kind is int:
                append(k + repr(float(value)))
            elif kind is bool:
                append(k + ("true" if value else "false"))
            elif kind is str:
                append(k + _string(value))
            elif kind is list:
                width = max(2, len(str(len(value))))
                for i, item in enumerate(value, 1):
                    text = _item(item)
                    if text is not None:
                        append(f"{_name(key)}_{i:0{width}d}={text}")
        if not parts:
            raise BadState("state has no field InfluxDB can hold")
        series = self._series.get((measurement, device))
        if series is None:
            if len(self._series) >= self.MAX_KEYS:
                self._series.clear()
            series = self._series[measurement, device] = f"{_name(measurement)},device={_name(device)}"
        line = f"{series} {','.join(parts)} {ns}"
        return Point(line, len(parts), ns / 1e9)


def _item(value: Any) -> str | None:
    """An array element in line protocol, None for what InfluxDB cannot hold (null, objects)."""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)
        return repr(number) if math.isfinite(number) else None
    if isinstance(value, str):
        return _string(value)
    return None

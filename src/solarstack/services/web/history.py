"""Service layer (web): history of numeric fields for charts and CSV export.

Two sources behind one interface: Prometheus (`/api/v1/query_range`, the step chosen
from the range so a chart gets a few hundred points) when PROMETHEUS_URL is set, and an
in-process ring buffer fed by the same MQTT states otherwise — and as the fallback when
Prometheus does not answer. Prometheus is asked for the series the device's catalogue
names (`FieldInfo.metric`, made by core.metrics' one naming rule, counters with their
`_total`) and its values, in base units, are divided by `metric_scale` back into the
field's unit; an array's elements are the exporter's `cell="01"`… series, answered as
`<key>_01`…. A field the catalogue gives no metric (text, enums) has no Prometheus
history. This module must not touch MQTT or Flask.
"""

from __future__ import annotations

import math
import re
import threading
import time
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import requests

from solarstack.core.catalog import FieldInfo

Point = tuple[float, float]  # (unix seconds, value)

#: Steps a chart may use, seconds; the smallest that keeps a range under MAX_POINTS.
_STEPS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_POINTS = 500
#: Prometheus' default lookback: a plain selector finds a sample at most this old per point.
LOOKBACK_SECONDS = 300


def choose_step(start: float, end: float, max_points: int = MAX_POINTS) -> int:
    """The smallest step that keeps the window under `max_points` points."""
    span = max(end - start, 1.0)
    for step in _STEPS:
        if span / step <= max_points:
            return step
    return _STEPS[-1]


@dataclass
class HistoryResult:
    start: float
    end: float
    step: int
    source: str
    series: dict[str, list[Point]] = field(default_factory=dict)


#: What history knows of each asked field: its catalogue row, or None when none arrived yet.
Wanted = Mapping[str, FieldInfo | None]


class History(Protocol):
    def record(self, device: str, state: Mapping[str, Any]) -> None: ...

    def query(self, device: str, fields: Wanted, start: float, end: float) -> HistoryResult: ...

    def earliest(self, device: str) -> float | None:
        """The oldest moment this source may hold history of `device` (for `hours=all`)."""
        ...


def state_time(state: Mapping[str, Any], default: float) -> float:
    """The reading's own `ts` (ISO-8601 UTC) as unix seconds; `default` when absent or bad."""
    raw = state.get("ts")
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return default
    return default


class _Ring:
    """One field's last `capacity` points, oldest first, in two flat arrays of doubles: 16 bytes
    a point where a deque of (ts, value) tuples takes ~110 — at a few hundred fields and a few
    hundred points each, the ring was most of a worker's memory. A small ring is allocated whole
    when its field first appears, so a worker's memory does not creep up as it fills."""

    __slots__ = ("_capacity", "_head", "_size", "_ts", "_values")

    def __init__(self, capacity: int, *, whole: bool) -> None:
        zeros = bytes(8 * capacity) if whole else b""
        self._ts = array("d", zeros)
        self._values = array("d", zeros)
        self._head = 0  # the oldest point's index once full
        self._size = 0
        self._capacity = capacity

    def __len__(self) -> int:
        return self._size

    def append(self, ts: float, value: float) -> None:
        if self._size < self._capacity:
            i = self._size
            if i < len(self._ts):
                self._ts[i], self._values[i] = ts, value
            else:
                self._ts.append(ts)
                self._values.append(value)
            self._size += 1
        else:
            self._ts[self._head], self._values[self._head] = ts, value
            self._head = (self._head + 1) % self._capacity

    def first_ts(self) -> float:
        return self._ts[self._head]

    def last_ts(self) -> float:
        return self._ts[(self._head + self._size - 1) % self._capacity]

    def points(self) -> list[Point]:
        h, n = self._head, self._size
        ts = self._ts[h:n] + self._ts[:h]
        values = self._values[h:n] + self._values[:h]
        return list(zip(ts, values, strict=True))


class RingHistory:
    """The last `points` values of every numeric field, per device, in memory."""

    #: Rings up to this many points are allocated whole (32 KiB a field).
    WHOLE_UP_TO = 2048

    def __init__(self, points: int = 20000) -> None:
        self._points = points
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], _Ring] = {}

    def record(self, device: str, state: Mapping[str, Any], now: float | None = None) -> None:
        ts = state_time(state, now if now is not None else datetime.now().timestamp())
        with self._lock:
            for key, value in state.items():
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    continue
                series = self._series.get((device, key))
                if series is None:
                    whole = self._points <= self.WHOLE_UP_TO
                    series = self._series[(device, key)] = _Ring(self._points, whole=whole)
                if series and ts <= series.last_ts():
                    continue  # a replayed or duplicate reading: keep the series ordered
                series.append(ts, float(value))

    def earliest(self, device: str) -> float | None:
        with self._lock:
            firsts = [s.first_ts() for (d, _), s in self._series.items() if d == device and s]
        return min(firsts, default=None)

    def query(self, device: str, fields: Wanted, start: float, end: float) -> HistoryResult:
        step = choose_step(start, end)
        result = HistoryResult(start, end, step, "memory")
        with self._lock:
            copies = {f: s.points() if (s := self._series.get((device, f))) else [] for f in fields}
        for name, points in copies.items():
            result.series[name] = _bucket([p for p in points if start <= p[0] <= end], step)
        return result


def _bucket(points: Sequence[Point], step: int) -> list[Point]:
    """Average points into `step`-second buckets (raw points when already sparse)."""
    if len(points) <= MAX_POINTS:
        return list(points)
    sums: dict[int, list[float]] = {}
    for t, v in points:
        acc = sums.setdefault(int(t // step), [0.0, 0.0])
        acc[0] += v
        acc[1] += 1
    return [(float(b * step), round(s / n, 6)) for b, (s, n) in sorted(sums.items())]


class PrometheusHistory:
    """History from Prometheus query_range; the ring buffer answers when Prometheus cannot."""

    def __init__(self, base_url: str, fallback: RingHistory, timeout: float = 5.0) -> None:
        self._base = base_url.rstrip("/")
        self._url = self._base + "/api/v1/query_range"
        self._fallback = fallback
        self._timeout = timeout
        self._session = requests.Session()

    def record(self, device: str, state: Mapping[str, Any]) -> None:
        self._fallback.record(device, state)

    def earliest(self, device: str) -> float | None:
        """Now minus Prometheus' retention time (`/api/v1/status/runtimeinfo`), else what this process saw."""
        try:
            resp = self._session.get(self._base + "/api/v1/status/runtimeinfo", timeout=self._timeout)
            resp.raise_for_status()
            retention = _duration(str(resp.json()["data"]["storageRetention"]))
        except (requests.RequestException, ValueError, KeyError, TypeError):
            retention = None
        if retention is None:
            return self._fallback.earliest(device)
        return time.time() - retention

    def query(self, device: str, fields: Wanted, start: float, end: float) -> HistoryResult:
        step = choose_step(start, end)
        result = HistoryResult(start, end, step, "prometheus")
        try:
            for name, info in fields.items():
                result.series[name] = []
                if info is None or info.metric is None or not _METRIC.fullmatch(info.metric):
                    continue  # no catalogue row, or not a number: no series to ask for
                array = info.kind == "array"
                for labels, points in self._range(info.metric, device, start, end, step, first_only=not array):
                    key = f"{name}_{labels.get('cell', '')}" if array else name
                    result.series[key] = [(t, round(v / info.metric_scale, 6)) for t, v in points]
                if array:
                    del result.series[name]
        except (requests.RequestException, ValueError, KeyError, TypeError):
            # Prometheus down or answering nonsense: charts still show what this process saw.
            return self._fallback.query(device, fields, start, end)
        return result

    def _range(
        self, metric: str, device: str, start: float, end: float, step: int, *, first_only: bool
    ) -> list[tuple[dict[str, str], list[Point]]]:
        """(labels, points) of every series `metric{device=...}` in the window."""
        query = f'{metric}{{device="{device}"}}'
        # Points fall on end, end - step, …: the newest readings are always in the last one.
        start = end - math.ceil((end - start) / step) * step
        if step > LOOKBACK_SECONDS:
            # Each point averages its whole step (a counter: its last value): Prometheus would
            # otherwise sample one instant per step and a week's chart would miss most readings.
            query = f"{'last' if metric.endswith('_total') else 'avg'}_over_time({query}[{step}s])"
        resp = self._session.get(
            self._url,
            params={"query": query, "start": str(start), "end": str(end), "step": str(step)},
            timeout=self._timeout,
        )
        resp.raise_for_status()
        found = resp.json()["data"]["result"]
        out = []
        for series in sorted(found, key=lambda s: sorted(s["metric"].items()))[: 1 if first_only else None]:
            points = [(float(t), float(v)) for t, v in series["values"]]
            out.append((dict(series["metric"]), [(t, v) for t, v in points if math.isfinite(v)]))
        return out


#: A Prometheus metric name; anything else in a catalogue is not put into a query.
_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_DURATION = re.compile(r"(?:\d+(?:ms|y|w|d|h|m|s))+")
_DURATION_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _duration(text: str) -> float | None:
    """Seconds in the time part of Prometheus' storageRetention ("15d", "1y2w", "30d or 10GiB");
    None when only a size limit is set."""
    for part in (p.strip() for p in text.split(" or ")):
        if _DURATION.fullmatch(part):
            return float(sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(part)))
    return None

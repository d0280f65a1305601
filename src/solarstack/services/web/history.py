"""Service layer (web): history of numeric fields for charts and CSV export.

Two sources behind one interface: Prometheus (`/api/v1/query_range`, the step chosen
from the range so a chart gets a few hundred points) when PROMETHEUS_URL is set, and an
in-process ring buffer fed by the same MQTT states otherwise — and as the fallback when
Prometheus does not answer. Metric names follow the metrics contract:
`solarstack_<key>_<base unit>{device="..."}` with values in base units, converted back
to the unit discovery announced. This module must not touch MQTT or Flask.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import requests

from solarstack.core.fields import UNITS

Point = tuple[float, float]  # (unix seconds, value)

#: Steps a chart may use, seconds; the smallest that keeps a range under MAX_POINTS.
_STEPS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_POINTS = 500


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


class History(Protocol):
    def record(self, device: str, state: Mapping[str, Any]) -> None: ...

    def query(
        self, device: str, fields: Sequence[str], units: Mapping[str, str | None], start: float, end: float
    ) -> HistoryResult: ...


def state_time(state: Mapping[str, Any], default: float) -> float:
    """The reading's own `ts` (ISO-8601 UTC) as unix seconds; `default` when absent or bad."""
    raw = state.get("ts")
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return default
    return default


class RingHistory:
    """The last `points` values of every numeric field, per device, in memory."""

    def __init__(self, points: int = 20000) -> None:
        self._points = points
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], deque[Point]] = {}

    def record(self, device: str, state: Mapping[str, Any], now: float | None = None) -> None:
        ts = state_time(state, now if now is not None else datetime.now().timestamp())
        with self._lock:
            for key, value in state.items():
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    continue
                series = self._series.get((device, key))
                if series is None:
                    series = self._series[(device, key)] = deque(maxlen=self._points)
                if series and ts <= series[-1][0]:
                    continue  # a replayed or duplicate reading: keep the series ordered
                series.append((ts, float(value)))

    def query(
        self, device: str, fields: Sequence[str], units: Mapping[str, str | None], start: float, end: float
    ) -> HistoryResult:
        step = choose_step(start, end)
        result = HistoryResult(start, end, step, "memory")
        with self._lock:
            copies = {f: list(self._series.get((device, f), ())) for f in fields}
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
        self._url = base_url.rstrip("/") + "/api/v1/query_range"
        self._fallback = fallback
        self._timeout = timeout
        self._session = requests.Session()

    def record(self, device: str, state: Mapping[str, Any]) -> None:
        self._fallback.record(device, state)

    @staticmethod
    def metric(key: str, unit: str | None) -> tuple[str, float]:
        """Metric name for a field and the factor that turns its base-unit value back into `unit`."""
        info = UNITS.get(unit) if unit else None
        if info is None or not info.metric_suffix:
            return f"solarstack_{key}", 1.0
        return f"solarstack_{key}_{info.metric_suffix}", 1.0 / info.to_base

    def query(
        self, device: str, fields: Sequence[str], units: Mapping[str, str | None], start: float, end: float
    ) -> HistoryResult:
        step = choose_step(start, end)
        result = HistoryResult(start, end, step, "prometheus")
        try:
            for name in fields:
                metric, factor = self.metric(name, units.get(name))
                selector = f'{metric}{{device="{device}"}}'
                resp = self._session.get(
                    self._url,
                    params={"query": selector, "start": str(start), "end": str(end), "step": str(step)},
                    timeout=self._timeout,
                )
                resp.raise_for_status()
                body = resp.json()
                points: list[Point] = []
                for series in body.get("data", {}).get("result", [])[:1]:
                    for t, v in series.get("values", []):
                        value = float(v)
                        if math.isfinite(value):
                            points.append((float(t), round(value * factor, 6)))
                result.series[name] = points
        except (requests.RequestException, ValueError, KeyError, TypeError):
            # Prometheus down or answering nonsense: charts still show what this process saw.
            return self._fallback.query(device, fields, units, start, end)
        return result

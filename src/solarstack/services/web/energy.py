"""Service layer (web): energy per flow — today, the last 30 days by day, the last 12 months by month.

Where the figures come from. A device's catalogue marks its cumulative kWh counter of a
flow (core.catalog.ENERGY_FLOWS: pv, load, grid_import, grid_export, battery_charge,
battery_discharge) with the role `<flow>_energy` and names its Prometheus series
(`metric`, a joules `_total` counter; divide by `metric_scale` for the field's unit). A flow's
figure for a period is the sum, over every device whose catalogue has such a field, of what
that device's counter gained in the period. The per-device figures are in the answer too:
two devices can count the same energy (an inverter and a BMS both counting battery charge).

Periods are local calendar days and months in the web's time zone — the process's own zone:
`TZ`, else what /etc/localtime names (`system_zone()`), the zone in which the readers roll
their `_today` figures over (core/energy.py); tests pass a ZoneInfo. Boundaries are computed
here as instants (a day is 23 or 25 hours on a DST change, months have 28 to 31 days), and
every window is evaluated on its own; the newest window ends now, so the last day is today
so far.

How a period's energy is computed, and why not just `increase()`:

* v(t) = the counter's last sample at or before t (`last_over_time(m[1d] @ t)`). For a
  window [a, b) the energy is v(b) - v(a). Adjacent windows share their boundary value, so
  the days of a month add up to the month *exactly*, and energy measured between the last
  sample before midnight and the first after it lands in exactly one day. Prometheus'
  `increase(m[24h] @ b)` cannot do that: it sees only the samples inside the window and
  extrapolates toward its edges, so the step across each boundary is guessed (in part
  twice, in part never).
* Gaps: a device (or Prometheus) that was down over a boundary has no sample just before it;
  v looks back up to a day, so the energy its counter gained while unseen is counted once,
  in the window where the counter is next seen. Energy a reader never counted (it does not
  integrate across its own outages) is unknown and stays uncounted; nothing is invented.
* Resets: only when `resets(m[(b - a) + 1d] @ b)` is 0 (the counter never fell between the
  sample v(a) is read from and b) is v(b) - v(a) used. Otherwise — and when v(a) or v(b) is
  missing (a device first seen inside the window) — the window falls back to
  `increase(m[b - a] @ b)`, which treats a drop as a restart from zero (the value after the
  drop is new energy, never negative, never the old total again) and starts counting at
  the window's first sample (a device's lifetime total when it first appears is not
  energy of this period). That fallback extrapolates at the window's edges with the window's
  average rate, so it is close rather than exact (tests/web/test_energy.py: ~4 % off on a
  day whose first hours count double); it is the rare window only. A counter down for more
  than a day before a window has no v(a) and takes the fallback too.
* Doubled scrapes: each device's value is `max by (device)`, so the same device scraped by
  two jobs counts once.

Cost: per counter metric and per table one query holding every boundary (`last_over_time`
over a day) and every window (`resets`, which reads every sample: measured here, a year of
one-minute samples of one counter takes ~0.1 s for the months table), plus a query of
`increase` for the windows that need it. A live table is kept for CACHE_SECONDS, so page
loads, the CSV and a second tab share one computation.

This module must not touch MQTT or Flask, and knows no protocol: everything it asks for
comes from the catalogues it is given.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from time import monotonic
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from solarstack.core.catalog import ENERGY_FLOWS, Catalog

Period = Literal["days", "months"]
PERIODS: tuple[Period, ...] = ("days", "months")
#: How many periods each table holds; the last one is the current (partial) day or month.
COUNTS: dict[Period, int] = {"days": 30, "months": 12}
#: How far back v(t) looks for the counter's last sample (longer gaps fall back to increase()).
LOOKBACK = "1d"
_LOOKBACK_SECONDS = 86400
#: A catalogue's metric name and device id go into PromQL only if they look like one.
_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_DEVICE = re.compile(r"[a-z0-9_]+")
#: How long a live table (ending now) is answered again without asking Prometheus.
CACHE_SECONDS = 30.0
#: A field's unit -> kWh.
_TO_KWH = {"kWh": 1.0, "Wh": 0.001, "MWh": 1000.0}


class EnergyUnavailable(Exception):
    """Prometheus did not answer, or answered nonsense: one line saying which."""


@dataclass(frozen=True)
class Counter:
    """One device's cumulative counter of one flow, as its catalogue describes it."""

    flow: str
    device: str
    metric: str
    to_kwh: float  # metric value * to_kwh = kWh


@dataclass(frozen=True)
class Window:
    label: str  # "2026-04-10" or "2026-04"
    start: datetime
    end: datetime


@dataclass
class Row:
    window: Window
    energy: dict[str, float | None]  # flow -> kWh (None: no counter of this flow had data)
    by_device: dict[str, dict[str, float]] = field(default_factory=dict)  # flow -> device -> kWh


@dataclass
class EnergyTable:
    period: Period
    timezone: str
    source: str  # "prometheus", or "none" without PROMETHEUS_URL
    counters: dict[str, list[str]]  # flow -> the devices counted
    rows: list[Row]

    def totals(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for flow in ENERGY_FLOWS:
            values = [r.energy[flow] for r in self.rows if r.energy.get(flow) is not None]
            out[flow] = round(sum(v for v in values if v is not None), 3) if values else None
        return out


def counters(catalogs: Mapping[str, Catalog]) -> list[Counter]:
    """Every (flow, device) counter the catalogues name, in flow then device order."""
    out = []
    for flow in ENERGY_FLOWS:
        for device in sorted(catalogs):
            if not _DEVICE.fullmatch(device):
                continue
            for info in catalogs[device].by_role(f"{flow}_energy"):
                to_kwh = _TO_KWH.get(info.unit or "")
                if info.metric is None or not _METRIC.fullmatch(info.metric) or to_kwh is None:
                    continue
                out.append(Counter(flow, device, info.metric, to_kwh / info.metric_scale))
    return out


def local_midnight(day: date, tz: tzinfo | None) -> datetime:
    """The instant a local calendar day starts (`tz` None: the process's zone, TZ)."""
    naive = datetime.combine(day, time.min)
    # astimezone() on a naive time reads it in the system zone, DST included (as core/energy.py).
    return naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()


def windows(period: Period, now: datetime, tz: tzinfo | None, count: int | None = None) -> list[Window]:
    """The last `count` local days or months, oldest first; the last ends at `now`."""
    n = count if count is not None else COUNTS[period]
    today = now.astimezone(tz).date()
    if period == "days":
        days = [today - timedelta(days=i) for i in range(n - 1, -1, -1)]
        starts = [(d.isoformat(), local_midnight(d, tz)) for d in days]
    else:
        months = []
        year, month = today.year, today.month
        for _ in range(n):
            months.append(date(year, month, 1))
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        starts = [(m.strftime("%Y-%m"), local_midnight(m, tz)) for m in reversed(months)]
    ends = [s for _, s in starts[1:]] + [now]
    return [Window(label, start, end) for (label, start), end in zip(starts, ends, strict=True)]


def system_zone(name: str | None = None) -> tzinfo | None:
    """The named zone (the web's TZ setting, already checked), else what /etc/localtime links
    to; None (the C library's idea of local time) when neither names one."""
    candidates = [name or ""]
    with contextlib.suppress(OSError):
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    for candidate in candidates:
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ValueError, ZoneInfoNotFoundError):
                continue
    return None


def zone_name(tz: tzinfo | None) -> str:
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        return key
    return (datetime.now(tz) if tz is not None else datetime.now().astimezone()).tzname() or "local"


class EnergyTotals:
    """Energy tables from Prometheus at `base_url` (None: no source, every figure null)."""

    def __init__(self, base_url: str | None, tz: tzinfo | None = None, timeout: float = 10.0) -> None:
        self._base = base_url.rstrip("/") if base_url else None
        self._tz = tz
        self._timeout = timeout
        self._session = requests.Session()
        self._lock = threading.Lock()
        self._cache: dict[tuple[Period, tuple[Counter, ...]], tuple[float, EnergyTable]] = {}

    @property
    def timezone(self) -> str:
        return zone_name(self._tz)

    def table(
        self, period: Period, catalogs: Mapping[str, Catalog], now: datetime | None = None, count: int | None = None
    ) -> EnergyTable:
        """The table ending `now` (default: the current moment, cached for CACHE_SECONDS)."""
        found = counters(catalogs)
        if now is not None or count is not None:
            return self._table(period, found, now or datetime.now(UTC), count)
        key = (period, tuple(found))
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > monotonic():
            return hit[1]
        table = self._table(period, found, datetime.now(UTC), None)
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > monotonic()}
            self._cache[key] = (monotonic() + CACHE_SECONDS, table)
        return table

    def _table(self, period: Period, found: list[Counter], now: datetime, count: int | None) -> EnergyTable:
        wins = windows(period, now, self._tz, count)
        listed: dict[str, list[str]] = {flow: [] for flow in ENERGY_FLOWS}
        for c in found:
            if c.device not in listed[c.flow]:
                listed[c.flow].append(c.device)
        table = EnergyTable(period, self.timezone, "prometheus" if self._base else "none", listed, [])
        per_counter = self._energies(found, wins) if self._base else {}
        for i, win in enumerate(wins):
            row = Row(win, {}, {})
            for flow in ENERGY_FLOWS:
                parts = {c.device: e for c in found if c.flow == flow and (e := per_counter.get((c, i))) is not None}
                row.energy[flow] = round(sum(parts.values()), 3) if parts else None
                if parts:
                    row.by_device[flow] = {d: round(e, 3) for d, e in parts.items()}
            table.rows.append(row)
        return table

    # -- Prometheus ----------------------------------------------------------------------

    def _energies(self, found: Sequence[Counter], wins: Sequence[Window]) -> dict[tuple[Counter, int], float]:
        """kWh per (counter, window index) where the counter had data."""
        by_metric: dict[str, list[Counter]] = {}
        for c in found:
            by_metric.setdefault(c.metric, []).append(c)
        out: dict[tuple[Counter, int], float] = {}
        bounds = [w.start for w in wins] + [wins[-1].end]
        for metric, group in by_metric.items():
            devices = sorted({c.device for c in group})
            selector = f'{metric}{{device=~"{"|".join(devices)}"}}'
            terms = [
                _tagged(f"last_over_time({selector}[{LOOKBACK}] @ {_at(t)})", f"v{i}") for i, t in enumerate(bounds)
            ]
            terms += [
                _tagged(
                    f"resets({selector}[{_millis(w.start, w.end) + _LOOKBACK_SECONDS * 1000}ms] @ {_at(w.end)})",
                    f"r{i}",
                )
                for i, w in enumerate(wins)
            ]
            got = self._query(" or ".join(terms), bounds[-1])
            fallback: list[tuple[str, int]] = []
            for device in devices:
                for i in range(len(wins)):
                    va, vb, resets = (
                        got.get((device, f"v{i}")),
                        got.get((device, f"v{i + 1}")),
                        got.get((device, f"r{i}")),
                    )
                    if va is not None and vb is not None and resets == 0:
                        _put(out, group, device, i, max(vb - va, 0.0))
                    elif vb is not None:  # some sample up to b: the window may hold energy
                        fallback.append((device, i))
            if fallback:
                terms = [
                    _tagged(
                        f'increase({metric}{{device="{device}"}}[{_millis(wins[i].start, wins[i].end)}ms]'
                        f" @ {_at(wins[i].end)})",
                        f"i{i}",
                    )
                    for device, i in fallback
                ]
                got = self._query(" or ".join(terms), bounds[-1])
                for device, i in fallback:
                    value = got.get((device, f"i{i}"))
                    if value is not None:
                        _put(out, group, device, i, max(value, 0.0))
        return out

    def _query(self, expr: str, at: datetime) -> dict[tuple[str, str], float]:
        """(device, tag) -> value of an instant query whose terms are tagged by `_tagged`."""
        assert self._base is not None
        try:
            # POST: a table's query holds every boundary and window, too long for a URL.
            resp = self._session.post(
                self._base + "/api/v1/query", data={"query": expr, "time": _at(at)}, timeout=self._timeout
            )
            body: Any = resp.json()
            if resp.status_code != 200 or body.get("status") != "success":
                raise EnergyUnavailable(f"Prometheus refused the energy query: {body.get('error', resp.status_code)}")
            out: dict[tuple[str, str], float] = {}
            for item in body["data"]["result"]:
                value = float(item["value"][1])
                if math.isfinite(value):
                    out[(item["metric"].get("device", ""), item["metric"].get("window", ""))] = value
            return out
        except requests.RequestException as exc:
            raise EnergyUnavailable(f"Prometheus at {self._base} did not answer: {type(exc).__name__}") from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise EnergyUnavailable(
                f"Prometheus at {self._base} answered something that is not a query result"
            ) from None


def _tagged(expr: str, tag: str) -> str:
    """One term of an `or`-ed query: per device (one value even if scraped twice), labelled `window=<tag>`."""
    return f'label_replace(max by (device) ({expr}), "window", "{tag}", "", "")'


def _put(out: dict[tuple[Counter, int], float], group: Sequence[Counter], device: str, i: int, value: float) -> None:
    for c in group:
        if c.device == device:
            out[(c, i)] = value * c.to_kwh


def _at(t: datetime) -> str:
    return f"{t.timestamp():.3f}"


def _millis(start: datetime, end: datetime) -> int:
    """Milliseconds from `start` to `end` as elapsed time: subtracting two datetimes of one zone
    gives wall-clock time, 24 h for a 23-hour day."""
    return max(1, round((end.timestamp() - start.timestamp()) * 1000))

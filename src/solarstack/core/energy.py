"""Core layer: energy counters — power (W) integrated into kWh totals that survive restarts.

A counter is a row of data (`Counter`): how to get a power in watts from one reading's
values (a signed sum of products of field keys), and optionally a gate field that must
be high enough for the counter to run. `EnergyCounters` integrates every counter by the
trapezoid rule between consecutive readings of one device, and yields two `Field` rows
per counter — the lifetime total ``<key>`` and ``<key>_today`` (local calendar day) —
in kWh, device_class energy, state_class total_increasing, so discovery, metrics and the
collector treat them like any other field.

Rules (DESIGN.md "Identity and time"):

* time is the readings' own `ts`, never the wall clock, so replayed or late readings
  integrate the interval the device actually measured;
* never integrate across a gap longer than `max_gap` seconds (device silent, service
  down): that interval is unknown, not "the average of both ends";
* totals only increase: the negative part of each counter's power curve is dropped
  (exactly, also inside an interval where it crosses zero);
* the state file is replaced atomically (temp file + fsync + rename) at most once per
  `checkpoint_every` seconds of the injected `clock`, and on `close()` — SD cards wear out;
* the daily figures restart at local midnight (`tz`, default the system's zone); an
  interval that spans midnight is split at midnight.

A counter may instead hold a lifetime counter the device keeps itself (`meter`, kWh: a
Hoymiles DTU's per-port energy): nothing is integrated; the total follows the device's
figure but never goes down (a dip or a glitch to 0 is held at the highest value seen, and
counting resumes when the device passes it), and today's figure is what the total gained
since local midnight — so a device whose own daily counter dips or resets at another hour
cannot move ours. The first time a meter counter sees a value (no state file), it takes
the device's total and, for today, the device's own daily figure (`meter_today`) once.

This module must NOT know a protocol's frames or talk to MQTT; it reads values by key.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from solarstack.core.fields import Field, FieldTable, Kind, Value

log = logging.getLogger(__name__)

_STATE_VERSION = 1
_J_PER_KWH = 3.6e6


@dataclass(frozen=True, slots=True)
class Term:
    """`sign` times the product of the named fields (one power in W, or A * V)."""

    factors: tuple[str, ...]
    sign: float = 1.0


@dataclass(frozen=True, slots=True)
class Counter:
    """One energy counter: power = Σ terms, counted only while power > 0 (and the gate is open)."""

    key: str  # the total's field key, e.g. "pv_energy"; the daily one is "<key>_today"
    label: str
    terms: tuple[Term, ...]
    gate: str | None = None  # a field that must be >= gate_min for the counter to run
    gate_min: float = 0.0
    role: str | None = None  # the total's role in the catalogue ("pv_energy"); today's adds "_today"
    # Publish the power this counter integrates as a field of its own (signed, W, 0 while the
    # gate is closed): a quantity the device does not measure (PI30 grid power) is derived
    # once, here, by the same rule as its energy, and nobody downstream does physics.
    power_key: str | None = None
    power_role: str | None = None
    power_label: str = ""
    power_group: str | None = None
    # False: a derived power only (`power_key`, signed), nothing integrated (PI30 battery power)
    energy: bool = True
    # False: the derived power is published as the counter counts it, never below 0 (a balance
    # whose negative side is conversion loss, not a flow the device measures: PI30 grid power)
    signed_power: bool = True
    # The device's own lifetime counter (a field key, kWh) to hold instead of integrating
    # `terms` (see module doc), and its daily figure, read once to start today's.
    meter: str | None = None
    meter_today: str | None = None

    def power(self, values: Mapping[str, Value]) -> float | None:
        """Watts from one reading, or None when a value it needs is missing (or it holds a meter)."""
        if self.meter is not None:
            return None
        if self.gate is not None:
            g = _number(values.get(self.gate))
            if g is None:
                return None
            if g < self.gate_min:
                return 0.0
        total = 0.0
        for term in self.terms:
            product = term.sign
            for key in term.factors:
                v = _number(values.get(key))
                if v is None:
                    return None
                product *= v
            total += product
        return total

    def fields(self) -> FieldTable:
        """The total, today's figure and (with `power_key`) the derived power."""
        energy = (
            Field(
                self.key,
                kind=Kind.FLOAT,
                unit="kWh",
                device_class="energy",
                state_class="total_increasing",
                label=self.label,
                role=self.role,
                group="energy",
                precision=3,
            ),
            Field(
                f"{self.key}_today",
                kind=Kind.FLOAT,
                unit="kWh",
                device_class="energy",
                # HA reads a drop of a total_increasing sensor as a new meter cycle,
                # which is exactly the midnight reset.
                state_class="total_increasing",
                label=f"{self.label} today",
                role=f"{self.role}_today" if self.role else None,
                group="energy",
                precision=3,
            ),
        )
        if self.power_key is None:
            return energy
        power = Field(
            self.power_key,
            kind=Kind.FLOAT,
            unit="W",
            label=self.power_label,
            role=self.power_role,
            group=self.power_group,
            precision=0,
        )
        return (*energy, power) if self.energy else (power,)


def _number(v: Value) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def positive_area(p0: float, p1: float, seconds: float) -> float:
    """Joules under the positive part of the straight line from p0 to p1 watts."""
    if p0 >= 0 and p1 >= 0:
        return (p0 + p1) / 2 * seconds
    if p0 <= 0 and p1 <= 0:
        return 0.0
    # The line crosses zero: only the triangle on the positive side counts.
    hi, lo = max(p0, p1), min(p0, p1)
    return hi * hi / (hi - lo) / 2 * seconds


@dataclass(slots=True)
class _Sample:
    ts: datetime
    powers: dict[str, float | None]


#: Seconds between two state files. Each one (temp file, fsync, rename, directory fsync) costs
#: 8-28 KiB of SD-card writes once the file system's metadata is counted (bench/bench_footprint.py):
#: every minute that is up to 1.6 MB/h per device. Five minutes keeps a reader well under 1 MB/h,
#: and a crash still loses no counting while the broker holds the last retained state (the
#: reader raises its counters to it at start: `floor`); only a crash that also loses the
#: broker's state costs up to five minutes.
CHECKPOINT_SECONDS = 300.0


class EnergyCounters:
    """kWh totals and daily figures of one device, integrated from its readings."""

    def __init__(
        self,
        path: Path,
        *,
        counters: Sequence[Counter],
        max_gap: float,
        checkpoint_every: float = CHECKPOINT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        tz: tzinfo | None = None,
    ) -> None:
        self._path = path
        self._all = tuple(counters)  # fields and derived powers
        self._counters = tuple(c for c in counters if c.energy)  # integrated into kWh
        self._max_gap = max_gap
        self._checkpoint_every = checkpoint_every
        self._clock = clock
        self._tz = tz
        self._joules: dict[str, float] = {c.key: 0.0 for c in self._counters}
        self._today: dict[str, float] = {c.key: 0.0 for c in self._counters}
        self._day: date | None = None
        self._last: _Sample | None = None
        self._load()
        self._saved_at = clock()
        self._dirty = False

    @property
    def fields(self) -> FieldTable:
        return tuple(f for c in self._all for f in c.fields())

    def values(self) -> dict[str, Value]:
        """Current totals and daily figures (kWh), keyed like `fields`."""
        out: dict[str, Value] = {}
        for c in self._counters:
            out[c.key] = round(self._joules[c.key] / _J_PER_KWH, 6)
            out[f"{c.key}_today"] = round(self._today[c.key] / _J_PER_KWH, 6)
        return out

    def update(self, ts: datetime, values: Mapping[str, Value]) -> dict[str, Value]:
        """Feed one reading (stamped `ts`, timezone-aware); returns the values to merge into it."""
        if ts.tzinfo is None:
            raise ValueError("EnergyCounters needs timezone-aware timestamps")
        sample = _Sample(ts, {c.key: c.power(values) for c in self._counters})
        derived: dict[str, Value] = {
            c.power_key: None if (w := c.power(values)) is None else round(w if c.signed_power else max(w, 0.0), 1)
            for c in self._all
            if c.power_key is not None
        }
        last = self._last
        if last is not None and sample.ts <= last.ts:
            # A duplicate or an out-of-order reading (replay): nothing new to integrate.
            return self.values() | derived
        if last is not None and (sample.ts - last.ts).total_seconds() <= self._max_gap:
            self._integrate(last, sample)
        self._roll_day(ts)
        self._hold_meters(values)
        self._last = sample
        self._dirty = True
        if self._clock() - self._saved_at >= self._checkpoint_every:
            try:
                self.checkpoint()
            except OSError as exc:
                # A full or read-only disk must not stop the readings; try again next interval.
                self._saved_at = self._clock()
                log.warning("energy state %s not saved: %s", self._path, exc)
        return self.values() | derived

    def floor(self, ts: datetime, values: Mapping[str, Value], now: datetime) -> bool:
        """Raise every total to at least what `values` (kWh, stamped `ts`) say, and each daily
        figure too when `ts`, `now` and the day being counted are one local day; True if
        anything rose.

        The reader feeds it its own retained state read back from the broker at start: a
        crash loses up to `checkpoint_every` seconds of counting since the last state file,
        but the broker holds what was last published, and a counter must never be published
        lower than before (HA would read a drop of a total_increasing sensor as a new meter).
        No extra write: the raised values reach the disk at the next checkpoint.
        """
        if ts.tzinfo is None or now.tzinfo is None:
            raise ValueError("EnergyCounters needs timezone-aware timestamps")
        day = self._local_day(ts)
        same_day = day == self._local_day(now) and self._day in (None, day)
        rose = False
        for c in self._counters:
            for key, store, applies in ((c.key, self._joules, True), (f"{c.key}_today", self._today, same_day)):
                kwh = _number(values.get(key))
                if applies and kwh is not None and kwh * _J_PER_KWH > store[c.key]:
                    store[c.key] = kwh * _J_PER_KWH
                    rose = True
        if rose:
            if same_day:
                self._day = day
            self._dirty = True
        return rose

    def checkpoint(self) -> None:
        """Write the state file now (atomically)."""
        self._save()
        self._saved_at = self._clock()
        self._dirty = False

    def close(self) -> None:
        if self._dirty:
            self.checkpoint()

    # --- integration ---------------------------------------------------------------------

    def _hold_meters(self, values: Mapping[str, Value]) -> None:
        """The device's own counters (see module doc), after the day has rolled."""
        for c in self._counters:
            kwh = _number(values.get(c.meter)) if c.meter is not None else None
            if kwh is None or kwh < 0:
                continue
            joules = kwh * _J_PER_KWH
            held = self._joules[c.key]
            if held <= 0.0:  # never seen one: the device's figures are all we know
                self._joules[c.key] = joules
                seed = _number(values.get(c.meter_today)) if c.meter_today is not None else None
                if seed is not None and seed > 0:
                    self._today[c.key] = max(self._today[c.key], min(seed, kwh) * _J_PER_KWH)
            elif joules > held:
                self._joules[c.key] = joules
                self._today[c.key] += joules - held

    def _local_day(self, ts: datetime) -> date:
        return ts.astimezone(self._tz).date()

    def _roll_day(self, ts: datetime) -> None:
        day = self._local_day(ts)
        if self._day != day:
            if self._day is not None:
                self._today = dict.fromkeys(self._today, 0.0)
            self._day = day

    def _next_midnight(self, ts: datetime) -> datetime:
        local = ts.astimezone(self._tz)
        midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time())
        # `tz` None means the system zone; astimezone() on a naive time assumes it too.
        aware = midnight.replace(tzinfo=self._tz) if self._tz is not None else midnight.astimezone()
        return aware

    def _integrate(self, a: _Sample, b: _Sample) -> None:
        self._roll_day(a.ts)
        seconds = (b.ts - a.ts).total_seconds()
        midnight = self._next_midnight(a.ts)
        split = (midnight - a.ts).total_seconds() if midnight < b.ts else None
        next_day: dict[str, float] = {}
        for key in self._joules:
            p0, p1 = a.powers[key], b.powers[key]
            if p0 is None or p1 is None:
                continue  # a value was missing at one end: this interval is unknown
            if split is None:
                joules = positive_area(p0, p1, seconds)
                self._joules[key] += joules
                self._today[key] += joules
                continue
            # The interval spans local midnight: the part before it belongs to the old day.
            pm = p0 + (p1 - p0) * split / seconds
            before = positive_area(p0, pm, split)
            after = positive_area(pm, p1, seconds - split)
            self._joules[key] += before + after
            self._today[key] += before
            next_day[key] = after
        if split is not None:
            self._roll_day(b.ts)
            for key, joules in next_day.items():
                self._today[key] += joules

    # --- persistence ---------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        last = self._last
        return {
            "version": _STATE_VERSION,
            "totals_kwh": {k: v / _J_PER_KWH for k, v in self._joules.items()},
            "day": self._day.isoformat() if self._day else None,
            "today_kwh": {k: v / _J_PER_KWH for k, v in self._today.items()},
            "last": None if last is None else {"ts": last.ts.isoformat(), "powers": last.powers},
        }

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self._path.name}.", dir=self._path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._state(), fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        # The rename is durable only once the directory entry is on disk.
        dir_fd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _load(self) -> None:
        try:
            raw = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        try:
            doc = json.loads(raw)
            if doc.get("version") != _STATE_VERSION:
                raise ValueError(f"unknown version {doc.get('version')!r}")
            totals = {k: float(v) * _J_PER_KWH for k, v in doc["totals_kwh"].items()}
            today = {k: float(v) * _J_PER_KWH for k, v in doc["today_kwh"].items()}
            day = date.fromisoformat(doc["day"]) if doc["day"] else None
            last = doc["last"]
            sample = None
            if last is not None:
                ts = datetime.fromisoformat(last["ts"])
                powers = {k: (None if v is None else float(v)) for k, v in last["powers"].items()}
                sample = _Sample(ts, {c.key: powers.get(c.key) for c in self._counters})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Writes are atomic, so this is a hand-edited or foreign file. Keep it for a
            # human and start from zero rather than refuse to run.
            aside = self._path.with_name(f"{self._path.name}.corrupt")
            os.replace(self._path, aside)
            log.warning("energy state %s unreadable (%s); moved to %s, counting from zero", self._path, exc, aside)
            return
        for key in self._joules:  # counters added since the file was written start at 0
            self._joules[key] = max(0.0, totals.get(key, 0.0))
            self._today[key] = max(0.0, today.get(key, 0.0))
        self._day = day
        self._last = sample

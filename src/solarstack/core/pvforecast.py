"""Core layer: PV forecast arithmetic — power per plane from tilted irradiance, and the learning.

Pure: numbers in, numbers out; no I/O, no clock, no protocol. The weather device
(devices/openmeteo.py) feeds it Open-Meteo's global tilted irradiance per plane; the weather
service feeds the inverter's own PV energy to `Learner` and persists its `state()`.

Power of one plane, per hour (the PVWatts v5 structure, NREL/TP-6A20-62641, without the
inverter curve):

    T_cell = T_air + (NOCT - 20 °C) / 800 W/m² · G_poa          (NOCT cell temperature model,
                                                                 Duffie & Beckman §23.3; NOCT 45 °C)
    P      = kWp · G_poa / 1000 W/m² · (1 + gamma · (T_cell - 25 °C)) · (1 - losses)
                                                                (gamma = -0.0037 /K, crystalline Si;
                                                                 PVWatts' "standard" module is -0.0047)

Learning: each evening the day's model forecast per hour is compared with the energy the
inverter really made in that hour. Each productive hour gives a ratio actual/forecast
(clipped to RATIO_LIMITS); each hour of the day keeps the last WINDOW_DAYS ratios and its
correction is their median, bounded by CORRECTION_LIMITS and shrunk towards 1 while fewer
than FULL_TRUST_DAYS days are known. A day with missing readings (an outage, a reader down)
or one far outside DAY_RATIO_LIMITS (snow on the panels) is not learnt at all, and the
median shrugs off what gets through (a cloud the forecast missed). The accuracy published
is the MAPE of the corrected daily energy over the last MAPE_DAYS learnt days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

NOCT_C = 45.0
GAMMA_PER_K = -0.0037
HOURS = 24
WINDOW_DAYS = 14
MAPE_DAYS = 7  # "recent accuracy"
FULL_TRUST_DAYS = 3
RATIO_LIMITS = (0.2, 2.0)
CORRECTION_LIMITS = (0.5, 1.5)
#: An hour counts when its forecast is at least this share of the day's best hour.
PRODUCTIVE_SHARE = 0.05
#: A day is learnt only when readings cover this share of its productive hours ...
MIN_COVERAGE = 0.8
#: ... and the forecast promised at least this much energy (kWh) in them.
MIN_DAY_KWH = 0.2
#: A day whose energy is outside these shares of the model's is not the roof's doing (snow on the
#: panels, an inverter off, a storm the forecast missed): it is neither learnt nor scored.
DAY_RATIO_LIMITS = (0.3, 3.0)


class Plane(NamedTuple):
    """One PV array: `azimuth` in compass degrees (90 east, 180 south, 270 west)."""

    name: str
    kwp: float
    tilt: float
    azimuth: float
    losses_percent: float = 14.0


def parse_planes(text: str) -> tuple[Plane, ...]:
    """`east:5.2:30:90:14,west:4.8:30:270:14` (name:kWp:tilt:azimuth[:losses %]); ValueError says why."""
    planes: list[Plane] = []
    for item in filter(None, (i.strip() for i in text.split(","))):
        parts = item.split(":")
        if len(parts) not in (4, 5):
            raise ValueError(f"{item!r} is not name:kWp:tilt:azimuth[:losses], e.g. south:5.2:30:180:14")
        name = parts[0].strip()
        try:
            kwp, tilt, azimuth, *rest = (float(p) for p in parts[1:])
        except ValueError:
            raise ValueError(f"{item!r}: kWp, tilt, azimuth and losses are numbers") from None
        losses = rest[0] if rest else 14.0
        if not name or not name.replace("_", "").isalnum():
            raise ValueError(f"{item!r}: the name is letters, digits and _")
        if not 0 < kwp <= 1000 or not 0 <= tilt <= 90 or not 0 <= azimuth <= 360 or not 0 <= losses < 100:
            raise ValueError(f"{item!r}: kWp > 0, tilt 0-90, azimuth 0-360 (180 = south), losses 0-99 %")
        planes.append(Plane(name, kwp, tilt, azimuth, losses))
    if len({p.name for p in planes}) != len(planes):
        raise ValueError("two arrays have the same name")
    return tuple(planes)


def cell_temperature(air_c: float, irradiance: float) -> float:
    """NOCT model (module doc)."""
    return air_c + (NOCT_C - 20.0) / 800.0 * max(irradiance, 0.0)


def plane_power_w(plane: Plane, irradiance: float, air_c: float) -> float:
    """DC power of one plane, W, for plane-of-array irradiance (W/m²) and air temperature."""
    g = max(irradiance, 0.0)  # Open-Meteo's GTI dips below zero at dusk now and then
    derate = 1.0 + GAMMA_PER_K * (cell_temperature(air_c, g) - 25.0)
    return max(0.0, plane.kwp * 1000.0 * g / 1000.0 * derate * (1.0 - plane.losses_percent / 100.0))


def site_power_w(planes: Sequence[Plane], irradiance: Sequence[float], air_c: float) -> float:
    """All planes together; `irradiance` has one value per plane, in the same order."""
    return sum(plane_power_w(p, g, air_c) for p, g in zip(planes, irradiance, strict=True))


def _median(values: Sequence[float]) -> float:
    # not statistics.median: that module costs a reader ~2 MB of its 40 MB budget
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def _clip(x: float, limits: tuple[float, float]) -> float:
    return min(max(x, limits[0]), limits[1])


class DayResult(NamedTuple):
    learnt: bool
    reason: str
    ratio: float | None = None  # actual / model forecast over the productive hours


class Learner:
    """The per-hour-of-day correction (module doc). Not thread-safe: one owner calls it.

    Fed per local day (`YYYY-MM-DD`): `forecast(day, kwh24)` the model's (uncorrected) energy
    per hour, as often as a new forecast comes; `actual(day, hour, kwh_today)` each reading of
    the inverter's energy-today counter; `close(day)` once, in the evening.
    """

    def __init__(self, state: Mapping[str, Any] | None = None) -> None:
        s = state or {}
        self.ratios: list[list[float]] = [list(map(float, r))[-WINDOW_DAYS:] for r in s.get("ratios", [[]] * HOURS)]
        if len(self.ratios) != HOURS:
            self.ratios = [[] for _ in range(HOURS)]
        self.history: list[tuple[str, float, float]] = [
            (str(d), float(f), float(a)) for d, f, a in s.get("history", [])
        ][-WINDOW_DAYS:]
        self.closed: str | None = s.get("closed")
        self._forecast: dict[str, list[float]] = {}
        self._last_in_hour: dict[str, list[float | None]] = {}

    # -- inputs -------------------------------------------------------------------------------

    def forecast(self, day: str, kwh: Sequence[float]) -> None:
        if len(kwh) == HOURS:
            self._forecast[day] = [max(0.0, float(x)) for x in kwh]

    def actual(self, day: str, hour: int, kwh_today: float) -> None:
        """A reading of the energy-today counter taken during local `hour` of `day`."""
        seen = self._last_in_hour.setdefault(day, [None] * HOURS)
        if 0 <= hour < HOURS:
            seen[hour] = float(kwh_today)

    def actual_per_hour(self, day: str) -> list[float | None]:
        """Energy made in each hour (None where a reading at either end is missing)."""
        seen = self._last_in_hour.get(day, [None] * HOURS)
        out: list[float | None] = []
        for h in range(HOURS):
            before = 0.0 if h == 0 else seen[h - 1]
            now = seen[h]
            # the counter starts the day at 0: hours before the first reading made nothing if
            # the first reading is still 0 (night)
            if before is None and now is not None and h > 0 and all(x is None for x in seen[:h]):
                before = 0.0 if now == 0.0 else None
            out.append(None if now is None or before is None else max(0.0, now - before))
        return out

    # -- the evening update ---------------------------------------------------------------------

    def close(self, day: str) -> DayResult:
        """Learn from `day` (once). Returns whether it was learnt, and why not."""
        if self.closed is not None and day <= self.closed:
            return DayResult(False, "already learnt")
        forecast = self._forecast.get(day)
        self.closed = day
        if forecast is None:
            return DayResult(False, "no forecast for the day")
        actual = self.actual_per_hour(day)
        best = max(forecast)
        productive = [h for h in range(HOURS) if best > 0 and forecast[h] >= PRODUCTIVE_SHARE * best]
        known = [h for h in productive if actual[h] is not None]
        if not productive or sum(forecast[h] for h in productive) < MIN_DAY_KWH:
            return DayResult(False, "too little sun forecast to learn from")
        if len(known) < MIN_COVERAGE * len(productive):
            return DayResult(False, f"readings for only {len(known)} of {len(productive)} productive hours")
        f_total = sum(forecast[h] for h in known)
        a_total = sum(actual[h] or 0.0 for h in known)
        ratio = a_total / f_total
        if not DAY_RATIO_LIMITS[0] <= ratio <= DAY_RATIO_LIMITS[1]:
            return DayResult(False, f"made {ratio:.0%} of the forecast: snow, an outage or a missed storm", ratio)
        corrected = sum(forecast[h] * self.factor(h) for h in known)
        self.history = [*self.history, (day, corrected, a_total)][-WINDOW_DAYS:]
        for h in known:
            ratio = _clip((actual[h] or 0.0) / forecast[h], RATIO_LIMITS)
            self.ratios[h] = [*self.ratios[h], ratio][-WINDOW_DAYS:]
        self._forecast = {d: v for d, v in self._forecast.items() if d > day}
        self._last_in_hour = {d: v for d, v in self._last_in_hour.items() if d > day}
        return DayResult(True, "learnt", ratio)

    # -- outputs --------------------------------------------------------------------------------

    def factor(self, hour: int) -> float:
        ratios = self.ratios[hour]
        if not ratios:
            learnt = [_median(r) for r in self.ratios if r]
            if not learnt:
                return 1.0
            ratios = [_median(learnt)]  # an hour never productive yet: the day's typical factor
        trust = min(1.0, len(ratios) / FULL_TRUST_DAYS)
        return _clip(1.0 + (_median(ratios) - 1.0) * trust, CORRECTION_LIMITS)

    def factors(self) -> list[float]:
        return [self.factor(h) for h in range(HOURS)]

    def mape(self) -> float | None:
        """Mean absolute percentage error of the corrected daily forecast, recent days, %."""
        errors = [abs(f - a) / a for _, f, a in self.history[-MAPE_DAYS:] if a > 0]
        return 100.0 * sum(errors) / len(errors) if errors else None

    def state(self) -> dict[str, Any]:
        """What to persist (JSON-able); `Learner(state)` restores it."""
        return {"ratios": self.ratios, "history": self.history, "closed": self.closed}

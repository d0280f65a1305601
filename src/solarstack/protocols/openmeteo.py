"""Protocols layer: the Open-Meteo forecast API (https://open-meteo.com/en/docs) as data.

Pure: what to ask (`request_params`) and how to read the answer (`parse`, `decode`), with
the field tables every output is built from. No I/O, no logging setup.

One request, `GET /v1/forecast?latitude=…&longitude=…&current=…&hourly=…&daily=…`, with
`timeformat=unixtime` (no local-time strings to guess about), `timezone` (days and
`utc_offset_seconds` in local time), `forecast_days=3` (today from midnight, so today's
energy includes the hours gone, plus the next 48 h), `tilt` and `azimuth` for
`global_tilted_irradiance` (one plane per request; Open-Meteo's azimuth is 0 = south,
-90 = east, 90 = west, so ours, in compass degrees, goes minus 180). The answer:

    {"utc_offset_seconds": 3600,
     "current": {"time": 1717243200, "temperature_2m": 18.3, "weather_code": 2, …},
     "hourly":  {"time": [t0, t0+3600, …], "temperature_2m": […], "global_tilted_irradiance": […], …},
     "daily":   {"time": [d0, …], "sunrise": [s0, …], "sunset": […]}}

Radiation in `hourly` is the mean of the hour BEFORE its timestamp (Open-Meteo's
"preceding hour mean"): the value stamped 13:00 is the energy of 12:00-13:00.
A missing key, a wrong type or text that is not JSON is a `ProtocolError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from solarstack.core.errors import ProtocolError
from solarstack.core.fields import NO_STATISTICS, Field, FieldTable, Kind, Value

PROTOCOL = "openmeteo"
PATH = "/v1/forecast"
SERIES_HOURS = 48
FORECAST_DAYS = 3

#: Open-Meteo variable -> our key, for `current=`
CURRENT_VARIABLES: Mapping[str, str] = {
    "temperature_2m": "temperature",
    "relative_humidity_2m": "humidity",
    "apparent_temperature": "apparent_temperature",
    "precipitation": "precipitation",
    "weather_code": "weather_code",
    "cloud_cover": "cloud_cover",
    "pressure_msl": "pressure_msl",
    "wind_speed_10m": "wind_speed",
    "wind_direction_10m": "wind_direction",
    "wind_gusts_10m": "wind_gusts",
    "shortwave_radiation": "shortwave_radiation",
    "is_day": "is_day",
}
#: Open-Meteo variable -> our series key, for `hourly=` (the next SERIES_HOURS hours)
HOURLY_VARIABLES: Mapping[str, str] = {
    "temperature_2m": "hourly_temperature",
    "cloud_cover": "hourly_cloud_cover",
    "precipitation_probability": "hourly_precipitation_probability",
    "shortwave_radiation": "hourly_irradiance",
}
TILTED = "global_tilted_irradiance"

#: WMO weather interpretation codes (Open-Meteo's docs, "WMO Weather interpretation codes")
#: -> (text, Material Design icon). Night swaps a sunny icon for its night one.
WMO: Mapping[int, tuple[str, str]] = {
    0: ("Clear sky", "mdi:weather-sunny"),
    1: ("Mainly clear", "mdi:weather-sunny"),
    2: ("Partly cloudy", "mdi:weather-partly-cloudy"),
    3: ("Overcast", "mdi:weather-cloudy"),
    45: ("Fog", "mdi:weather-fog"),
    48: ("Depositing rime fog", "mdi:weather-fog"),
    51: ("Light drizzle", "mdi:weather-rainy"),
    53: ("Drizzle", "mdi:weather-rainy"),
    55: ("Dense drizzle", "mdi:weather-rainy"),
    56: ("Light freezing drizzle", "mdi:weather-snowy-rainy"),
    57: ("Dense freezing drizzle", "mdi:weather-snowy-rainy"),
    61: ("Slight rain", "mdi:weather-rainy"),
    63: ("Rain", "mdi:weather-rainy"),
    65: ("Heavy rain", "mdi:weather-pouring"),
    66: ("Light freezing rain", "mdi:weather-snowy-rainy"),
    67: ("Heavy freezing rain", "mdi:weather-snowy-rainy"),
    71: ("Slight snow fall", "mdi:weather-snowy"),
    73: ("Snow fall", "mdi:weather-snowy"),
    75: ("Heavy snow fall", "mdi:weather-snowy-heavy"),
    77: ("Snow grains", "mdi:weather-snowy"),
    80: ("Slight rain showers", "mdi:weather-rainy"),
    81: ("Rain showers", "mdi:weather-pouring"),
    82: ("Violent rain showers", "mdi:weather-pouring"),
    85: ("Slight snow showers", "mdi:weather-snowy"),
    86: ("Heavy snow showers", "mdi:weather-snowy-heavy"),
    95: ("Thunderstorm", "mdi:weather-lightning"),
    96: ("Thunderstorm with slight hail", "mdi:weather-hail"),
    99: ("Thunderstorm with heavy hail", "mdi:weather-hail"),
}
_NIGHT_ICONS = {
    "mdi:weather-sunny": "mdi:weather-night",
    "mdi:weather-partly-cloudy": "mdi:weather-night-partly-cloudy",
}

W = "weather"
F = "forecast"

#: Current conditions (one row each).
CURRENT: FieldTable = (
    Field("temperature", unit="°C", precision=1, group=W, label="Outdoor temperature"),
    Field("humidity", unit="%", device_class="humidity", precision=0, group=W, label="Outdoor humidity"),
    Field("apparent_temperature", unit="°C", precision=1, group=W, label="Feels like"),
    Field("precipitation", unit="mm", precision=1, group=W),
    Field("weather_code", kind=Kind.INT, diagnostic=True, group=W, label="WMO weather code"),
    Field("condition", kind=Kind.TEXT, group=W, icon="mdi:weather-partly-cloudy"),
    Field("condition_icon", kind=Kind.TEXT, diagnostic=True, group=W, label="Condition icon"),
    Field("cloud_cover", unit="%", precision=0, group=W, icon="mdi:weather-cloudy"),
    Field("pressure_msl", unit="hPa", precision=1, group=W, label="Pressure (sea level)"),
    Field("wind_speed", unit="km/h", precision=1, group=W),
    Field("wind_direction", unit="°", precision=0, group=W, icon="mdi:compass-outline"),
    Field("wind_gusts", unit="km/h", precision=1, group=W),
    Field("shortwave_radiation", unit="W/m²", precision=0, group=W, label="Solar irradiance"),
    Field("is_day", kind=Kind.BOOL, group=W, label="Daylight", icon="mdi:theme-light-dark"),
    Field("sunrise", kind=Kind.TEXT, device_class="timestamp", group=W),
    Field("sunset", kind=Kind.TEXT, device_class="timestamp", group=W),
    Field("observed_at", kind=Kind.TEXT, device_class="timestamp", diagnostic=True, group=W, label="Observed at"),
)

#: The next 48 hours, from `forecast_start`: shown in HA as attributes of `condition`.
SERIES: FieldTable = (
    Field(
        "forecast_start",
        kind=Kind.TEXT,
        device_class="timestamp",  # where consumers put the series' first hour
        group=F,
        attribute_of="condition",
        label="Forecast from",
    ),
    Field("hourly_temperature", kind=Kind.ARRAY, unit="°C", precision=1, group=F, attribute_of="condition"),
    Field("hourly_cloud_cover", kind=Kind.ARRAY, unit="%", precision=0, group=F, attribute_of="condition"),
    Field(
        "hourly_precipitation_probability",
        kind=Kind.ARRAY,
        unit="%",
        precision=0,
        group=F,
        attribute_of="condition",
        label="Hourly precipitation probability",
    ),
    Field("hourly_irradiance", kind=Kind.ARRAY, unit="W/m²", precision=0, group=F, attribute_of="condition"),
)

#: The PV forecast (when arrays are configured); per-plane irradiance rows are `tilted_field(name)`.
PV: FieldTable = (
    Field("pv_forecast_power_now", unit="W", precision=0, group=F, label="PV forecast (this hour)"),
    Field("pv_forecast_today", unit="kWh", state_class=NO_STATISTICS, precision=2, group=F, label="PV forecast today"),
    Field(
        "pv_forecast_tomorrow",
        unit="kWh",
        state_class=NO_STATISTICS,
        precision=2,
        group=F,
        label="PV forecast tomorrow",
    ),
    Field(
        "pv_forecast_power",
        kind=Kind.ARRAY,
        unit="W",
        precision=0,
        group=F,
        attribute_of="pv_forecast_today",
        label="PV forecast, next 48 h",
    ),
    Field(
        "pv_forecast_correction",
        kind=Kind.ARRAY,
        precision=2,
        group=F,
        attribute_of="pv_forecast_today",
        label="PV forecast correction by hour of day",
    ),
    Field("pv_forecast_mape", unit="%", precision=1, group=F, label="PV forecast error (MAPE, 7 days)"),
)

#: Whether the values are the last good ones of a failed fetch (the reader marks them).
STALE = Field("stale", kind=Kind.BOOL, device_class="problem", diagnostic=True, group="status")


def tilted_field(plane: str) -> Field:
    return Field(
        f"tilted_irradiance_{plane}",
        kind=Kind.ARRAY,
        unit="W/m²",
        precision=0,
        group=F,
        attribute_of="pv_forecast_today",
        label=f"Irradiance on {plane}, next 48 h",
    )


def request_params(
    latitude: float,
    longitude: float,
    timezone: str,
    *,
    tilt: float | None = None,
    azimuth: float | None = None,
    weather: bool = True,
) -> dict[str, str]:
    """Query parameters of one request. `weather=False`: only a plane's tilted irradiance
    and the temperature (the second and further planes); `azimuth` in compass degrees."""
    hourly = [*HOURLY_VARIABLES] if weather else ["temperature_2m"]
    params = {
        "latitude": f"{latitude:g}",
        "longitude": f"{longitude:g}",
        "timezone": timezone,
        "timeformat": "unixtime",
        "forecast_days": str(FORECAST_DAYS),
    }
    if weather:
        params["current"] = ",".join(CURRENT_VARIABLES)
        params["daily"] = "sunrise,sunset"
    if tilt is not None and azimuth is not None:
        hourly.append(TILTED)
        params["tilt"] = f"{tilt:g}"
        params["azimuth"] = f"{_open_meteo_azimuth(azimuth):g}"
    params["hourly"] = ",".join(hourly)
    return params


def _open_meteo_azimuth(compass: float) -> float:
    """Compass degrees (180 = south) -> Open-Meteo's (0 = south, -90 = east, 90 = west)."""
    return ((compass - 180.0 + 180.0) % 360.0) - 180.0


def parse(body: bytes) -> dict[str, Any]:
    """The JSON document, or ProtocolError (not JSON, not an object, an API error)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"answer is not JSON: {body[:60]!r}") from None
    if not isinstance(doc, dict):
        raise ProtocolError("answer is not a JSON object")
    if doc.get("error"):
        raise ProtocolError(f"Open-Meteo refused the request: {str(doc.get('reason'))[:120]}")
    return doc


class Hourly(NamedTuple):
    """The hourly axis of an answer: unix times (hour ends) and the local offset."""

    times: list[int]
    utc_offset: int
    temperature: list[float]


def _block(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    block = doc.get(name)
    if not isinstance(block, Mapping):
        raise ProtocolError(f"answer has no {name!r} block")
    return block


def _number(raw: object, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ProtocolError(f"{what} is not a number: {raw!r}")
    return float(raw)


def _series(block: Mapping[str, Any], variable: str, length: int) -> list[float]:
    raw = block.get(variable)
    if not isinstance(raw, list) or len(raw) != length:
        raise ProtocolError(f"hourly {variable!r} is missing or not {length} values long")
    # Open-Meteo sends null where a model has no value (the last hours of a short model)
    return [0.0 if v is None else _number(v, f"hourly {variable}") for v in raw]


def hourly(doc: Mapping[str, Any]) -> Hourly:
    block = _block(doc, "hourly")
    times = block.get("time")
    if not isinstance(times, list) or not times or not all(isinstance(t, int) for t in times):
        raise ProtocolError("hourly 'time' is not a list of unix times (timeformat=unixtime)")
    offset = doc.get("utc_offset_seconds", 0)
    if not isinstance(offset, int):
        raise ProtocolError("utc_offset_seconds is not a whole number")
    return Hourly(times, offset, _series(block, "temperature_2m", len(times)))


def tilted(doc: Mapping[str, Any]) -> list[float]:
    """The plane's global tilted irradiance, one value per hourly time, W/m²."""
    axis = hourly(doc)
    return _series(_block(doc, "hourly"), TILTED, len(axis.times))


def start_index(axis: Hourly, now: int) -> int:
    """Index of the hour now running (the first value stamped after `now`)."""
    return next((i for i, t in enumerate(axis.times) if t > now), len(axis.times))


def iso_utc(unix: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def decode(doc: Mapping[str, Any], now: int) -> dict[str, Value]:
    """Current conditions, the next 48 h and today's sunrise/sunset, keyed like CURRENT and
    SERIES. `now` (unix seconds) picks where the series start."""
    current = _block(doc, "current")
    values: dict[str, Value] = {}
    for variable, key in CURRENT_VARIABLES.items():
        raw = current.get(variable)
        if raw is None:
            raise ProtocolError(f"current {variable!r} is missing")
        number = _number(raw, f"current {variable}")
        values[key] = int(number) if key in ("weather_code",) else (bool(number) if key == "is_day" else number)
    code = int(values["weather_code"])  # type: ignore[arg-type]
    text, icon = WMO.get(code, (f"Weather code {code}", "mdi:weather-cloudy-alert"))
    values["condition"] = text
    values["condition_icon"] = icon if values["is_day"] else _NIGHT_ICONS.get(icon, icon)
    observed = current.get("time")
    values["observed_at"] = iso_utc(observed) if isinstance(observed, int) else None

    axis = hourly(doc)
    block = _block(doc, "hourly")
    first = start_index(axis, now)
    window = slice(first, first + SERIES_HOURS)
    for variable, key in HOURLY_VARIABLES.items():
        values[key] = [round(v, 1) for v in _series(block, variable, len(axis.times))[window]]
    values["forecast_start"] = iso_utc(axis.times[first] - 3600) if first < len(axis.times) else None

    daily = _block(doc, "daily")
    days, rises, sets = daily.get("time"), daily.get("sunrise"), daily.get("sunset")
    if not (isinstance(days, list) and isinstance(rises, list) and isinstance(sets, list) and days):
        raise ProtocolError("daily 'time', 'sunrise' or 'sunset' is missing")
    today = max((i for i, d in enumerate(days) if isinstance(d, int) and d <= now), default=0)
    for key, column in (("sunrise", rises), ("sunset", sets)):
        raw = column[today] if today < len(column) else None
        values[key] = iso_utc(raw) if isinstance(raw, int) else None
    return values


def hour_energy_by_day(axis: Hourly, power_w: Sequence[float]) -> dict[str, list[float]]:
    """kWh per local hour-of-day for each local day, from hourly mean power stamped at the
    hour's END (see module doc): `{"2024-06-01": [24 values], …}`."""
    from datetime import UTC, datetime

    days: dict[str, list[float]] = {}
    for t, p in zip(axis.times, power_w, strict=True):
        start = datetime.fromtimestamp(t - 3600 + axis.utc_offset, UTC)  # local wall time, hour start
        days.setdefault(start.date().isoformat(), [0.0] * 24)[start.hour] += p / 1000.0
    return days


class Codec:
    """`solarstack decode --protocol openmeteo --raw "$(curl …/v1/forecast?…)"` (protocols/catalog.py)."""

    def encode(self, command: str) -> bytes:
        from solarstack.core.errors import ConfigError

        raise ConfigError("an openmeteo request depends on the site: try `solarstack query openmeteo+https://…`")

    def decode(self, frame: bytes, command: str | None) -> tuple[dict[str, Value], FieldTable]:
        doc = parse(frame)
        current = doc.get("current")
        stamp = current.get("time") if isinstance(current, dict) else None
        return decode(doc, stamp if isinstance(stamp, int) else 0), (*CURRENT, *SERIES)

    def describe(self) -> list[tuple[str, str, str]]:
        return [("query", "forecast", "current conditions, the next 48 h, sunrise, sunset (and the PV forecast)")]

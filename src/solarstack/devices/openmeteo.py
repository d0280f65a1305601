"""Devices layer: the weather "device" — Open-Meteo over HTTP, with the PV forecast.

`openmeteo+https://api.open-meteo.com?name=weather&latitude=52.52&longitude=13.41` (or
`openmeteo+http://127.0.0.1:8897?…` for the simulator or a self-hosted Open-Meteo). Options:
`latitude`, `longitude` (required), `timezone` (default `auto`), `arrays` (PV planes,
`name:kWp:tilt:azimuth[:losses]`, comma or `;` separated: core/pvforecast.py),
`timeout` (s, default 10), `interval` (the poll interval; discovery's `expire_after` is
three of them). The weather service fills the options from WEATHER_* settings.

One command, `forecast`: one request for the weather and the first plane, one more per
further plane (Open-Meteo computes tilted irradiance for one plane per request). The PV
forecast per hour is core/pvforecast.py's model times the learnt correction the service
hands in (`correct_with`); `pv_forecast_model_today` is the uncorrected model of today,
by local hour, which the service's learning compares with the inverter's energy.

Errors are the poller's to retry: HTTP errors, timeouts and refused connections are
TransportErrors (transports/http.py), a malformed answer is a ProtocolError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from solarstack.core import pvforecast
from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ConfigError, ProtocolError
from solarstack.core.fields import Field, FieldTable, Kind, Reading, Value
from solarstack.devices.base import Identity, OneCommand
from solarstack.protocols import openmeteo
from solarstack.transports.http import HttpTransport

COMMAND = "forecast"
DEFAULT_TIMEOUT = 10.0
DEFAULT_INTERVAL = 600.0

#: The uncorrected model for today and what it needs to line up with local hours.
LEARNING: FieldTable = (
    Field(
        "pv_forecast_model_today",
        kind=Kind.ARRAY,
        unit="kWh",
        precision=3,
        group="forecast",
        attribute_of="pv_forecast_today",
        label="PV model today by hour (uncorrected)",
    ),
    Field("pv_forecast_day", kind=Kind.TEXT, group="forecast", attribute_of="pv_forecast_today", label="Local day"),
    Field("utc_offset", kind=Kind.INT, unit="s", group="forecast", attribute_of="pv_forecast_today"),
)

Correction = Callable[[], tuple[list[float], float | None]]


class OpenMeteoDevice(OneCommand):
    protocol = openmeteo.PROTOCOL
    command = COMMAND
    kind = "weather"
    energy_command = None

    def __init__(
        self,
        device_id: str,
        transport: HttpTransport,
        *,
        latitude: float,
        longitude: float,
        timezone: str = "auto",
        planes: tuple[pvforecast.Plane, ...] = (),
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = device_id
        self.transport = transport
        self.latitude = latitude
        self.longitude = longitude
        self.timezone = timezone
        self.planes = planes
        self._clock = clock
        self._correction: Correction | None = None
        expire = int(3 * interval + 60)
        rows = (*openmeteo.CURRENT, *openmeteo.SERIES, openmeteo.STALE)
        if planes:
            rows += (*openmeteo.PV, *LEARNING, *(openmeteo.tilted_field(p.name) for p in planes))
        # expire_after on what HA shows: a reader that cannot fetch leaves them unavailable in time
        self._table: FieldTable = tuple(r if r.attribute_of else r._replace(expire_after=expire) for r in rows)

    # -- Device face ----------------------------------------------------------------------

    def correct_with(self, correction: Correction) -> None:
        """Where the learnt per-hour factors (24) and the recent MAPE (%) come from."""
        self._correction = correction

    def identify(self, values: Mapping[str, Value]) -> Identity:
        return Identity(manufacturer="Open-Meteo", model="Forecast API", sw_version=None)

    def table(self, command: str) -> FieldTable:
        self.check_command(command)
        return self._table

    def close(self) -> None:
        self.transport.close()

    # -- the fetch ------------------------------------------------------------------------

    def _get(self, **plane: float | bool | None) -> dict[str, object]:
        params = openmeteo.request_params(self.latitude, self.longitude, self.timezone, **plane)  # type: ignore[arg-type]
        return openmeteo.parse(self.transport.get(openmeteo.PATH, params))

    def query(self, command: str) -> Reading:
        self.table(command)
        first = self.planes[0] if self.planes else None
        doc = self._get(tilt=first.tilt, azimuth=first.azimuth) if first else self._get()
        ts = datetime.now(UTC)
        # the answer's own "now" (start of its 15-minute slot) places the series: a server whose
        # clock differs from ours (a simulator running fast) still lines up with itself
        current = doc.get("current")
        stamp = current.get("time") if isinstance(current, dict) else None
        now = stamp if isinstance(stamp, int) else int(self._clock())
        values = openmeteo.decode(doc, now)
        values["stale"] = False
        if self.planes:
            docs = [doc, *(self._get(tilt=p.tilt, azimuth=p.azimuth, weather=False) for p in self.planes[1:])]
            values.update(self._pv(docs, now))
        return Reading(self.id, ts, values, self._table)

    def _pv(self, docs: list[dict[str, object]], now: int) -> dict[str, Value]:
        axis = openmeteo.hourly(docs[0])
        per_plane = [openmeteo.tilted(d) for d in docs]
        for d in docs[1:]:
            if openmeteo.hourly(d).times != axis.times:
                raise ProtocolError("the planes' answers cover different hours")
        model = [
            pvforecast.site_power_w(self.planes, [g[i] for g in per_plane], axis.temperature[i])
            for i in range(len(axis.times))
        ]
        factors, mape = self._correction() if self._correction else ([1.0] * pvforecast.HOURS, None)
        local_hour = [datetime.fromtimestamp(t - 3600 + axis.utc_offset, UTC).hour for t in axis.times]
        power = [p * factors[h] for p, h in zip(model, local_hour, strict=True)]
        by_day = openmeteo.hour_energy_by_day(axis, power)
        model_by_day = openmeteo.hour_energy_by_day(axis, model)
        today = datetime.fromtimestamp(now + axis.utc_offset, UTC).date()
        days = sorted(by_day)
        today_key = today.isoformat()
        tomorrow_key = next((d for d in days if d > today_key), None)
        first = openmeteo.start_index(axis, now)
        window = slice(first, first + openmeteo.SERIES_HOURS)
        values: dict[str, Value] = {
            "pv_forecast_power_now": round(power[first], 1) if first < len(power) else 0.0,
            "pv_forecast_today": round(sum(by_day.get(today_key, [])), 3),
            "pv_forecast_tomorrow": round(sum(by_day.get(tomorrow_key, [])), 3) if tomorrow_key else None,
            "pv_forecast_power": [round(p, 1) for p in power[window]],
            "pv_forecast_correction": [round(f, 3) for f in factors],
            "pv_forecast_mape": round(mape, 1) if mape is not None else None,
            "pv_forecast_model_today": [round(x, 4) for x in model_by_day.get(today_key, [0.0] * 24)],
            "pv_forecast_day": today_key,
            "utc_offset": axis.utc_offset,
        }
        for plane, g in zip(self.planes, per_plane, strict=True):
            values[f"tilted_irradiance_{plane.name}"] = [round(x, 1) for x in g[window]]
        return values


def _coordinate(url: DeviceURL, key: str, limit: float) -> float:
    raw = url.option(key)
    if raw is None or raw == "":
        raise ConfigError(f"device URL {url.raw!r}: give {key}= (WEATHER_{key.upper()}), e.g. {key}=52.52")
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"device URL {url.raw!r}: {key}={raw!r} is not a number") from None
    if not -limit <= value <= limit:
        raise ConfigError(f"device URL {url.raw!r}: {key}={raw!r} is outside -{limit:g}..{limit:g}")
    return value


def open_device(url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False) -> OpenMeteoDevice:
    if url.transport not in ("http", "https"):
        raise ConfigError(
            f"device URL {url.raw!r}: openmeteo speaks http or https, e.g. openmeteo+https://api.open-meteo.com"
        )
    if not url.address:
        raise ConfigError(f"device URL {url.raw!r}: give the server, e.g. openmeteo+https://api.open-meteo.com")
    try:
        planes = pvforecast.parse_planes((url.option("arrays") or "").replace(";", ","))
    except ValueError as exc:
        raise ConfigError(f"device URL {url.raw!r}: arrays: {exc}") from None
    wait = timeout if timeout is not None else url.float_option("timeout", DEFAULT_TIMEOUT)
    return OpenMeteoDevice(
        url.name,
        HttpTransport(f"{url.transport}://{url.address.rstrip('/')}", timeout=wait),
        latitude=_coordinate(url, "latitude", 90.0),
        longitude=_coordinate(url, "longitude", 180.0),
        timezone=url.option("timezone") or "auto",
        planes=planes,
        interval=url.float_option("interval", DEFAULT_INTERVAL),
    )

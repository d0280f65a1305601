"""Services layer: the weather reader's configuration (WEATHER_* plus the shared names).

The reader has one device, named `weather`. WEATHER_DEVICES may give its URL in full
(`openmeteo+https://api.open-meteo.com?name=weather&latitude=52.52&longitude=13.41`); empty,
it is `openmeteo+<WEATHER_BASE_URL>?name=weather`. WEATHER_LATITUDE, WEATHER_LONGITUDE,
WEATHER_TIMEZONE and WEATHER_PV_ARRAYS fill the options the URL does not give.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from solarstack.core import pvforecast
from solarstack.core.device_url import DeviceURL, parse_device_list
from solarstack.core.errors import ConfigError
from solarstack.core.settings import CommonSettings

#: The kinds of device the weather reader serves (devices/registry.py picks the family).
KINDS = ("weather",)
DEVICE_ID = "weather"


class WeatherSettings(CommonSettings):
    weather_devices: str = Field(
        "", description="the weather source as a device URL; empty: openmeteo+WEATHER_BASE_URL?name=weather"
    )
    weather_base_url: str = Field(
        "https://api.open-meteo.com", description="Open-Meteo server (self-hosted or the public one; no API key)"
    )
    weather_latitude: float | None = Field(None, ge=-90, le=90, description="site latitude, degrees north")
    weather_longitude: float | None = Field(None, ge=-180, le=180, description="site longitude, degrees east")
    weather_timezone: str = Field("auto", description="time zone of days and hours (IANA name, or auto)")
    weather_interval_seconds: float = Field(600.0, ge=1, description="seconds between fetches (Open-Meteo: >= 600)")
    weather_timeout: float = Field(10.0, gt=0, description="seconds to wait for one answer")
    weather_retries: int = Field(3, ge=0, le=10, description="retries of a failed fetch, with backoff")
    weather_pv_arrays: str = Field(
        "",
        description="PV arrays name:kWp:tilt:azimuth[:losses %], comma-separated, azimuth 180 = south,"
        " e.g. east:5.2:30:90:14,west:4.8:30:270:14; empty: no PV forecast",
    )
    weather_learn_hour: int = Field(
        22, ge=0, le=23, description="local hour after which the day's forecast is compared with the inverter's energy"
    )

    @field_validator("weather_base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError("not an http(s) server address, e.g. https://api.open-meteo.com")
        return v.rstrip("/")

    @field_validator("weather_pv_arrays")
    @classmethod
    def _arrays(cls, v: str) -> str:
        pvforecast.parse_planes(v)  # ValueError names the item
        return v

    def device_url(self) -> DeviceURL:
        """The one weather device, its options filled from the settings (ConfigError: one line)."""
        raw = self.weather_devices.strip() or f"openmeteo+{self.weather_base_url}?name={DEVICE_ID}"
        urls = parse_device_list(raw)
        if len(urls) != 1 or urls[0].name != DEVICE_ID:
            raise ConfigError(f"WEATHER_DEVICES={raw!r}: give one source named {DEVICE_ID}, ending in ?name=weather")
        url = urls[0]
        filled = {
            "latitude": "" if self.weather_latitude is None else f"{self.weather_latitude:g}",
            "longitude": "" if self.weather_longitude is None else f"{self.weather_longitude:g}",
            "timezone": self.weather_timezone,
            "arrays": self.weather_pv_arrays.replace(",", ";"),
            "interval": f"{self.weather_interval_seconds:g}",
            "timeout": f"{self.weather_timeout:g}",
        }
        options = {**{k: v for k, v in filled.items() if v}, **url.options}
        return url._replace(options=options)

"""Services layer: the house reader's configuration (HOUSE_* plus the shared names).

Per-sensor knobs ride on the device URL (`?name=`, `?title=`, `?offset=`, `?altitude=`,
`?oversampling=`; devices/bme280.py and devices/legacy.py); HOUSE_ALTITUDE is the altitude of
every sensor whose URL does not give one.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from solarstack.core.device_url import DeviceURL, parse_device_list
from solarstack.core.errors import ConfigError
from solarstack.core.settings import CommonSettings

#: The kinds of device the house reader serves (devices/registry.py picks the family).
KINDS = ("house",)


class HouseSettings(CommonSettings):
    house_devices: str = Field(
        "",
        validate_default=True,
        description="sensor URLs, comma-separated, e.g. bme280+i2c://1/0x76?name=living_room&title=Living room"
        " or legacy+mqtt://house/kitchen?name=kitchen",
    )
    house_poll_seconds: float = Field(60.0, gt=0, description="seconds between two readings of each sensor")
    house_altitude: float | None = Field(
        None,
        ge=-500,
        le=9000,
        description="metres above sea level of sensors without ?altitude=: adds their sea-level pressure",
    )
    house_retries: int = Field(3, ge=0, le=10, description="retries of a failed reading, with backoff")

    @field_validator("house_devices")
    @classmethod
    def _devices_given(cls, v: str) -> str:
        if not v.replace(",", "").strip():  # ",,," too: a reader with no device would idle silently
            raise ValueError("no house sensor configured: set a device URL such as bme280+i2c://1/0x76")
        from solarstack.devices import registry

        try:  # every URL built now (nothing is touched): a typo fails here, naming HOUSE_DEVICES
            for url in parse_device_list(v):
                registry.check_kind(url, KINDS)
                registry.open_device(url)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return v

    def urls(self) -> list[DeviceURL]:
        """HOUSE_DEVICES with HOUSE_ALTITUDE as the default `altitude` option."""
        urls = parse_device_list(self.house_devices)
        if self.house_altitude is None:
            return urls
        return [
            u if u.option("altitude") else u._replace(options={**u.options, "altitude": f"{self.house_altitude:g}"})
            for u in urls
        ]

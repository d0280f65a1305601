"""Services layer: the Hoymiles reader's configuration (HOYMILES_* plus the shared names).

HOYMILES_DEVICES lists the DTUs (`hoymiles+tcp://192.168.1.60?name=roof`, port 10081 unless
given). HOYMILES_TIMEOUT and HOYMILES_LIMIT_WRITES_PER_HOUR fill the options a URL does not
give (`timeout=`, `limit_writes=`: devices/hoymiles.py).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from solarstack.core.device_url import DeviceURL, parse_device_list
from solarstack.core.errors import ConfigError
from solarstack.core.settings import CommonSettings

#: The kinds of device the Hoymiles reader serves (devices/registry.py picks the family).
KINDS = ("dtu", "microinverter")
#: Below this interval a DTU's own upload to the Hoymiles cloud may stop (users' reports;
#: newer firmware wants more): the reader warns once.
CLOUD_SAFE_SECONDS = 35.0


class HoymilesSettings(CommonSettings):
    hoymiles_devices: str = Field(
        "",
        validate_default=True,
        description="DTU URLs, comma-separated, e.g. hoymiles+tcp://192.168.1.60?name=roof (port 10081 unless given)",
    )
    hoymiles_interval_seconds: float = Field(
        60.0, gt=0, description="seconds between polls of each DTU (below 35 the DTU's cloud upload may stop)"
    )
    hoymiles_timeout: float = Field(10.0, gt=0, description="seconds to wait for a DTU to connect, and to answer")
    hoymiles_retries: int = Field(2, ge=0, le=10, description="retries of a failed poll, with backoff")
    hoymiles_limit_writes_per_hour: int = Field(
        6, ge=1, le=60, description="power-limit writes allowed per inverter in any hour (each wears the DTU's EEPROM)"
    )

    @field_validator("hoymiles_devices")
    @classmethod
    def _devices_given(cls, v: str) -> str:
        if not v.replace(",", "").strip():
            raise ValueError("no DTU configured: set a device URL such as hoymiles+tcp://192.168.1.60?name=roof")
        from solarstack.devices import registry

        try:  # every URL built now (nothing is touched): a typo fails here, naming HOYMILES_DEVICES
            for url in parse_device_list(v):
                registry.check_kind(url, KINDS)
                registry.open_device(url)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return v

    def urls(self) -> list[DeviceURL]:
        """HOYMILES_DEVICES with the service's timeout and write limit where a URL gives none."""
        filled = {
            "timeout": f"{self.hoymiles_timeout:g}",
            "limit_writes": str(self.hoymiles_limit_writes_per_hour),
        }
        return [u._replace(options={**filled, **u.options}) for u in parse_device_list(self.hoymiles_devices)]

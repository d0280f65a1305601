"""Services layer: the bms reader's configuration (BMS_* plus the shared names).

Per-pack knobs ride on the device URL, so packs on different links can differ:
`?poll=5` seconds between polls (default 5), `?timeout=2` seconds per answer,
`?retries=3` per failed poll, `?keepalive=0` (BLE: disconnect between polls so a phone app can connect).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from solarstack.core.device_url import parse_device_list
from solarstack.core.errors import ConfigError
from solarstack.core.settings import CommonSettings

#: The kinds of device the bms reader serves (devices/registry.py picks the family).
KINDS = ("battery", "shunt")


class BmsSettings(CommonSettings):
    bms_devices: str = Field(
        "",
        validate_default=True,
        description="device URLs, comma-separated, e.g. jk02+ble://C8:47:8C:12:34:56?name=pack1",
    )

    @field_validator("bms_devices")
    @classmethod
    def _devices_given(cls, v: str) -> str:
        if not v.replace(",", "").strip():  # ",,," too: a reader with no device would idle silently
            raise ValueError("no battery configured: set a device URL such as jkserial+serial:///dev/ttyUSB1")
        from solarstack.devices import registry

        try:
            # the URL shapes, unique names and kinds; options are checked as packs are built
            for url in parse_device_list(v):
                registry.check_kind(url, KINDS)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return v

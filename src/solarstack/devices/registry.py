"""Devices layer: which protocol is served by which device module.

Modules are imported lazily so `solarstack query pi30+…` never pays for bleak or
the BMS codecs. Each device module offers `open_device(url, *, timeout) -> Device`.
"""

from __future__ import annotations

import importlib

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ConfigError
from solarstack.devices.base import Device

#: protocol name -> device module
DEVICE_MODULES: dict[str, str] = {
    "pi30": "solarstack.devices.pi30",
    "jkserial": "solarstack.devices.bms",
    "daly": "solarstack.devices.bms",
    "vedirect": "solarstack.devices.bms",
    "jk02": "solarstack.devices.bms_ble",
}


def open_device(url: DeviceURL, *, timeout: float | None = None) -> Device:
    module = DEVICE_MODULES.get(url.protocol)
    if module is None:
        raise ConfigError(
            f"device URL {url.raw!r}: unknown protocol {url.protocol!r}; known: {', '.join(sorted(DEVICE_MODULES))}"
        )
    device: Device = importlib.import_module(module).open_device(url, timeout=timeout)
    return device

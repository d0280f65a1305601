"""Devices layer: which protocol is served by which device module, and what it is.

One row per protocol family: the module that builds its devices and the kinds of
device it makes (core.catalog.DEVICE_KINDS), so a service takes the URLs of its own
kinds without naming a protocol. Modules are imported lazily so `solarstack query
pi30+…` never pays for bleak or the BMS codecs. Each device module offers
`open_device(url, *, timeout, allow_destructive) -> Device`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import NamedTuple

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ConfigError
from solarstack.devices.base import Device


class Family(NamedTuple):
    module: str
    kinds: tuple[str, ...]


#: protocol name -> the device module and the kinds of device it makes
FAMILIES: dict[str, Family] = {
    "pi30": Family("solarstack.devices.pi30", ("inverter",)),
    "pi18": Family("solarstack.devices.pi18", ("inverter",)),
    "pi17": Family("solarstack.devices.pi17", ("inverter",)),
    "pi16": Family("solarstack.devices.pi16", ("inverter",)),
    "pi41": Family("solarstack.devices.pi41", ("inverter",)),
    # any PI family, found by read-only probes and cached under STATE_DIR (devices/detect.py)
    "auto": Family("solarstack.devices.detect", ("inverter",)),
    "jkserial": Family("solarstack.devices.bms", ("battery",)),
    "daly": Family("solarstack.devices.bms", ("battery",)),
    "vedirect": Family("solarstack.devices.bms", ("shunt",)),
    "jk02": Family("solarstack.devices.bms_ble", ("battery",)),
    "bme280": Family("solarstack.devices.bme280", ("house",)),
    "legacy": Family("solarstack.devices.legacy", ("house",)),
    "openmeteo": Family("solarstack.devices.openmeteo", ("weather",)),
    # a Hoymiles DTU with its microinverters (one device each, via_device the DTU)
    "hoymiles": Family("solarstack.devices.hoymiles", ("dtu", "microinverter")),
}


def protocols_for(kinds: tuple[str, ...]) -> list[str]:
    """The protocols whose devices are of one of `kinds` (a service's own)."""
    return [p for p, f in FAMILIES.items() if set(f.kinds) & set(kinds)]


def check_kind(url: DeviceURL, kinds: tuple[str, ...]) -> None:
    """ConfigError (one line) unless `url` names a protocol making one of `kinds`."""
    family = FAMILIES.get(url.protocol)
    if family is None or not set(family.kinds) & set(kinds):
        raise ConfigError(
            f"device URL {url.raw!r}: protocol {url.protocol!r} is not one of {', '.join(protocols_for(kinds))}"
        )


def open_device(
    url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False, state_dir: Path | None = None
) -> Device:
    """The device `url` names (nothing is opened yet, except that an `auto+` URL probes its link
    unless a verdict is cached under `state_dir`)."""
    family = FAMILIES.get(url.protocol)
    if family is None:
        raise ConfigError(
            f"device URL {url.raw!r}: unknown protocol {url.protocol!r}; known: {', '.join(sorted(FAMILIES))}"
        )
    if url.protocol == "auto":
        from solarstack.devices import detect

        return detect.open_device(url, timeout=timeout, allow_destructive=allow_destructive, state_dir=state_dir)
    device: Device = importlib.import_module(family.module).open_device(
        url, timeout=timeout, allow_destructive=allow_destructive
    )
    return device


def check_url(url: DeviceURL) -> None:
    """ConfigError (one line) for a URL that cannot work, with no I/O: what a settings
    validator asks (building a device touches no hardware; an `auto+` URL would probe)."""
    if url.protocol == "auto":
        from solarstack.devices import detect

        detect.check(url)
    else:
        open_device(url).close()

"""Services layer: the inverter reader's configuration (INVERTER_* plus the shared names)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from solarstack.core.device_url import parse_device_list
from solarstack.core.errors import ConfigError
from solarstack.core.settings import CommonSettings

#: The kinds of device the inverter reader serves (devices/registry.py picks the family).
KINDS = ("inverter",)
_SCHEDULE_ITEM = re.compile(r"^[A-Z0-9]+:\d+(\.\d+)?$")


class InverterSettings(CommonSettings):
    inverter_devices: str = Field(
        "",
        validate_default=True,
        description="device URLs, comma-separated, e.g. pi30+serial:///dev/ttyUSB0?name=inverter1",
    )
    inverter_poll_seconds: float = Field(
        10.0, gt=0, description="interval of the live status queries (PI30 QPIGS, QMOD, QPIWS; other families: docs)"
    )
    inverter_slow_poll_seconds: float = Field(
        300.0, gt=0, description="interval of the ratings and flags (PI30 QPIRI, QFLAG; other families: docs)"
    )
    inverter_commands: str = Field(
        "",
        description="override the schedule: COMMAND:seconds, comma-separated (e.g. QPIGS:5,QPIGS2:5,QMOD:10)",
    )
    inverter_timeout: float = Field(3.0, gt=0, description="seconds to wait for one answer")
    inverter_retries: int = Field(3, ge=0, le=10, description="retries of a failed poll, with backoff")
    inverter_breaker_failures: int = Field(
        5, ge=1, description="failed polls in a row that mark the inverter offline (circuit breaker opens)"
    )
    inverter_breaker_reset_seconds: float | None = Field(
        None,
        gt=0,
        description="seconds before an open breaker probes the inverter again (default: at the next live poll)",
    )
    inverter_allow_settings: bool = Field(True, description="accept setting changes over MQTT (allow-listed)")
    inverter_allow_destructive: bool = Field(
        False,
        description="also offer actions that erase the inverter's settings (restore defaults) over MQTT, HA, the web",
    )

    @field_validator("inverter_devices")
    @classmethod
    def _devices_given(cls, v: str) -> str:
        if not v.replace(",", "").strip():  # ",,," too: a reader with no device would idle silently
            raise ValueError("no inverter configured: set a device URL such as pi30+serial:///dev/ttyUSB0")
        # Every URL built now (nothing is opened): a typo fails here, naming INVERTER_DEVICES,
        # not after the first inverter has been identified and logged.
        from solarstack.devices import registry

        try:
            for url in parse_device_list(v):
                registry.check_kind(url, KINDS)
                registry.check_url(url)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("inverter_commands")
    @classmethod
    def _schedule_shape(cls, v: str) -> str:
        for item in filter(None, (i.strip() for i in v.split(","))):
            if not _SCHEDULE_ITEM.match(item):
                raise ValueError(f"{item!r} is not COMMAND:seconds (e.g. QPIGS:10)")
        return v

    def schedule(self) -> list[tuple[str, float]]:
        """INVERTER_COMMANDS as (command, seconds); empty: each device's own default schedule."""
        items = [i.strip().split(":") for i in self.inverter_commands.split(",") if i.strip()]
        return [(c, float(s)) for c, s in items]

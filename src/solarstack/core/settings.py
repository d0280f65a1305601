"""Core layer: configuration from the environment (pydantic-settings).

One model per service, built once at start-up by `load()` and passed down; nothing
reads the environment at import time. Shared names (MQTT_HOST, STATE_DIR, ...) live in
`CommonSettings`; a service model subclasses it and adds fields whose names carry the
service prefix (`inverter_devices` <- INVERTER_DEVICES), so every field name upper-cased
is exactly its environment variable — .env.example is checked against that.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field as PydanticField
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from solarstack.core.errors import ConfigError


class CommonSettings(BaseSettings):
    """Variables every service reads."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_file=None)

    mqtt_host: str = PydanticField("localhost", description="MQTT broker host name")
    mqtt_port: int = PydanticField(1883, ge=1, le=65535, description="MQTT broker port")
    mqtt_username: str | None = PydanticField(None, description="MQTT user name (one per service)")
    mqtt_password: str | None = PydanticField(None, description="MQTT password")
    mqtt_tls: bool = PydanticField(False, description="connect to the broker with TLS")
    mqtt_prefix: str = PydanticField("solarstack", pattern=r"^[A-Za-z0-9_\-/]+$", description="topic prefix")
    ha_discovery: Literal["device", "entity", "off"] = PydanticField(
        "device", description="Home Assistant discovery: device-based, per-entity (older HA) or off"
    )
    ha_discovery_prefix: str = PydanticField("homeassistant", description="HA discovery topic prefix")
    state_dir: Path = PydanticField(Path("./.state"), description="spool and energy counters")
    metrics_port: int = PydanticField(9100, ge=0, le=65535, description="/metrics /health /ready port (0=off)")
    metrics_host: str = PydanticField("0.0.0.0", description="address the metrics port binds to")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = PydanticField("INFO", description="log level")
    log_format: Literal["text", "json"] = PydanticField("text", description="log format")


S = TypeVar("S", bound=BaseSettings)


def load(model: type[S], env: Mapping[str, str] | None = None) -> S:
    """Build a settings model from the environment (or `env`), or raise a one-line ConfigError.

    `env` given: only those variables are read (tests, `solarstack dev`).
    """
    try:
        if env is None:
            return model()
        known = {name.upper() for name in model.model_fields}
        values = {k.lower(): v for k, v in env.items() if k.upper() in known}
        return model.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        var = str(err["loc"][0]).upper() if err["loc"] else model.__name__
        got = err.get("input")
        raise ConfigError(f"{var}={got!r}: {err['msg'].lower()} — fix it in .env or the environment") from None

"""Service layer (web): the web service's configuration, read once at start-up.

Field names upper-cased are the environment variables (WEB_PORT, WEB_API_TOKEN,
PROMETHEUS_URL, ...). This module must not read the environment at import time or
hold any state: `load(WebSettings)` builds it and the app factory receives it.
"""

from __future__ import annotations

from pydantic import Field as PydanticField
from pydantic import SecretStr, ValidationInfo, field_validator

from solarstack.core.settings import CommonSettings


class WebSettings(CommonSettings):
    """Variables the web service reads, on top of the shared MQTT/log ones."""

    web_host: str = PydanticField("0.0.0.0", description="address the web UI binds to")
    web_port: int = PydanticField(8080, ge=1, le=65535, description="web UI port")
    web_threads: int = PydanticField(
        256, ge=4, le=4096, description="gunicorn gthread threads (each open live-stream tab holds one)"
    )
    web_api_token: SecretStr | None = PydanticField(
        None, description="bearer token every command needs (unset: commands need a login session)"
    )
    web_password: SecretStr | None = PydanticField(None, description="password for the login page (unset: no login)")
    web_login_required: bool = PydanticField(
        False, description="require a login to read pages and data too (default: reading is open on the LAN)"
    )
    web_secret_key: SecretStr | None = PydanticField(
        None, description="key that signs login sessions (unset: random per start, logins end on restart)"
    )
    web_command_timeout: float = PydanticField(
        8.0, gt=0, le=60, description="seconds to wait for a reader's read-back of a command"
    )
    web_command_rate: int = PydanticField(20, ge=1, description="commands per minute allowed per client")
    web_login_rate: int = PydanticField(5, ge=1, description="login attempts per minute allowed per client address")
    web_login_account_rate: int = PydanticField(
        30, ge=1, description="login attempts per hour allowed for the account, from all addresses together"
    )
    web_streams: int | None = PydanticField(
        None, ge=1, description="open live streams per worker from all clients (unset: half of WEB_THREADS)"
    )
    web_streams_per_client: int = PydanticField(8, ge=1, description="open live streams per worker per client address")
    web_stale_seconds: float = PydanticField(180.0, gt=0, description="a device with no state for this long is stale")
    web_sse_heartbeat: float = PydanticField(15.0, gt=0, description="seconds between live-stream keep-alives")
    web_history_points: int = PydanticField(
        20000, ge=100, description="points kept per field in memory when no Prometheus is configured"
    )
    prometheus_url: str | None = PydanticField(None, description="Prometheus base URL for history (unset: in memory)")
    tz: str | None = PydanticField(
        None, description="IANA time zone of the energy page's days and months (unset: /etc/localtime, else UTC)"
    )

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        # A misspelt zone must not quietly count days in UTC.
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        name = (value or "").lstrip(":")
        if not name:
            return None
        try:
            ZoneInfo(name)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"{name!r} is not a known time zone (an IANA name such as Europe/Berlin)") from None
        return name

    @field_validator("web_streams")
    @classmethod
    def _streams_leave_threads(cls, value: int | None, info: ValidationInfo) -> int | None:
        # Each open stream holds a worker thread; /api/data and the pages need some left.
        threads = info.data.get("web_threads")
        if value is not None and threads is not None and value > threads - 4:
            raise ValueError(f"must be at most WEB_THREADS - 4 ({threads - 4}): each open stream holds a thread")
        return value

    @property
    def stream_limit(self) -> int:
        """Open live streams one worker takes in total: WEB_STREAMS, or half its threads."""
        return self.web_streams if self.web_streams is not None else self.web_threads // 2

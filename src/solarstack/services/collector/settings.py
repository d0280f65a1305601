"""Services layer: the collector's configuration (INFLUX_*, COLLECTOR_* plus the shared names).

One model, built once by core/runtime.run_from_env and passed down. INFLUX_API picks the
write path: `v2` (/api/v2/write: InfluxDB 2.x, 3 Core, VictoriaMetrics; token, org, bucket)
or `v1` (/write of InfluxDB 1.x; database, user, password). Must not open connections.
"""

from __future__ import annotations

import socket
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from solarstack.core.settings import CommonSettings


class CollectorSettings(CommonSettings):
    influx_url: str = Field("http://localhost:8086", description="InfluxDB (or VictoriaMetrics) base URL")
    influx_api: Literal["v2", "v1"] = Field(
        "v2", description="write path: v2 (/api/v2/write: InfluxDB 2.x/3, VictoriaMetrics) or v1 (/write: InfluxDB 1.x)"
    )
    influx_token: str | None = Field(None, description="v2: API token")
    influx_org: str = Field("solarstack", description="v2: organisation")
    influx_bucket: str = Field("solarstack", description="v2: bucket")
    influx_database: str = Field("solarstack", description="v1: database")
    influx_username: str | None = Field(None, description="v1: user name (empty: no authentication)")
    influx_password: str | None = Field(None, description="v1: password")
    influx_timeout: float = Field(10.0, gt=0, description="seconds to wait for one write")
    collector_shared_group: str = Field(
        "", pattern=r"^[A-Za-z0-9_\-]*$", description="MQTT shared-subscription group (empty: no shared subscription)"
    )
    collector_client_id: str = Field(
        "", description="MQTT client id of the persistent session (empty: solarstack-collector, -<host> in a group)"
    )
    collector_spool_mb: float = Field(256.0, gt=0, description="disk spool bound (MiB) while the sink is unreachable")
    collector_batch_points: int = Field(5000, ge=1, le=100_000, description="most points per write")

    @field_validator("influx_url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError("not an http(s) server address, e.g. http://influxdb:8086")
        return v.rstrip("/")

    def client_id(self) -> str:
        """The fixed id the broker keeps our session under; distinct per member of a group."""
        if self.collector_client_id:
            return self.collector_client_id
        if self.collector_shared_group:
            return f"solarstack-collector-{socket.gethostname()}"
        return "solarstack-collector"

    @property
    def spool_bytes(self) -> int:
        return int(self.collector_spool_mb * 1024 * 1024)

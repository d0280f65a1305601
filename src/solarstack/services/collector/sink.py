"""Services layer: the two write paths into InfluxDB (or VictoriaMetrics) — `V2Sink`, `V1Sink`.

Each takes one body of line protocol (nanosecond timestamps) and either returns once the
server stored it, or raises `SinkError` with a kind for the metrics and whether trying again
can help. Neither retries nor buffers: the collector's writer (pipeline.py) owns batching,
backoff and the disk spool, because only it knows which MQTT messages a write covered and may
acknowledge them.

- v2 (`/api/v2/write`: InfluxDB 2.x, 3 Core, VictoriaMetrics): influxdb-client's WriteApi in
  SYNCHRONOUS mode. Its batching mode is not used: it buffers in memory, retries on its own
  thread and reports success per merged batch, so a SIGKILL would lose what it held and no
  message could be acknowledged against a write — our writer batches the same way instead.
- v1 (`/write` of InfluxDB 1.x and 1.8's compatibility path): influxdb-client has no v1 write
  (its 1.8 support goes through /api/v2/write, which InfluxDB 1.6/1.7 do not have), so this is
  a plain HTTP POST with urllib3 (which influxdb-client uses underneath anyway).

Must not know about MQTT, the spool or the catalogue.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, TimeoutError

from solarstack.services.collector.settings import CollectorSettings


class SinkError(Exception):
    """A write that did not store its points; `kind` labels write_errors_total."""

    def __init__(self, kind: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


class Sink(Protocol):
    url: str

    def write(self, body: bytes) -> None: ...

    def close(self) -> None: ...


def status_error(status: int, text: str) -> SinkError:
    """What an HTTP error status means for the points: wait and retry, or give them up."""
    text = " ".join(text.split())[:300]
    if status in (401, 403):
        return SinkError("auth", f"HTTP {status} (check INFLUX_TOKEN / INFLUX_USERNAME): {text}", retryable=True)
    if status == 404:
        return SinkError("not_found", f"HTTP 404 (database or bucket missing?): {text}", retryable=True)
    if status == 429 or status >= 500:
        return SinkError("server", f"HTTP {status}: {text}", retryable=True)
    # 400/413/422: the server refuses these points (a field's type changed, say); sending them
    # again would block everything behind them for ever
    return SinkError("rejected", f"HTTP {status}: {text}", retryable=False)


def transport_error(exc: Exception) -> SinkError:
    why = " ".join(str(getattr(exc, "reason", None) or exc).split())[:300]
    # NewConnectionError (refused, no route) subclasses ConnectTimeoutError in urllib3 2: test it first
    if not isinstance(exc, NewConnectionError) and (isinstance(exc, TimeoutError) or "timed out" in why.lower()):
        return SinkError("timeout", f"timed out: {why}", retryable=True)
    return SinkError("connection", f"cannot reach it: {why}", retryable=True)


class V1Sink:
    """POST /write?db=…&precision=ns (InfluxDB 1.x)."""

    def __init__(self, settings: CollectorSettings) -> None:
        self.url = settings.influx_url
        self._target = f"{self.url}/write?{urlencode({'db': settings.influx_database, 'precision': 'ns'})}"
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if settings.influx_username:
            self._headers.update(
                urllib3.make_headers(basic_auth=f"{settings.influx_username}:{settings.influx_password or ''}")
            )
        self._http = urllib3.PoolManager(
            maxsize=1,
            retries=False,
            timeout=urllib3.Timeout(connect=min(5.0, settings.influx_timeout), read=settings.influx_timeout),
        )

    def write(self, body: bytes) -> None:
        try:
            response = self._http.request("POST", self._target, body=body, headers=self._headers)
        except HTTPError as exc:
            raise transport_error(exc) from None
        if response.status >= 300:
            raise status_error(response.status, response.data.decode(errors="replace"))

    def close(self) -> None:
        self._http.clear()


class V2Sink:
    """influxdb-client's synchronous WriteApi (/api/v2/write)."""

    def __init__(self, settings: CollectorSettings) -> None:
        # imported here: the library (and reactivex under it) is only loaded by a v2 collector
        from influxdb_client import InfluxDBClient  # type: ignore[attr-defined]
        from influxdb_client.client.write_api import SYNCHRONOUS
        from influxdb_client.domain.write_precision import WritePrecision

        self.url = settings.influx_url
        self._bucket = settings.influx_bucket
        self._org = settings.influx_org
        self._client = InfluxDBClient(
            url=settings.influx_url,
            token=settings.influx_token or "",
            org=settings.influx_org,
            timeout=int(settings.influx_timeout * 1000),
            retries=False,
            enable_gzip=False,
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        self._precision = WritePrecision.NS

    def write(self, body: bytes) -> None:
        from influxdb_client.rest import ApiException

        try:
            self._api.write(bucket=self._bucket, org=self._org, record=body, write_precision=self._precision)  # type: ignore[arg-type]  # its NS is a plain str
        except ApiException as exc:
            raise status_error(int(exc.status or 0), str(exc.body or exc.reason or "")) from None
        except HTTPError as exc:
            raise transport_error(exc) from None

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]


def open_sink(settings: CollectorSettings) -> Sink:
    return V1Sink(settings) if settings.influx_api == "v1" else V2Sink(settings)

"""Services layer: the two write paths into InfluxDB (or VictoriaMetrics) — `V2Sink`, `V1Sink`.

Each takes one body of line protocol (nanosecond timestamps) and either returns once the
server stored it, or raises `SinkError` with a kind for the metrics and whether trying again
can help. Neither retries nor buffers: the collector's writer (pipeline.py) owns batching,
backoff and the disk spool, because only it knows which MQTT messages a write covered and may
acknowledge them.

- v2 (`POST /api/v2/write?org=…&bucket=…&precision=ns`, `Authorization: Token …`: InfluxDB
  2.x, 3 Core, VictoriaMetrics);
- v1 (`POST /write?db=…&precision=ns`, optional basic auth: InfluxDB 1.x and 1.8's
  compatibility path).

Both are one urllib3 POST (`_HttpSink`). Why not influxdb-client for v2: all the collector
needs of it is that one request, since its batching mode cannot be used (it buffers in memory
and retries on its own thread, so a SIGKILL would lose what it held and no message could be
acknowledged against a write), and it has no v1 write at all (its 1.8 support goes through
/api/v2/write, which 1.6/1.7 lack). Importing it (with reactivex, dateutil, multiprocessing)
made the collector the largest of our readers-and-collector containers on a Pi: 43 MB PSS,
where a reader is 29.

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


class _HttpSink:
    """One POST of line protocol to `target` with `headers`, through a one-connection pool."""

    def __init__(self, settings: CollectorSettings, target: str, headers: dict[str, str]) -> None:
        self.url = settings.influx_url
        self._target = target
        self._headers = {"Content-Type": "text/plain; charset=utf-8", **headers}
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


class V1Sink(_HttpSink):
    """POST /write?db=…&precision=ns (InfluxDB 1.x)."""

    def __init__(self, settings: CollectorSettings) -> None:
        query = urlencode({"db": settings.influx_database, "precision": "ns"})
        headers: dict[str, str] = {}
        if settings.influx_username:
            headers = urllib3.make_headers(basic_auth=f"{settings.influx_username}:{settings.influx_password or ''}")
        super().__init__(settings, f"{settings.influx_url}/write?{query}", headers)


class V2Sink(_HttpSink):
    """POST /api/v2/write?org=…&bucket=…&precision=ns with the token (InfluxDB 2.x, 3, VictoriaMetrics)."""

    def __init__(self, settings: CollectorSettings) -> None:
        query = urlencode({"org": settings.influx_org, "bucket": settings.influx_bucket, "precision": "ns"})
        headers = {"Authorization": f"Token {settings.influx_token}"} if settings.influx_token else {}
        super().__init__(settings, f"{settings.influx_url}/api/v2/write?{query}", headers)


def open_sink(settings: CollectorSettings) -> Sink:
    return V1Sink(settings) if settings.influx_api == "v1" else V2Sink(settings)

"""Core layer: `/health`, `/ready` and `/metrics` over HTTP on METRICS_PORT.

- `/health`: the process is alive and its event loop answers — 200 JSON;
- `/ready`: the service's own readiness check (for a reader: connected to MQTT and at
  least one device answered) — 200 JSON, or 503 JSON with the reason;
- `/metrics`: the Prometheus exposition of the CollectorRegistry passed in (never the
  global default registry).

`HealthServer` runs on the reader's asyncio loop (asyncio.start_server), so no thread
is added; it speaks just enough HTTP/1.1 for Prometheus, container healthchecks and
curl (GET/HEAD, one request per connection). A port it cannot bind is a ConfigError that
names METRICS_PORT / METRICS_HOST; `check_listen()` finds that before a service builds
anything.

Must not decide readiness itself or touch devices/MQTT: it only calls what it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from solarstack.core.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reason: str = ""


ReadyCheck = Callable[[], Readiness]

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
_MAX_REQUEST_LINE = 8192


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str
    body: bytes


def route(path: str, service: str, started: float, ready: ReadyCheck, registry: CollectorRegistry) -> Response:
    """The answer for one GET path (shared by the asyncio server and the WSGI app)."""
    path = path.split("?", 1)[0]
    if path == "/health":
        return _json(200, {"status": "ok", "service": service, "uptime_seconds": round(time.monotonic() - started, 3)})
    if path == "/ready":
        try:
            state = ready()
        except Exception as exc:  # a broken check must answer "not ready", not kill the server
            log.exception("readiness check failed")
            state = Readiness(False, f"readiness check failed: {exc}")
        body = {"ready": state.ready, "service": service}
        if state.reason:
            body["reason"] = state.reason
        return _json(200 if state.ready else 503, body)
    if path == "/metrics":
        return Response(200, CONTENT_TYPE_LATEST, generate_latest(registry))
    return _json(404, {"error": f"no route {path}", "routes": ["/health", "/ready", "/metrics"]})


def bind_error(host: str, port: int, exc: OSError | ValueError) -> ConfigError:
    """One line that says which of METRICS_HOST / METRICS_PORT to change, and to what."""
    where = f"METRICS_HOST={host!r} METRICS_PORT={port}"
    if isinstance(exc, ValueError):  # UnicodeError: a name IDNA cannot encode
        return ConfigError(f"METRICS_HOST={host!r} is not a host name ({exc}): use 0.0.0.0, 127.0.0.1 or a name")
    if isinstance(exc, socket.gaierror):
        return ConfigError(
            f"METRICS_HOST={host!r} is not a known host name ({exc.strerror}): "
            "use 0.0.0.0 (all interfaces), 127.0.0.1 or an address of this machine"
        )
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(
            f"METRICS_PORT={port} is already in use on {host}: choose a free port, or 0 to turn /metrics off"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError(
            f"METRICS_HOST={host!r} is not an address of this machine: "
            "use 0.0.0.0 (all interfaces), 127.0.0.1 or one of its own addresses"
        )
    if exc.errno == errno.EACCES:
        return ConfigError(f"{where}: permission denied (ports below 1024 need privileges): choose a port above 1023")
    return ConfigError(f"{where}: cannot listen there ({exc.strerror or exc}): change METRICS_HOST or METRICS_PORT")


def check_listen(host: str, port: int) -> None:
    """Bind (and release at once) every address `host` resolves to, as `HealthServer.start()`
    will: a port in use or a foreign address is found at start, before devices or MQTT, as
    one ConfigError line."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _name, address in infos:
            with socket.socket(family, kind, proto) as sock:
                # as asyncio.start_server does, so a port in TIME_WAIT passes here and there
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
    except (OSError, ValueError) as exc:
        raise bind_error(host, port, exc) from None


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status, "application/json", json.dumps(body).encode())


class HealthServer:
    """The three routes on the running asyncio loop: `await start()`, `await stop()`."""

    def __init__(
        self, registry: CollectorRegistry, ready: ReadyCheck, *, service: str, host: str = "0.0.0.0", port: int = 9100
    ) -> None:
        self.registry = registry
        self.ready = ready
        self.service = service
        self.host = host
        self.port = port
        self._started = time.monotonic()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0). ConfigError if it cannot."""
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except (OSError, ValueError) as exc:  # taken since check_listen(), or never checked
            raise bind_error(self.host, self.port, exc) from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("health and metrics on http://%s:%d/{health,ready,metrics}", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            response, head_only = await asyncio.wait_for(self._read_request(reader), 10)
            status_line = f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Error')}\r\n"
            headers = (
                f"Content-Type: {response.content_type}\r\n"
                f"Content-Length: {len(response.body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write((status_line + headers).encode() + (b"" if head_only else response.body))
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a scanner or a client that hung up: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[Response, bool]:
        request_line = (await reader.readline())[:_MAX_REQUEST_LINE].decode("latin-1").split()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass  # headers are not needed
        if len(request_line) != 3:
            return _json(400, {"error": "bad request"}), False
        method, target, _version = request_line
        if method not in ("GET", "HEAD"):
            return _json(405, {"error": f"{method} not allowed"}), False
        return route(target, self.service, self._started, self.ready, self.registry), method == "HEAD"

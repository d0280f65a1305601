"""Service layer (web): how many live streams (`GET /api/stream`) one worker keeps open.

Each open stream holds one of the worker's gthread threads for as long as it lasts, so
without a cap a single LAN host opening a few hundred streams leaves no thread for
`/api/data` or the pages (issue 8). `StreamGate` is WSGI middleware in front of Flask:
it admits a stream only while the worker has fewer than `total` open and the client
address fewer than `per_client`, and otherwise answers 503 with Retry-After at once —
a few microseconds, before Flask, so even a flood of refused attempts costs the thread
pool next to nothing. `total` is kept below the thread pool by WebSettings, so the API
always has threads. The count is per worker process (each has its own thread pool).

This module must not read the store or know what a stream carries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from solarstack.services.web.auth import SECURITY_HEADERS

PATH = "/api/stream"
RETRY_AFTER_SECONDS = 10


class StreamGate:
    """Counts open streams per client address and in total; refuses beyond either cap."""

    def __init__(
        self,
        inner: Callable[..., Iterable[bytes]],
        total: int,
        per_client: int,
        on_refuse: Callable[[], None] = lambda: None,
    ) -> None:
        self._inner = inner
        self.total = total
        self.per_client = per_client
        self._on_refuse = on_refuse  # a metrics counter
        self._lock = threading.Lock()
        self._open = 0
        self._by_client: dict[str, int] = {}  # only addresses with a stream open: bounded by `total`

    @property
    def open(self) -> int:
        return self._open

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self._inner(environ, start_response)
        client = environ.get("REMOTE_ADDR") or "unknown"
        with self._lock:
            mine = self._by_client.get(client, 0)
            admitted = self._open < self.total and mine < self.per_client
            if admitted:
                self._open += 1
                self._by_client[client] = mine + 1
        if not admitted:
            self._on_refuse()
            return self._refuse(start_response)
        try:
            body = self._inner(environ, start_response)
        except BaseException:
            self._release(client)
            raise
        return _Closing(body, lambda: self._release(client))

    def _release(self, client: str) -> None:
        with self._lock:
            self._open -= 1
            left = self._by_client.get(client, 1) - 1
            if left > 0:
                self._by_client[client] = left
            else:
                self._by_client.pop(client, None)

    def _refuse(self, start_response: Callable[..., Any]) -> list[bytes]:
        body = b'{"error":"too many live streams open; try again later"}'
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Retry-After", str(RETRY_AFTER_SECONDS)),
            ("Cache-Control", "no-store"),
            *SECURITY_HEADERS,
        ]
        start_response("503 Service Unavailable", headers)
        return [body]


class _Closing:
    """The stream's response iterable, calling `release` once when the server closes it."""

    def __init__(self, body: Iterable[bytes], release: Callable[[], None]) -> None:
        self._body = body
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()

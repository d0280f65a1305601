"""Transports layer: the one interface every byte link implements.

Blocking and small on purpose: a transport moves bytes and enforces timeouts; it
knows nothing about frames (the device layer asks the protocol where a frame ends).
Readers call it from a worker thread (asyncio.to_thread). Must not import protocols/.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Transport(Protocol):
    """A byte link to one device.

    - `open()` connects (idempotent) or raises TransportError;
    - `write(data)` sends everything or raises TransportError;
    - `read(timeout)` returns the bytes that arrived within `timeout` seconds — at least
      one byte, or b"" when nothing came — and raises TransportError if the link died;
    - `reset_input()` drops stale bytes (a late answer to an earlier request);
    - `close()` releases the file descriptor / socket (idempotent, never raises).
    """

    @property
    def is_open(self) -> bool: ...

    def open(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def read(self, timeout: float) -> bytes: ...

    def reset_input(self) -> None: ...

    def close(self) -> None: ...

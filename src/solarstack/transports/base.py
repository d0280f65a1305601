"""Transports layer: the one interface every byte link implements.

Blocking and small on purpose: a transport moves bytes and enforces timeouts; it
knows nothing about frames (the device layer asks the protocol where a frame ends).
Readers call it from a worker thread (asyncio.to_thread). Must not import protocols/.
"""

from __future__ import annotations

import termios
from typing import Protocol, runtime_checkable

#: What the OS and the libraries under a transport raise when the link dies beneath it.
#: `termios.error` is NOT an OSError (tcflush / tcsetattr on a hung-up tty raise it), and a
#: port or file closed under us raises ValueError — catching only OSError left a dead
#: descriptor open for good, failing with EIO after the device came back (issue 8, item 4).
#: pyserial's SerialException is an OSError.
LINK_ERRORS: tuple[type[Exception], ...] = (OSError, termios.error, ValueError)


@runtime_checkable
class Transport(Protocol):
    """A byte link to one device.

    - `open()` connects (idempotent) or raises TransportError;
    - `write(data)` sends everything or raises TransportError;
    - `read(timeout)` returns the bytes that arrived within `timeout` seconds — at least
      one byte, or b"" when nothing came — and raises TransportError if the link died;
    - `reset_input()` drops stale bytes (a late answer to an earlier request);
    - `close()` releases the file descriptor / socket (idempotent, never raises).

    Whatever the OS or a library raises in `open`/`write`/`read`/`reset_input`
    (`LINK_ERRORS`) leaves as TransportError, and a failed `write`/`read`/`reset_input`
    closes the link first: the caller's next `open()` reopens it (a replugged adapter,
    a restarted bridge) instead of reusing a dead descriptor.
    """

    @property
    def is_open(self) -> bool: ...

    def open(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def read(self, timeout: float) -> bytes: ...

    def reset_input(self) -> None: ...

    def close(self) -> None: ...

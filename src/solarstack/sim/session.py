"""Simulators: what one simulated device supplies to the stream server — a `Session`.

A session is one conversation with one client: bytes in, replies out, optional
unsolicited output (VE.Direct's one block a second), and how this protocol looks when
a fault hits it (a broken checksum, its NAK, line noise). stream.py runs sessions over
ptys and TCP; this module must not do I/O.
"""

from __future__ import annotations

import random
from typing import Protocol


class Session(Protocol):
    """One conversation with one client; buffers partial requests itself."""

    def feed(self, data: bytes) -> list[bytes]:
        """Bytes from the client; returns the replies to send (maybe none yet)."""
        ...

    def tick(self, now: float) -> list[bytes]:
        """Called every `tick` seconds when the server has one: unsolicited output."""
        ...

    def corrupt(self, reply: bytes) -> bytes:
        """The reply with its checksum broken (fault `crc`)."""
        ...

    def nak(self) -> bytes | None:
        """The protocol's refusal (fault `nak`); None if it has none (then: silence)."""
        ...

    def garbage(self, rng: random.Random) -> bytes:
        """Line noise (fault `garbage`)."""
        ...


class BaseSession:
    """Defaults for the optional parts of `Session`."""

    def feed(self, data: bytes) -> list[bytes]:
        return []

    def tick(self, now: float) -> list[bytes]:
        return []

    def corrupt(self, reply: bytes) -> bytes:
        # Flip the lowest bit of a byte in the middle: inside the payload for any framing
        # with a header and a trailing checksum, so the frame still ends where it should.
        if not reply:
            return reply
        i = len(reply) // 2
        return reply[:i] + bytes([reply[i] ^ 0x01]) + reply[i + 1 :]

    def nak(self) -> bytes | None:
        return None

    def garbage(self, rng: random.Random) -> bytes:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(4, 24)))

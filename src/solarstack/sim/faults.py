"""Simulators: which faults hit the next replies — armed for N replies, always, or at a rate.

`Faults` is thread-safe (the control port and tests arm faults while the stream server's
thread takes them); `parse_fault` reads the command line's and the control port's
`crc`, `crc:3`, `crc:always`, `crc@0.02`. What a fault does to the bytes is the
session's (session.py) and the stream server's (stream.py) business, not this module's.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from enum import StrEnum


class Fault(StrEnum):
    CRC = "crc"  # checksum no longer matches
    NAK = "nak"  # the device refuses
    SILENCE = "silence"  # no reply at all
    GARBAGE = "garbage"  # line noise instead of a reply
    DISCONNECT = "disconnect"  # the link drops (TCP close; pty hang-up and a new pty behind the same link)


@dataclass(frozen=True)
class Rate:
    """A fault that hits each reply with this probability (`crc@0.02`: a flaky cable)."""

    probability: float


class Faults:
    """Which faults are armed: for the next N replies, always, or at a rate (thread-safe)."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._armed: dict[Fault, int | Rate | None] = {}
        self._rng = random.Random(seed)  # seeded: a demo's "random" faults repeat

    def arm(self, fault: Fault, count: int | Rate | None = 1) -> None:
        with self._lock:
            if count == 0 or count == Rate(0.0):
                self._armed.pop(fault, None)
            else:
                self._armed[fault] = count

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self) -> Fault | None:
        """The fault for this reply (first that applies, in declaration order), consuming one use."""
        with self._lock:
            for fault in Fault:
                if fault not in self._armed:
                    continue
                left = self._armed[fault]
                if isinstance(left, Rate):
                    if self._rng.random() < left.probability:
                        return fault
                    continue
                if left is not None:
                    if left <= 1:
                        del self._armed[fault]
                    else:
                        self._armed[fault] = left - 1
                return fault
            return None

    def describe(self) -> str:
        def one(n: int | Rate | None) -> str:
            return "always" if n is None else f"@{n.probability:g}" if isinstance(n, Rate) else str(n)

        with self._lock:
            return ",".join(f"{f}:{one(n)}" for f, n in self._armed.items()) or "none"


def parse_fault(text: str) -> tuple[Fault, int | Rate | None]:
    """`crc` or `crc:always` (every reply), `crc:3` (the next three), `crc@0.02` (2 % of replies)."""
    name, sep, probability = text.partition("@")
    name, _, count = name.partition(":")
    try:
        fault = Fault(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown fault {name!r}; choose from {', '.join(f.value for f in Fault)}") from None
    if sep:
        try:
            p = float(probability)
        except ValueError:
            p = -1.0
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"fault rate {probability!r} must be a probability from 0 to 1")
        return fault, Rate(p)
    if not count or count == "always":
        return fault, None
    if not count.isdigit():
        raise ValueError(f"fault count {count!r} must be a whole number or 'always'")
    return fault, int(count)

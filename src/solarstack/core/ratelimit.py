"""Core layer: a token bucket — how many commands a device takes, and how fast.

A device link is slow (2400 baud: a setting write and its read-back take a second or
more) and shared with the polls. The bucket lets a short burst through (a user
clicking through the settings console) and then one command per `1 / rate` seconds;
anything beyond is refused at once ("busy") instead of queueing for minutes.

Pure: the clock is injected; no I/O, no threads (one event loop calls it).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`burst` tokens at most, refilled at `rate` tokens a second."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        """Spend one token if there is one; False means "busy, try later"."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def retry_after(self) -> float:
        """Seconds until the next token (0 when one is there now)."""
        return max(0.0, (1.0 - self._tokens) / self.rate)

"""Service layer (web): the login limiter, shared by every gunicorn worker.

A login attempt is tried only if two token buckets both hold a token: one for the client
address (WEB_LOGIN_RATE a minute) and one for the account (WEB_LOGIN_ACCOUNT_RATE an hour,
from all addresses together) — so an attacker cycling source addresses is still held to
the account's rate. The buckets live in one small sqlite file under STATE_DIR that every
worker opens; a write transaction (`BEGIN IMMEDIATE`) serialises them, no server needed.

Bounded: a refused attempt writes nothing, and an address whose bucket has filled up
again is deleted (a full bucket and no row mean the same), so the file holds at most the
addresses let through within one refill window — which the account bucket bounds. A
flood of addresses can neither grow the file nor push the account out of it. The price:
while the account is being hammered, its owner's logins are refused too (the API token
still works). On a storage error an attempt is refused (fail closed).

This module must not know Flask or HTTP, and holds no module state.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from solarstack.core.errors import ConfigError

log = logging.getLogger(__name__)

FILENAME = "web-logins.sqlite3"


class Rate(NamedTuple):
    """A token bucket: `burst` tokens at most, refilled at `per_second`."""

    burst: float
    per_second: float

    @property
    def refill_seconds(self) -> float:
        """From empty to full: after this long without attempts the bucket is as if new."""
        return self.burst / self.per_second

    def level(self, row: tuple[float, float] | None, now: float) -> float:
        if row is None:
            return self.burst
        tokens, updated = row
        return min(self.burst, tokens + max(0.0, now - updated) * self.per_second)


class LoginLimiter:
    """`allow(address, account)`: may this attempt be tried? (see the module doc)"""

    def __init__(
        self, path: Path, per_address: Rate, per_account: Rate, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.per_address = per_address
        self.per_account = per_account
        self._clock = clock
        self._lock = threading.Lock()  # one connection per process, used by every request thread
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated REAL NOT NULL)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"STATE_DIR: cannot keep the login limiter in {path} ({exc}); make it writable") from None

    @classmethod
    def per_minute_and_hour(cls, state_dir: Path, per_minute: int, per_hour: int) -> LoginLimiter:
        """WEB_LOGIN_RATE per address a minute (bursts of as many), WEB_LOGIN_ACCOUNT_RATE per
        account an hour (bursts of a third of it)."""
        return cls(
            state_dir / FILENAME,
            per_address=Rate(float(per_minute), per_minute / 60.0),
            per_account=Rate(float(max(1, per_hour // 3)), per_hour / 3600.0),
        )

    def allow(self, address: str, account: str) -> bool:
        now = self._clock()
        buckets = ((f"address:{address}", self.per_address), (f"account:{account}", self.per_account))
        with self._lock:
            try:
                return self._take(buckets, now)
            except sqlite3.Error as exc:
                log.error("login limiter (%s) failed, attempt refused: %s", self.path, exc)
                return False

    def _take(self, buckets: tuple[tuple[str, Rate], ...], now: float) -> bool:
        db = self._db
        db.execute("BEGIN IMMEDIATE")  # the other workers wait here (busy timeout), not race
        try:
            levels = []
            for key, rate in buckets:
                row = db.execute("SELECT tokens, updated FROM buckets WHERE key = ?", (key,)).fetchone()
                levels.append(rate.level(row, now))
            if any(level < 1.0 for level in levels):
                db.execute("ROLLBACK")
                return False
            for (key, _), level in zip(buckets, levels, strict=True):
                db.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?)", (key, level - 1.0, now))
            db.execute(
                "DELETE FROM buckets WHERE key LIKE 'address:%' AND updated < ?",
                (now - self.per_address.refill_seconds,),
            )
            db.execute("COMMIT")
            return True
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def rows(self) -> int:
        """How many buckets the file holds (for tests and metrics)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM buckets").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

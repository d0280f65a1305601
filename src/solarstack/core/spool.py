"""Core layer: a bounded on-disk FIFO of MQTT messages waiting for the broker.

Readers put messages here while the broker is unreachable; the MQTT client replays
them in order once it is back and deletes each batch after the broker acknowledged it.
The payload is stored as given, so the `ts` inside a reading's JSON is the time the
device answered, not the time of replay.

Why sqlite3 (stdlib): one file, atomic appends and deletes, ordered by an
AUTOINCREMENT id that never repeats (so order survives partial deletes and restarts),
and it tolerates a process killed mid-write. WAL journal with synchronous=NORMAL
means a commit appends to the WAL without an fsync; fsyncs happen only at checkpoints
(batched, every `checkpoint_pages` pages) — a committed message survives a process
crash, and an SD card sees few syncs. Beyond `max_messages` the OLDEST are dropped
and counted: fresh data matters more than week-old data after a long outage.

The database is opened on first use (or at start when a spool file is already there):
a reader whose broker never goes away never loads sqlite3 (~1 MB of a 40 MB budget).

Thread-safe (one lock around one connection). Must not know about MQTT or readings.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class SpooledMessage:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Spool:
    """FIFO of messages in `path` (a sqlite file; None = in memory, lost on exit)."""

    def __init__(self, path: Path | None, max_messages: int = 100_000, *, checkpoint_pages: int = 1000) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.path = path
        self.max_messages = max_messages
        self._checkpoint_pages = checkpoint_pages
        self._lock = threading.Lock()
        self._dropped = 0
        self._db: sqlite3.Connection | None = None
        self._depth = 0
        if path is not None and path.exists():  # a previous run left messages, maybe
            self._depth = int(self._open().execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            import sqlite3

            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: publishers and paho's network thread share it under _lock
            db = sqlite3.connect(str(self.path or ":memory:"), check_same_thread=False, isolation_level=None)
            if self.path is not None:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(f"PRAGMA wal_autocheckpoint={int(self._checkpoint_pages)}")
            db.execute(_SCHEMA)
            self._db = db
        return self._db

    @property
    def depth(self) -> int:
        """Messages waiting."""
        return self._depth

    @property
    def dropped(self) -> int:
        """Oldest messages dropped to stay within `max_messages`, since this process started."""
        return self._dropped

    def append(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        with self._lock:
            db = self._open()
            db.execute("BEGIN")
            db.execute(
                "INSERT INTO spool (topic, payload, qos, retain) VALUES (?, ?, ?, ?)",
                (topic, payload, qos, int(retain)),
            )
            excess = self._depth + 1 - self.max_messages
            if excess > 0:
                db.execute(
                    "DELETE FROM spool WHERE id IN (SELECT id FROM spool ORDER BY id LIMIT ?)",
                    (excess,),
                )
                self._dropped += excess
            db.execute("COMMIT")
            self._depth = self._depth + 1 - max(excess, 0)

    def peek(self, limit: int) -> list[SpooledMessage]:
        """The oldest `limit` messages, oldest first; they stay until `delete()`."""
        with self._lock:
            if self._db is None:
                return []
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain FROM spool ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [SpooledMessage(int(r[0]), str(r[1]), bytes(r[2]), int(r[3]), bool(r[4])) for r in rows]

    def delete(self, ids: list[int]) -> None:
        """Remove delivered messages (ids already gone, e.g. dropped meanwhile, are ignored)."""
        if not ids:
            return
        with self._lock:
            if self._db is None:
                return
            self._db.execute("BEGIN")
            cur = self._db.executemany("DELETE FROM spool WHERE id = ?", [(i,) for i in ids])
            self._db.execute("COMMIT")
            self._depth -= max(cur.rowcount, 0)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

"""Services layer: the collector's disk spool — batches of points waiting for the sink.

While the sink cannot be reached, each batch of line protocol goes here (and only then is its
MQTT message acknowledged); it is replayed oldest first once the sink answers, and a row is
deleted only after the sink took it. Bounded in bytes (COLLECTOR_SPOOL_MB): beyond it the
OLDEST batches are dropped and counted — after a long outage fresh data matters more.

Why not core/spool.py: that spool holds MQTT messages (topic, qos, retain) and is bounded by
a count; this one holds points and must know its size in bytes and in points. The storage
choice is the same and for the same reasons: sqlite3, WAL, synchronous=NORMAL — a committed
batch survives a killed process, and an SD card sees few fsyncs.

Used from one thread at a time (the collector's writer). Must not know about MQTT or HTTP.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import NamedTuple

_SCHEMA = """
CREATE TABLE IF NOT EXISTS backlog (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    points INTEGER NOT NULL,
    body BLOB NOT NULL
)
"""


class Batch(NamedTuple):
    id: int
    points: int
    body: bytes  # line protocol, newline-separated


class Backlog:
    """FIFO of line-protocol batches in the sqlite file `path`, at most `max_bytes` of them."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        rows, points, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(points), 0), COALESCE(SUM(LENGTH(body)), 0) FROM backlog"
        ).fetchone()
        self.batches, self.points, self.bytes = int(rows), int(points), int(size)
        self.dropped_points = 0

    def __bool__(self) -> bool:
        return self.batches > 0

    def append(self, body: bytes, points: int) -> None:
        """Store one batch (committed when this returns), dropping the oldest beyond the bound."""
        db = self._db
        db.execute("BEGIN")
        try:
            newest = db.execute("INSERT INTO backlog (points, body) VALUES (?, ?)", (points, body)).lastrowid
            size = self.bytes + len(body)
            dropped: list[tuple[int, int, int]] = []
            if size > self.max_bytes:
                # the oldest rows until we fit, never the one just written
                for row_id, n, length in db.execute("SELECT id, points, LENGTH(body) FROM backlog ORDER BY id"):
                    if size <= self.max_bytes or row_id == newest:
                        break
                    dropped.append((row_id, n, length))
                    size -= length
                db.executemany("DELETE FROM backlog WHERE id = ?", [(d[0],) for d in dropped])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        gone = sum(d[1] for d in dropped)
        self.batches += 1 - len(dropped)
        self.points += points - gone
        self.bytes = size
        self.dropped_points += gone

    def peek(self, max_bytes: int) -> list[Batch]:
        """The oldest batches, oldest first, up to about `max_bytes` (at least one)."""
        out: list[Batch] = []
        total = 0
        for row_id, points, body in self._db.execute("SELECT id, points, body FROM backlog ORDER BY id LIMIT 1000"):
            if out and total + len(body) > max_bytes:
                break
            out.append(Batch(int(row_id), int(points), bytes(body)))
            total += len(body)
        return out

    def delete(self, batches: list[Batch]) -> None:
        if not batches:
            return
        self._db.executemany("DELETE FROM backlog WHERE id = ?", [(b.id,) for b in batches])
        self.batches -= len(batches)
        self.points -= sum(b.points for b in batches)
        self.bytes -= sum(len(b.body) for b in batches)

    def close(self) -> None:
        self._db.close()

"""Spool: FIFO order, bound drops oldest, survives reopening (a process restart)."""

from __future__ import annotations

from pathlib import Path

from solarstack.core.spool import Spool


def test_fifo_order_and_delete(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    for i in range(5):
        spool.append("t", f"m{i}".encode(), 1, False)
    first = spool.peek(3)
    assert [m.payload for m in first] == [b"m0", b"m1", b"m2"]
    spool.delete([m.id for m in first])
    assert spool.depth == 2
    assert [m.payload for m in spool.peek(10)] == [b"m3", b"m4"]
    spool.close()


def test_bound_drops_oldest_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3", max_messages=5)
    for i in range(8):
        spool.append("t", f"m{i}".encode(), 1, i % 2 == 0)
    assert spool.depth == 5
    assert spool.dropped == 3
    kept = spool.peek(10)
    assert [m.payload for m in kept] == [b"m3", b"m4", b"m5", b"m6", b"m7"]
    assert [m.retain for m in kept] == [False, True, False, True, False]
    spool.close()


def test_survives_reopen_and_keeps_order_after_partial_delete(tmp_path: Path) -> None:
    path = tmp_path / "spool" / "client.sqlite3"
    spool = Spool(path)
    for i in range(4):
        spool.append("a/b", f'{{"ts": "2026-01-01T00:00:0{i}Z"}}'.encode(), 1, False)
    spool.delete([spool.peek(1)[0].id])
    spool.close()

    again = Spool(path)
    assert again.depth == 3
    again.append("a/b", b"new", 0, False)
    assert [m.payload for m in again.peek(10)] == [
        b'{"ts": "2026-01-01T00:00:01Z"}',
        b'{"ts": "2026-01-01T00:00:02Z"}',
        b'{"ts": "2026-01-01T00:00:03Z"}',
        b"new",
    ]
    again.close()


def test_memory_spool_when_no_path() -> None:
    spool = Spool(None, max_messages=2)
    spool.append("t", b"1")
    spool.append("t", b"2")
    spool.append("t", b"3")
    assert [m.payload for m in spool.peek(5)] == [b"2", b"3"]
    assert spool.dropped == 1
    spool.close()

"""The collector's pure parts: a state to a line-protocol point (points.py), and the disk spool's
order, bound and survival of a reopen (backlog.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from solarstack.services.collector.backlog import Backlog
from solarstack.services.collector.points import BadState, LineFormatter, timestamp_ns


def test_a_state_becomes_one_point_with_floats_flattened_arrays_and_its_own_time() -> None:
    payload = (
        b'{"ts": "2026-03-01T12:00:00.123456Z", "power": 1500, "volts": 52.25, "on": true, "off": false,'
        b' "mode": "say \\"hi\\"", "cell": [3.3, 3.31, null], "gone": null, "nested": {"a": 1}}'
    )
    point = LineFormatter().point("battery", "pack1", payload)
    assert point.line == (
        'battery,device=pack1 power=1500.0,volts=52.25,on=true,off=false,mode="say \\"hi\\"",'
        "cell_01=3.3,cell_02=3.31 1772366400123456000"
    )
    assert point.fields == 7 and point.ts == pytest.approx(1772366400.123456)


def test_wide_arrays_are_numbered_to_their_width_and_names_are_escaped() -> None:
    values = ",".join(["1"] * 120)
    line = LineFormatter().point("my kind", "a,b", f'{{"ts": "2026-01-01T00:00:00+00:00", "v": [{values}]}}'.encode())
    assert line.line.startswith("my\\ kind,device=a\\,b v_001=1.0,")
    assert "v_120=1.0 " in line.line


def test_the_same_message_always_gives_the_same_series_and_time() -> None:
    """Idempotent on (device, ts): a redelivered message overwrites its point, never doubles it."""
    payload = b'{"ts": "2026-03-01T12:00:00Z", "p": 1}'
    assert LineFormatter().point("inverter", "inv", payload) == LineFormatter().point("inverter", "inv", payload)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"nope", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"p": 1}', "no ts"),
        (b'{"ts": "yesterday", "p": 1}', "not an ISO-8601 time"),
        (b'{"ts": "2026-03-01T12:00:00", "p": 1}', "no time zone"),
        (b'{"ts": "2026-03-01T12:00:00Z", "p": null}', "no field"),
    ],
)
def test_states_that_cannot_be_points_say_why(payload: bytes, why: str) -> None:
    with pytest.raises(BadState, match=why):
        LineFormatter().point("inverter", "inv", payload)


def test_timestamps_are_exact_nanoseconds() -> None:
    assert timestamp_ns("1970-01-01T00:00:00.000001Z") == 1000
    assert timestamp_ns("2026-03-01T13:00:00.5+01:00") == 1772366400_500_000_000


def test_backlog_is_fifo_bounded_by_bytes_and_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    backlog = Backlog(path, max_bytes=250)
    for i in range(5):
        backlog.append(bytes([65 + i]) * 100, points=i + 1)  # 100 bytes each
    # the bound keeps the newest two (200 bytes), dropping the three oldest batches' points
    assert (backlog.batches, backlog.points, backlog.bytes, backlog.dropped_points) == (2, 9, 200, 6)
    backlog.close()
    again = Backlog(path, max_bytes=250)
    assert (again.batches, again.points, again.bytes) == (2, 9, 200)
    rows = again.peek(max_bytes=150)
    assert [r.body[:1] for r in rows] == [b"D"]  # oldest first, at least one, up to the bytes asked
    again.delete(rows)
    assert [r.body[:1] for r in again.peek(10_000)] == [b"E"] and again.points == 5

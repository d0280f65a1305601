"""EnergyCounters: trapezoid integration, gaps, monotonic totals, persistence, midnight.

Time comes from the readings' `ts`; the checkpoint rate limit runs on an injected clock,
so nothing here sleeps. Files are real (tmp_path).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solarstack.core.energy import Counter, EnergyCounters, Term, positive_area
from solarstack.core.fields import Kind
from solarstack.protocols.pi30.energy import PI30_COUNTERS

T0 = datetime(2026, 6, 1, 10, 0, 0, tzinfo=UTC)
POWER = (Counter("pv_energy", "PV energy", (Term(("pv_power",)),)),)
KWH = 3.6e6  # joules


def kwh(joules: float):
    """Expected kWh from joules; published values are rounded to 1 mWh."""
    return pytest.approx(joules / KWH, abs=1e-6)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(path: Path, clock: Clock | None = None, **kw) -> EnergyCounters:
    kw.setdefault("counters", POWER)
    kw.setdefault("max_gap", 30.0)
    kw.setdefault("tz", UTC)
    return EnergyCounters(path, clock=clock or Clock(), **kw)


def feed(ec: EnergyCounters, *points: tuple[float, float | None]) -> dict:
    out: dict = {}
    for seconds, watts in points:
        values = {} if watts is None else {"pv_power": watts}
        out = ec.update(T0 + timedelta(seconds=seconds), values)
    return out


def test_trapezoid_between_consecutive_readings(tmp_path):
    ec = make(tmp_path / "e.json")
    out = feed(ec, (0, 1000.0), (20, 3000.0))
    assert out["pv_energy"] == kwh((1000 + 3000) / 2 * 20)
    assert out["pv_energy_today"] == out["pv_energy"]


def test_one_kilowatt_for_an_hour_is_one_kwh(tmp_path):
    ec = make(tmp_path / "e.json")
    out = feed(ec, *((s, 1000.0) for s in range(0, 3601, 10)))
    assert out["pv_energy"] == pytest.approx(1.0, abs=1e-6)


def test_never_integrates_across_a_gap_longer_than_max_gap(tmp_path):
    ec = make(tmp_path / "e.json", max_gap=30.0)
    out = feed(ec, (0, 1000.0), (10, 1000.0), (100, 1000.0), (110, 1000.0))
    # 0-10 and 100-110 count; the 90 s silence does not
    assert out["pv_energy"] == kwh(20 * 1000)
    # exactly max_gap still counts
    out = feed(ec, (140, 1000.0))
    assert out["pv_energy"] == kwh(50 * 1000)


def test_a_missing_value_breaks_the_interval_on_both_sides(tmp_path):
    ec = make(tmp_path / "e.json")
    out = feed(ec, (0, 500.0), (10, None), (20, 500.0), (30, 500.0))
    assert out["pv_energy"] == kwh(10 * 500)


def test_negative_power_is_never_counted(tmp_path):
    ec = make(tmp_path / "e.json")
    assert feed(ec, (0, -200.0), (10, -50.0))["pv_energy"] == 0.0
    # crossing zero: only the positive triangle of the line from -100 W to 300 W
    out = feed(ec, (20, -100.0), (50, 300.0))
    # zero is crossed 3/4 of the way: a triangle 300 W high and 22.5 s wide
    assert out["pv_energy"] == kwh(300 * 22.5 / 2)


@pytest.mark.parametrize(
    ("p0", "p1", "expected"),
    [(100, 300, 2000), (0, 0, 0), (-100, -300, 0), (-100, 300, 1125), (300, -100, 1125), (100, 0, 500)],
)
def test_positive_area(p0, p1, expected):
    assert positive_area(p0, p1, 10.0) == pytest.approx(expected)


def test_duplicate_and_out_of_order_readings_add_nothing(tmp_path):
    ec = make(tmp_path / "e.json")
    before = feed(ec, (0, 1000.0), (10, 1000.0))
    assert feed(ec, (10, 5000.0), (5, 5000.0)) == before
    # and the next in-order reading integrates from the last accepted one (10 s, 1000 W)
    assert feed(ec, (20, 1000.0))["pv_energy"] == kwh(20 * 1000)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=-5.0, max_value=60.0), st.one_of(st.none(), st.floats(min_value=-5000, max_value=5000))
        ),
        max_size=40,
    )
)
def test_totals_only_ever_increase(tmp_path_factory, steps):
    ec = make(tmp_path_factory.mktemp("mono") / "e.json")
    t, last_total = 0.0, 0.0
    for dt, watts in steps:
        t += dt
        out = feed(ec, (t, watts))
        assert out["pv_energy"] >= last_total
        assert 0.0 <= out["pv_energy_today"] <= out["pv_energy"] + 1e-12
        last_total = out["pv_energy"]


def test_requires_timezone_aware_timestamps(tmp_path):
    with pytest.raises(ValueError, match="timezone-aware"):
        make(tmp_path / "e.json").update(datetime(2026, 6, 1, 10, 0), {"pv_power": 1.0})


# --- persistence ------------------------------------------------------------------------


def test_totals_survive_a_restart(tmp_path):
    path = tmp_path / "state" / "inverter1-energy.json"
    ec = make(path)
    before = feed(ec, (0, 2000.0), (10, 2000.0))
    ec.close()
    again = make(path)
    assert again.values() == before
    # the last sample travels too: a restart shorter than max_gap loses nothing
    assert feed(again, (20, 2000.0))["pv_energy"] == kwh(20 * 2000)


def test_a_restart_longer_than_max_gap_does_not_integrate_the_downtime(tmp_path):
    path = tmp_path / "e.json"
    ec = make(path)
    feed(ec, (0, 2000.0), (10, 2000.0))
    ec.close()
    again = make(path)
    out = feed(again, (600, 2000.0), (610, 2000.0))
    assert out["pv_energy"] == kwh(20 * 2000)


def test_checkpoints_at_most_once_per_interval_of_the_injected_clock(tmp_path):
    path = tmp_path / "e.json"
    clock = Clock()
    ec = make(path, clock, checkpoint_every=60.0)
    for i in range(6):  # a minute of readings, 10 s apart, but the clock only reaches +50 s
        feed(ec, (i * 10, 1000.0))
        clock.now += 10.0
    assert not path.exists()
    feed(ec, (60, 1000.0))  # clock now at +60 s
    first = json.loads(path.read_text())
    assert first["totals_kwh"]["pv_energy"] == kwh(60 * 1000)
    clock.now += 30.0
    feed(ec, (70, 1000.0))
    assert json.loads(path.read_text()) == first  # not yet: 30 s since the last checkpoint
    clock.now += 30.0
    feed(ec, (80, 1000.0))
    assert json.loads(path.read_text())["totals_kwh"]["pv_energy"] == kwh(80 * 1000)


def test_close_writes_the_latest_state_and_an_idle_close_writes_nothing(tmp_path):
    path = tmp_path / "e.json"
    ec = make(path)
    feed(ec, (0, 1000.0), (10, 1000.0))
    ec.close()
    assert json.loads(path.read_text())["totals_kwh"]["pv_energy"] == kwh(10 * 1000)
    mtime = path.stat().st_mtime_ns
    idle = make(path)
    idle.close()
    assert path.stat().st_mtime_ns == mtime


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "e.json"
    ec = make(path)
    feed(ec, (0, 1000.0), (10, 1000.0))
    ec.checkpoint()
    good = path.read_text()
    feed(ec, (20, 1000.0))

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        ec.checkpoint()
    monkeypatch.undo()
    assert path.read_text() == good  # the old file is whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.json"]  # no temp file left behind


def test_a_failed_checkpoint_keeps_counting_and_retries_next_interval(tmp_path, monkeypatch, caplog):
    path = tmp_path / "e.json"
    clock = Clock()
    ec = make(path, clock, checkpoint_every=60.0)
    feed(ec, (0, 1000.0))
    real_replace = os.replace

    def read_only(src, dst):
        raise OSError("read-only file system")

    monkeypatch.setattr(os, "replace", read_only)
    clock.now += 60.0
    with caplog.at_level(logging.WARNING, logger="solarstack.core.energy"):
        out = feed(ec, (10, 1000.0))
    assert out["pv_energy"] == kwh(10 * 1000)
    assert "not saved" in caplog.text and not path.exists()
    monkeypatch.setattr(os, "replace", real_replace)
    clock.now += 30.0
    feed(ec, (20, 1000.0))
    assert not path.exists()  # the failed attempt still counts for the rate limit
    clock.now += 30.0
    feed(ec, (30, 1000.0))
    assert json.loads(path.read_text())["totals_kwh"]["pv_energy"] == pytest.approx(30 * 1000 / KWH)


def test_an_unreadable_state_file_is_kept_aside_and_counting_restarts(tmp_path, caplog):
    path = tmp_path / "e.json"
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="solarstack.core.energy"):
        ec = make(path)
    assert ec.values() == {"pv_energy": 0.0, "pv_energy_today": 0.0}
    assert (tmp_path / "e.json.corrupt").read_text() == "{not json"
    assert "unreadable" in caplog.text


def test_a_counter_added_later_starts_at_zero(tmp_path):
    path = tmp_path / "e.json"
    ec = make(path)
    feed(ec, (0, 1000.0), (10, 1000.0))
    ec.close()
    more = (*POWER, Counter("load_energy", "Load energy", (Term(("load_power",)),)))
    again = make(path, counters=more)
    assert again.values()["load_energy"] == 0.0
    assert again.values()["pv_energy"] == kwh(10 * 1000)


# --- local days ------------------------------------------------------------------------


BERLIN = ZoneInfo("Europe/Berlin")


def local(day: int, hh: int, mm: int, ss: int) -> datetime:
    return datetime(2026, 6, day, hh, mm, ss, tzinfo=BERLIN)


def test_daily_figure_rolls_over_at_local_midnight_and_splits_the_interval(tmp_path):
    ec = make(tmp_path / "e.json", tz=BERLIN)
    ec.update(local(1, 23, 59, 40), {"pv_power": 1000.0})
    out = ec.update(local(1, 23, 59, 55), {"pv_power": 1000.0})
    assert out["pv_energy_today"] == kwh(15 * 1000)
    out = ec.update(local(2, 0, 0, 5), {"pv_power": 1000.0})
    assert out["pv_energy"] == kwh(25 * 1000)  # the total keeps everything
    assert out["pv_energy_today"] == kwh(5 * 1000)  # only the part after midnight


def test_midnight_is_local_not_utc(tmp_path):
    ec = make(tmp_path / "e.json", tz=BERLIN)
    # 23:59:50 UTC is 01:59:50 in Berlin (summer): no rollover between these two
    ec.update(datetime(2026, 6, 1, 23, 59, 50, tzinfo=UTC), {"pv_power": 1000.0})
    out = ec.update(datetime(2026, 6, 2, 0, 0, 10, tzinfo=UTC), {"pv_power": 1000.0})
    assert out["pv_energy_today"] == pytest.approx(out["pv_energy"])


def test_a_restart_on_the_next_day_starts_a_new_daily_figure(tmp_path):
    path = tmp_path / "e.json"
    ec = make(path, tz=BERLIN)
    ec.update(local(1, 12, 0, 0), {"pv_power": 1000.0})
    ec.update(local(1, 12, 0, 10), {"pv_power": 1000.0})
    ec.close()
    again = make(path, tz=BERLIN)
    assert again.values()["pv_energy_today"] == kwh(10 * 1000)
    out = again.update(local(2, 8, 0, 0), {"pv_power": 0.0})
    assert out["pv_energy_today"] == 0.0
    assert out["pv_energy"] == kwh(10 * 1000)


# --- the PI30 table and the fields ------------------------------------------------------------


QPIGS_LINE = {  # line mode, charging from PV and grid
    "ac_input_voltage": 230.1,
    "ac_output_active_power": 800,
    "battery_voltage": 52.0,
    "battery_charging_current": 10,
    "battery_discharge_current": 0,
    "pv_input_power": 400,
}


def pi30_powers(values: dict) -> dict[str, float | None]:
    return {c.key: c.power(values) for c in PI30_COUNTERS}


def test_pi30_counters_derive_power_from_qpigs_keys():
    p = pi30_powers(QPIGS_LINE)
    assert p["pv_energy"] == 400
    assert p["load_energy"] == 800
    assert p["battery_charge_energy"] == 520.0
    assert p["battery_discharge_energy"] == 0.0
    # grid = load + charge - pv - discharge
    assert p["grid_import_energy"] == pytest.approx(800 + 520 - 400)


def test_pi30_grid_import_is_gated_off_without_ac_input():
    battery_mode = {
        **QPIGS_LINE,
        "ac_input_voltage": 3.2,
        "battery_charging_current": 0,
        "battery_discharge_current": 20,
    }
    assert pi30_powers(battery_mode)["grid_import_energy"] == 0.0
    assert pi30_powers(battery_mode)["battery_discharge_energy"] == 1040.0
    assert pi30_powers({"pv_input_power": 10})["grid_import_energy"] is None


def test_pi30_counter_keys_exist_in_the_qpigs_table():
    commands = pytest.importorskip("solarstack.protocols.pi30.commands")
    keys = {f.key for f in commands.QPIGS}
    used = {k for c in PI30_COUNTERS for t in c.terms for k in t.factors} | {c.gate for c in PI30_COUNTERS if c.gate}
    assert used <= keys


def test_fields_are_kwh_energy_total_increasing_and_match_the_values(tmp_path):
    ec = make(tmp_path / "e.json", counters=PI30_COUNTERS)
    derived = {c.power_key for c in PI30_COUNTERS if c.power_key}
    fields = tuple(f for f in ec.fields if f.key not in derived)
    assert [f.key for f in fields] == list(ec.values())
    assert len(fields) == 2 * len([c for c in PI30_COUNTERS if c.energy])
    for f in fields:
        assert (f.kind, f.unit, f.ha_device_class, f.ha_state_class) == (
            Kind.FLOAT,
            "kWh",
            "energy",
            "total_increasing",
        )
    assert fields[1].key == "pv_energy_today" and fields[1].title == "PV energy today"


def test_floor_raises_totals_to_what_was_last_published(tmp_path):
    """A crash between checkpoints: the retained state's counters are the floor (issue 8, 5)."""
    ec = make(tmp_path / "e.json")
    feed(ec, (0, 1000.0), (10, 1000.0))
    published = {"pv_energy": 2.5, "pv_energy_today": 1.25}
    assert ec.floor(T0, published, now=T0 + timedelta(seconds=20)) is True
    assert ec.values() == {"pv_energy": 2.5, "pv_energy_today": 1.25}
    # integration goes on from the floor, never below it
    assert feed(ec, (20, 1000.0))["pv_energy"] == pytest.approx(2.5 + 10 * 1000 / KWH, abs=1e-6)
    # a lower (or garbage) retained copy changes nothing
    assert ec.floor(T0, {"pv_energy": 0.1, "pv_energy_today": "x"}, now=T0) is False


def test_floor_leaves_today_alone_when_the_retained_state_is_from_another_day(tmp_path):
    ec = make(tmp_path / "e.json")
    yesterday = T0 - timedelta(days=1)
    assert ec.floor(yesterday, {"pv_energy": 3.0, "pv_energy_today": 2.0}, now=T0)
    assert ec.values() == {"pv_energy": 3.0, "pv_energy_today": 0.0}


def test_grid_power_is_derived_once_by_the_counters_rule(tmp_path):
    """PI30 measures no grid power: the reader publishes the grid counter's gated balance as
    `grid_power` (issue 9), so an off-grid inverter in battery mode shows 0 W, not an export."""
    ec = make(tmp_path / "e.json", counters=PI30_COUNTERS)
    base = {
        "pv_input_power": 500,
        "ac_output_active_power": 540,
        "battery_charging_current": 0,
        "battery_discharge_current": 1,
        "battery_voltage": 52.0,
    }
    battery_mode = ec.update(T0, {**base, "ac_input_voltage": 0.0})
    assert battery_mode["grid_power"] == 0.0  # the balance (540 - 500 - 52 = -12 W) is gated off
    on_grid = ec.update(T0 + timedelta(seconds=1), {**base, "ac_input_voltage": 230.0})
    assert on_grid["grid_power"] == 0.0  # the balance is -12 W: conversion loss, never an export
    importing = ec.update(T0 + timedelta(seconds=2), {**base, "ac_input_voltage": 230.0, "pv_input_power": 100})
    assert importing["grid_power"] == pytest.approx(540 - 100 - 52.0)
    (row,) = [f for f in ec.fields if f.key == "grid_power"]
    assert (row.unit, row.role) == ("W", "grid_power")
    # battery power likewise, signed (+ charging), and it counts no energy of its own
    assert battery_mode["battery_power"] == pytest.approx(-52.0)
    assert "battery_power_today" not in on_grid

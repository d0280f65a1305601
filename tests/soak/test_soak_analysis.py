"""The soak's schedule and verdicts on records made by hand: a seed gives one schedule, and each
verdict bites (a lost, a doubled and a foreign point; a late recovery; a falling counter; a
reader that under-counts energy; a leak)."""

from __future__ import annotations

import itertools

from solarstack.soak import analysis
from solarstack.soak.analysis import Break, Cleared, RssSample, State, TruthSample
from solarstack.soak.schedule import FULL, SHORT, Kind, Targets, needed, plan

TARGETS = Targets(
    tcp_simulators=("sim-inverter", "sim-bms", "sim-weather"),
    controlled_devices=("inverter", "bms"),
    pty_devices=("inverter_pty",),
    readers=("inverter", "bms", "weather", "house"),
)
S = 1_000_000_000


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    one = plan(7, 1800, TARGETS, FULL)
    assert one == plan(7, 1800, TARGETS, FULL)
    assert one != plan(8, 1800, TARGETS, FULL)


def test_faults_do_not_overlap_and_end_inside_the_window() -> None:
    for profile, window in ((FULL, 1800.0), (SHORT, 192.0)):
        events = plan(3, window, TARGETS, profile)
        for a, b in itertools.pairwise(events):
            assert a.ends + profile.settle <= b.at + 0.2
        assert events[-1].ends + profile.settle <= window + 0.2


def test_every_kind_is_scheduled_and_the_full_profile_hits_every_target() -> None:
    short = plan(1, 192, TARGETS, SHORT)
    assert {e.kind for e in short} == set(Kind)
    assert {e.target for e in short if e.kind is Kind.UNPLUG} == set(TARGETS.tcp_simulators)
    assert len([e for e in short if e.kind is Kind.READER_KILL]) == 1
    full = plan(1, 1800, TARGETS, FULL)
    assert {e.target for e in full if e.kind is Kind.UNPLUG} == set(TARGETS.tcp_simulators)
    assert {e.target for e in full if e.kind is Kind.READER_KILL} == set(TARGETS.readers)
    assert needed(TARGETS, SHORT) <= 192 < needed(TARGETS, FULL)


def state(device: str, second: float, arrived: float | None = None, **numbers: float) -> State:
    return State(device, int(second * S), second if arrived is None else arrived, False, numbers)


def test_delivery_counts_lost_doubled_and_foreign_points() -> None:
    states = [state("inv", t) for t in range(10)] + [state("inv", 3)]  # a QoS 1 duplicate at the tap
    stored = {"inv": [t * S for t in range(10) if t != 4] + [5 * S, 42 * S]}
    d = analysis.delivery(states, stored, since_ns=0, until_ns=100 * S)
    assert (d.published, d.lost, d.doubled, d.foreign) == (10, 1, 1, 1)
    clean = analysis.delivery(states, {"inv": [t * S for t in range(10)]}, since_ns=0, until_ns=100 * S)
    assert (clean.lost, clean.doubled, clean.foreign) == (0, 0, 0)


def test_recovery_is_the_first_state_read_after_the_fault_cleared() -> None:
    states = [state("inv", t, t + 0.05) for t in (1.0, 2.0, 3.0, 6.5, 7.5)]
    (r,) = analysis.recovery([Cleared("silent inv", "silent", 4.0)], states, {"inv": 1.0})
    assert abs(r.seconds - 2.55) < 1e-9 and not r.within_poll  # type: ignore[operator]
    (ok,) = analysis.recovery([Cleared("crc inv", "crc", 5.8)], states, {"inv": 1.0})
    assert ok.within_poll


def test_a_counter_that_falls_is_reported_in_ts_order() -> None:
    states = [state("inv", 2, pv_energy=1.0), state("inv", 1, pv_energy=0.5), state("inv", 3, pv_energy=0.9)]
    checked, drops = analysis.monotonic(states, {"inv": ["pv_energy"]})
    assert checked == 3 and [(d.before, d.after) for d in drops] == [(1.0, 0.9)]


def test_energy_matches_the_plant_over_unbroken_stretches_only() -> None:
    # the plant: 1 kWh per wall second at speed 10 (0.1 kWh per second of the reader's clock)
    truth = [TruthSample(0, t, {"pv": float(t)}) for t in range(-1, 40)]
    good = [state("inv", t, pv_energy=0.1 * t) for t in range(0, 30)]
    (e,) = analysis.energy("inv", good, truth, {"pv": "pv_energy"}, speed=10, max_gap=8, breaks=[])
    assert e.stretches == 1 and e.error is not None and abs(e.error) < 1e-9
    # a reader that stops counting during a break is not blamed for it ...
    broken = [state("inv", t, pv_energy=0.1 * t - (0.5 if t > 15 else 0.0)) for t in range(0, 30)]
    (b,) = analysis.energy(
        "inv", broken, truth, {"pv": "pv_energy"}, speed=10, max_gap=8, breaks=[Break("inv", 14.5, 15.5)]
    )
    assert b.stretches == 2 and b.error is not None and abs(b.error) < 1e-9
    # ... but one that under-counts inside a stretch is
    (u,) = analysis.energy("inv", broken, truth, {"pv": "pv_energy"}, speed=10, max_gap=8, breaks=[])
    assert u.error is not None and u.error < -0.01


def test_rss_slope_is_per_simulated_hour_and_ignores_restarts() -> None:
    flat = [RssSample("web", life, life * 100 + t, 50.0 + (20 if life else 0)) for life in (0, 1) for t in range(60)]
    leak = [RssSample("bms", 0, t, 40.0 + t / 3600) for t in range(0, 600, 2)]  # 1 MB per wall hour
    slopes = {s.service: s for s in analysis.rss_slope(flat + leak, speed=10, warmup=0)}
    web, bms = slopes["web"].mb_per_sim_hour, slopes["bms"].mb_per_sim_hour
    assert web is not None and abs(web) < 1e-9  # the restart's jump is no slope
    assert bms is not None and abs(bms - 0.1) < 1e-6


def test_bytes_written_per_hour_and_our_memory_together() -> None:
    samples = [
        *(RssSample("inverter", 1, t, 40.0, 1000 * t) for t in range(0, 100, 2)),  # 1 kB/s
        *(RssSample("inverter", 2, 200 + t, 42.0, 500 * t) for t in range(0, 100, 2)),  # restarted: counts anew
        *(RssSample("web", 1, t, 100.0 + (10 if t == 50 else 0)) for t in range(0, 300, 2)),
    ]
    rates = analysis.write_rates(samples)
    assert abs(rates["inverter"] - 750 * 3600) < 1e-6 and "web" not in rates
    assert analysis.memory_total(samples, ["inverter", "web"], since=10) == (140.0, 150.0)

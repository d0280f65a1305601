"""Poller logic on a fake clock: due-time schedule, retries with backoff, breaker, availability."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from solarstack.core.errors import ConfigError, CrcError, DeviceTimeout, NakError
from solarstack.core.poller import BreakerState, CircuitBreaker, Poller, Schedule


class FakeTime:
    """A clock that only moves when the poller sleeps or a fake fetch 'takes' time."""

    def __init__(self, horizon: float) -> None:
        self.now = 0.0
        self.horizon = horizon
        self.sleeps: list[float] = []
        self.stop = asyncio.Event()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        if self.now >= self.horizon:
            self.stop.set()
        await asyncio.sleep(0)


class Recorder:
    def __init__(self) -> None:
        self.done: list[tuple[str, str]] = []
        self.errors: list[tuple[str, str]] = []
        self.up: list[tuple[str, bool]] = []

    def poll_done(self, device: str, command: str, seconds: float) -> None:
        self.done.append((device, command))

    def poll_error(self, device: str, kind: str) -> None:
        self.errors.append((device, kind))

    def device_up(self, device: str, up: bool) -> None:
        self.up.append((device, up))


def run(poller: Poller[Any], t: FakeTime) -> None:
    asyncio.run(asyncio.wait_for(poller.run(t.stop), 5))


def timed_fetch(t: FakeTime, duration: float, log: list[tuple[float, str]]) -> Callable[[str], Awaitable[str]]:
    async def fetch(command: str) -> str:
        log.append((round(t.now, 6), command))
        t.now += duration
        return f"{command}-ok"

    return fetch


def test_each_command_on_its_own_grid_without_drift() -> None:
    t = FakeTime(horizon=10.0)
    starts: list[tuple[float, str]] = []
    results: list[tuple[str, str]] = []
    poller = Poller(
        "inv1",
        [Schedule("QPIGS", 1.0), Schedule("QPIRI", 2.5)],
        timed_fetch(t, 0.3, starts),
        lambda c, v: results.append((c, v)),
        clock=t.clock,
        sleep=t.sleep,
    )
    run(poller, t)
    qpigs = [s for s, c in starts if c == "QPIGS"]
    qpiri = [s for s, c in starts if c == "QPIRI"]
    assert qpigs == [float(i) for i in range(10)]  # 0.3 s polls do not push the grid
    # due together with QPIGS at 0 and 5: runs right after it, back to back
    assert qpiri == [0.3, 2.5, 5.3, 7.5]
    assert results[:2] == [("QPIGS", "QPIGS-ok"), ("QPIRI", "QPIRI-ok")]


def test_slow_device_skips_missed_slots_instead_of_bursting() -> None:
    t = FakeTime(horizon=10.0)
    starts: list[tuple[float, str]] = []
    poller = Poller(
        "inv1", [Schedule("QPIGS", 1.0)], timed_fetch(t, 2.5, starts), lambda c, v: None, clock=t.clock, sleep=t.sleep
    )
    run(poller, t)
    assert [s for s, _ in starts] == [0.0, 3.0, 6.0, 9.0]


def test_retries_with_exponential_backoff_then_success() -> None:
    t = FakeTime(horizon=1e9)
    attempts: list[str] = []
    failures = [CrcError("bad crc"), NakError("NAK")]
    results: list[str] = []
    metrics = Recorder()

    async def fetch(command: str) -> str:
        attempts.append(command)
        if failures:
            raise failures.pop(0)
        t.stop.set()
        return "ok"

    poller = Poller(
        "inv1",
        [Schedule("QPIGS", 5)],
        fetch,
        lambda c, v: results.append(v),
        retries=3,
        backoff=0.5,
        metrics=metrics,
        clock=t.clock,
        sleep=t.sleep,
    )
    run(poller, t)
    assert attempts == ["QPIGS"] * 3
    assert t.sleeps[:2] == [0.5, 1.0]
    assert results == ["ok"]
    assert metrics.errors == [("inv1", "crc"), ("inv1", "nak")]
    assert metrics.done == [("inv1", "QPIGS")]
    assert metrics.up == [("inv1", True)]


def test_exhausted_retries_report_failure_with_last_error() -> None:
    t = FakeTime(horizon=1e9)
    failed: list[tuple[str, Exception]] = []
    calls = 0

    async def fetch(command: str) -> str:
        nonlocal calls
        calls += 1
        raise DeviceTimeout(f"silent {calls}")

    async def on_failure(command: str, exc: Exception) -> None:
        failed.append((command, exc))
        t.stop.set()

    poller = Poller(
        "inv1",
        [Schedule("QPIGS", 5)],
        fetch,
        lambda c, v: None,
        on_failure,
        retries=2,
        backoff=0.1,
        clock=t.clock,
        sleep=t.sleep,
    )
    run(poller, t)
    assert calls == 3
    assert t.sleeps[:2] == [0.1, 0.2]
    assert [(c, str(e)) for c, e in failed] == [("QPIGS", "silent 3")]


@pytest.mark.parametrize(
    ("took", "error", "back_at", "backoff", "expected"),
    [
        # A silent device: each attempt takes the whole 0.8 s answer timeout. A retry after the
        # 0.5 s backoff would end at 2.1 s, past the 2 s slot, and push the slot to 4 s; the
        # device is back at 1.5 s and must be read at 2 s.
        (0.8, DeviceTimeout("silent"), 1.5, 0.5, [0.0, 2.0]),
        # CRC noise fails in 0.1 s: its three retries fit before the next slot; the third answers.
        (0.1, CrcError("noise"), 0.9, 0.1, [0.0, 0.2, 0.5, 1.0]),
    ],
    ids=["silent", "quick"],
)
def test_retries_are_sent_only_when_answered_before_the_next_slot(
    took: float, error: Exception, back_at: float, backoff: float, expected: list[float]
) -> None:
    t = FakeTime(horizon=1e9)
    calls: list[float] = []

    async def fetch(command: str) -> str:
        calls.append(round(t.now, 6))
        t.now += took
        if t.now < back_at:
            raise error
        t.stop.set()
        return "ok"

    poller = Poller(
        "bms1",
        [Schedule("status", 2.0)],
        fetch,
        lambda c, v: None,
        retries=3,
        backoff=backoff,
        clock=t.clock,
        sleep=t.sleep,
    )
    run(poller, t)
    assert calls == expected


def test_breaker_transitions() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=30.0, clock=lambda: now[0])
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # a success resets the consecutive count
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    now[0] = 29.9
    assert not breaker.allow()
    now[0] = 30.0
    assert breaker.state is BreakerState.HALF_OPEN and breaker.allow()
    breaker.record_failure()  # a failed probe opens it again at once
    assert breaker.state is BreakerState.OPEN
    now[0] = 60.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


def test_an_escalating_breaker_probes_soon_after_an_outage_and_rarely_after_a_long_one() -> None:
    now = [0.0]
    breaker = CircuitBreaker(2, 60.0, lambda: now[0], max_reset_timeout=300.0)
    breaker.record_failure()
    breaker.record_failure()
    waits = []  # the wait before each probe while the device stays away
    for _ in range(6):
        opened = now[0]
        while not breaker.allow():
            now[0] += 1.0
        waits.append(now[0] - opened)
        breaker.record_failure()
    assert waits == [60.0, 120.0, 240.0, 300.0, 300.0, 300.0]
    now[0] += 300.0
    assert breaker.allow()
    breaker.record_success()  # back: the next outage starts at one interval again
    breaker.record_failure()
    breaker.record_failure()
    opened = now[0]
    now[0] += 59.0
    assert not breaker.allow()
    now[0] = opened + 60.0
    assert breaker.allow()


def test_breaker_drives_availability_and_probes_once() -> None:
    t = FakeTime(horizon=1e9)
    calls: list[float] = []
    healthy = [False]
    events: list[bool] = []

    async def fetch(command: str) -> str:
        calls.append(t.now)
        if not healthy[0]:
            raise CrcError("garbage")
        t.stop.set()
        return "ok"

    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=10.0, clock=t.clock)
    poller = Poller(
        "bms1",
        [Schedule("status", 1.0)],
        fetch,
        lambda c, v: None,
        retries=1,
        backoff=0.25,
        breaker=breaker,
        on_available=events.append,
        clock=t.clock,
        sleep=t.sleep,
    )

    async def scenario() -> None:
        task = asyncio.create_task(poller.run(t.stop))
        while not (events == [False] and t.now >= 15.0):
            await asyncio.sleep(0)
        healthy[0] = True  # the device comes back; the next half-open probe must find it
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    # two polls x (1 try + 1 retry) open the breaker; then silence for 10 s; then single probes
    assert calls[:4] == [0.0, 0.25, 1.0, 1.25]
    # skipped while open (opened at 1.25); the probe at 12 fails and reopens; the one at 22 succeeds
    assert calls[4:] == [12.0, 22.0]
    assert events == [False, True]
    assert poller.available is True and breaker.state is BreakerState.CLOSED


def test_config_error_is_fatal() -> None:
    t = FakeTime(horizon=1e9)
    calls = 0

    async def fetch(command: str) -> str:
        nonlocal calls
        calls += 1
        raise ConfigError("INVERTER_DEVICES: no such device /dev/ttyUSB9")

    poller = Poller("inv1", [Schedule("QPIGS", 1)], fetch, lambda c, v: None, clock=t.clock, sleep=t.sleep)
    with pytest.raises(ConfigError, match="ttyUSB9"):
        run(poller, t)
    assert calls == 1


def test_stop_interrupts_the_real_wait() -> None:
    async def scenario() -> float:
        stop = asyncio.Event()

        async def fetch(command: str) -> str:
            asyncio.get_running_loop().call_soon(stop.set)
            return "ok"

        poller = Poller("inv1", [Schedule("QPIGS", 3600)], fetch, lambda c, v: None)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await asyncio.wait_for(poller.run(stop), 5)
        return loop.time() - began

    assert asyncio.run(scenario()) < 1.0


def test_timeout_turns_a_hung_fetch_into_device_timeout() -> None:
    async def scenario() -> list[Exception]:
        stop = asyncio.Event()
        failures: list[Exception] = []

        async def fetch(command: str) -> str:
            await asyncio.Event().wait()  # never answers
            return "unreachable"

        def on_failure(command: str, exc: Exception) -> None:
            failures.append(exc)
            stop.set()

        poller = Poller("inv1", [Schedule("QPIGS", 60)], fetch, lambda c, v: None, on_failure, retries=0, timeout=0.05)
        await asyncio.wait_for(poller.run(stop), 5)
        return failures

    failures = asyncio.run(scenario())
    assert len(failures) == 1 and isinstance(failures[0], DeviceTimeout)


def test_a_stuck_poll_shows_as_stalled() -> None:
    """/ready turns false when the poll loop stops coming round (issue 8, 7)."""
    t = FakeTime(horizon=100.0)
    release = asyncio.Event()

    async def fetch(command: str) -> str:
        await release.wait()  # a link call that does not come back
        return "ok"

    async def scenario() -> None:
        poller: Poller[str] = Poller("inv", [Schedule("QPIGS", 1.0)], fetch, lambda c, v: None, clock=t.clock)
        task = asyncio.create_task(poller.run(t.stop))
        await asyncio.sleep(0)
        assert not poller.stalled(after=30.0)
        t.now += 31.0
        assert poller.stalled(after=30.0)
        release.set()
        await asyncio.sleep(0.01)
        assert not poller.stalled(after=30.0)
        t.stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())


def test_a_steady_breaker_keeps_probing_at_its_period_before_it_escalates() -> None:
    now = [0.0]
    breaker = CircuitBreaker(2, 30.0, lambda: now[0], max_reset_timeout=300.0, steady_for=100.0)
    breaker.record_failure()
    breaker.record_failure()  # opens at 0: the outage begins
    waits = []
    for _ in range(7):
        opened = now[0]
        while not breaker.allow():
            now[0] += 1.0
        waits.append(now[0] - opened)
        breaker.record_failure()
    # probes at 30, 60, 90 fail inside the steady 100 s; the one at 120 is past it and doubles
    assert waits == [30.0, 30.0, 30.0, 30.0, 60.0, 120.0, 240.0]


def test_a_per_poll_breaker_opened_late_in_its_slot_still_probes_at_the_next() -> None:
    """CI's short soak: three commands a slot, each failing fast and retried after 0.5 s, so
    the breaker opened 1.02 s into the slot; a reset counted from there (1 s) outlasted the next
    slot at 2 s, and a device back at 1.5 s was read at 4 s, a poll late."""
    t = FakeTime(horizon=1e9)
    calls: list[tuple[float, str]] = []

    async def fetch(command: str) -> str:
        calls.append((round(t.now, 6), command))
        t.now += 0.01
        if t.now < 1.5:
            raise DeviceTimeout("away")
        t.stop.set()
        return "ok"

    poller = Poller(
        "inv",
        [Schedule(c, 2.0) for c in ("QPIGS", "QMOD", "QPIWS")],
        fetch,
        lambda c, v: None,
        retries=1,
        backoff=0.5,
        breaker=CircuitBreaker.per_poll(2.0, failure_threshold=2, clock=t.clock),
        clock=t.clock,
        sleep=t.sleep,
    )
    run(poller, t)
    assert [c for _, c in calls] == ["QPIGS", "QPIGS", "QMOD", "QMOD", "QPIGS"]
    assert calls[-1][0] == 2.0


@pytest.mark.parametrize("duration", [0.0, 0.3, 0.9])
def test_a_per_poll_breaker_probes_at_every_slot_so_a_device_back_is_read_within_one_poll(duration: float) -> None:
    """Three commands a slot, each failed call taking `duration`: while the device is away one
    probe goes out per slot (not one per command, not every other slot), and the first slot
    after it is back reads it."""
    every = 2.0
    back_at = 15.0
    t = FakeTime(horizon=1e9)
    calls: list[tuple[float, str]] = []

    async def fetch(command: str) -> str:
        calls.append((round(t.now, 6), command))
        if t.now < back_at:
            t.now += duration
            raise DeviceTimeout("away")
        if t.now > back_at + every:
            t.stop.set()
        return "ok"

    poller = Poller(
        "inv",
        [Schedule(c, every) for c in ("QPIGS", "QMOD", "QPIWS")],
        fetch,
        lambda c, v: None,
        retries=0,
        breaker=CircuitBreaker.per_poll(every, failure_threshold=3, clock=t.clock),
        clock=t.clock,
        sleep=t.sleep,
    )
    run(poller, t)
    # the first slot's three failures open it (slow ones run into the second slot's time)
    while_open = [at for at, _ in calls if 4.0 <= at < back_at]
    slots = [2.0 * k for k in range(2, 8)]  # 4, 6, … 14
    assert [min(a for a in while_open if s <= a < s + every) for s in slots] == slots
    assert len(while_open) == len(slots)  # one probe a slot
    first_ok = min(at for at, _ in calls if at >= back_at)
    assert first_ok - back_at <= every

"""Core layer: the polling loop of one device — schedule, retry, circuit breaker.

A reader runs one `Poller.run(stop)` task per device on its asyncio loop. Each
`Schedule` (command, every seconds) has its own due time on a fixed grid from the
start, so intervals do not drift with poll duration; commands due at the same time
run back to back in the order given; a slot missed because the device was slow is
skipped, not caught up in a burst.

A poll is one call of `fetch(command)`. A retryable failure (`ProtocolError`: CRC,
NAK, bad frame; `TransportError`: timeout, unplugged) is retried `retries` times with
exponential backoff, but only while the retry, at the pace of the attempt that failed, is
answered before the next slot: a poll never runs into the next one, so a device back as a
fault clears is read at that slot. A poll that still fails counts against the `CircuitBreaker`;
once it opens the device is reported unavailable and polls stop until the reset
timeout, then one probe (no retries) decides: success closes it (available again),
failure opens it again (logged at debug only: the device was already reported
unavailable). `ConfigError` is never retried: it ends the task (fatal).

This module must not do I/O itself or know protocols: `fetch` is the device layer's.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from solarstack.core.errors import ConfigError, DeviceTimeout, ProtocolError, TransportError

log = logging.getLogger(__name__)

T = TypeVar("T")

Clock = Callable[[], float]
MaybeAwaitable = Awaitable[None] | None


@dataclass(frozen=True, slots=True)
class Schedule:
    """Send `command` every `every` seconds."""

    command: str
    every: float

    def __post_init__(self) -> None:
        if self.every <= 0:
            raise ConfigError(f"poll interval for {self.command} must be more than 0 seconds, got {self.every}")


class BreakerState(StrEnum):
    CLOSED = "closed"  # polling normally
    OPEN = "open"  # too many failed polls: leave the device alone for a while
    HALF_OPEN = "half_open"  # reset timeout passed: one probe decides


class CircuitBreaker:
    """closed → open after `failure_threshold` consecutive failures → half-open after
    `reset_timeout` seconds → closed on a success, open again on a failure.

    With `max_reset_timeout`, a failed half-open probe doubles the wait, up to that, once the
    outage has lasted `steady_for` seconds: a device back after a short outage (an unplugged
    cable, a WiFi drop, a rebooting DTU) is read again at the next probe, one that stays away
    (a DTU at night, a weather API down for hours) is probed rarely. A success starts the next
    outage at `reset_timeout` again. `per_poll()` builds the usual one."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        clock: Clock = time.monotonic,
        *,
        max_reset_timeout: float | None = None,
        steady_for: float = 0.0,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.base_reset_timeout = self.reset_timeout = reset_timeout
        self.max_reset_timeout = max(reset_timeout, max_reset_timeout or reset_timeout)
        self.steady_for = steady_for
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._outage_began = 0.0  # when it last opened from closed
        self._state = BreakerState.CLOSED

    @classmethod
    def per_poll(
        cls,
        every: float,
        failure_threshold: int = 5,
        clock: Clock = time.monotonic,
        *,
        max_reset_timeout: float | None = None,
        steady_for: float = 0.0,
    ) -> CircuitBreaker:
        """A breaker for a device polled every `every` seconds whose probe goes out at the next
        scheduled poll: one attempt per poll slot while the device is away, so a device that
        comes back is read within one poll interval. The reset is an eighth of an interval: it
        only has to outlast the rest of the slot's commands, which are skipped at once after it
        opens, and must not outlast the gap to the next slot. Half an interval did, whenever it
        opened in a slot's second half (three commands, each retried once after 0.5 s, opened it
        1.0 s into a 2 s slot, and the probe waited a whole slot more)."""
        return cls(failure_threshold, every / 8, clock, max_reset_timeout=max_reset_timeout, steady_for=steady_for)

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_timeout:
            self._state = BreakerState.HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """May a poll be sent now?"""
        return self.state is not BreakerState.OPEN

    def record_success(self) -> None:
        self._failures = 0
        self._state = BreakerState.CLOSED
        self.reset_timeout = self.base_reset_timeout

    def record_failure(self) -> None:
        self._failures += 1
        now = self._clock()
        if self._state is BreakerState.HALF_OPEN:  # the probe failed: after a while, wait longer
            if now - self._outage_began >= self.steady_for:
                self.reset_timeout = min(self.max_reset_timeout, 2 * self.reset_timeout)
        elif self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold:
            self._outage_began = now
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._state = BreakerState.OPEN
            self._opened_at = now


class PollObserver(Protocol):
    """What the poller reports for link-health metrics (core.metrics.ServiceMetrics)."""

    def poll_done(self, device: str, command: str, seconds: float) -> None: ...

    def poll_error(self, device: str, kind: str) -> None: ...

    def device_up(self, device: str, up: bool) -> None: ...


def error_kind(exc: BaseException) -> str:
    """The `kind` label of an error counter: crc, nak, frame, protocol, timeout, disconnect."""
    kind = getattr(exc, "kind", None)
    return kind if isinstance(kind, str) else "internal"


class Poller(Generic[T]):
    """Polls one device on its schedules until `stop` is set (see module doc).

    Callbacks: `on_result(command, value)` after each successful poll,
    `on_failure(command, error)` after a poll failed all its attempts (either may be a
    coroutine function), `on_available(bool)` when availability changes: True on the
    first success and on recovery, False when the breaker opens.
    `clock`/`sleep` are injectable so tests can run the schedule on a fake clock; the
    default sleep returns early when `stop` is set.
    """

    def __init__(
        self,
        device_id: str,
        schedules: Sequence[Schedule],
        fetch: Callable[[str], Awaitable[T]],
        on_result: Callable[[str, T], MaybeAwaitable],
        on_failure: Callable[[str, Exception], MaybeAwaitable] | None = None,
        *,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float | None = None,
        breaker: CircuitBreaker | None = None,
        on_available: Callable[[bool], None] | None = None,
        metrics: PollObserver | None = None,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        if not schedules:
            raise ConfigError(f"device {device_id}: nothing to poll")
        self.device_id = device_id
        self.schedules = tuple(schedules)
        self.retries = retries
        self.timeout = timeout
        self.slot = min(s.every for s in self.schedules)  # a poll, retries and all, fits in one
        # at most a quarter of the slot, so that quick failures (CRC noise, a NAK) get their retries
        # within it even when polls are fast
        self.backoff = min(backoff, self.slot / 4)
        self.breaker = breaker or CircuitBreaker.per_poll(self.slot, clock=clock)
        self.available: bool | None = None  # None until the first poll decided it
        # clock() when the loop last came round (after a poll or a wait): a stale heartbeat
        # means polls are stuck (a link call that never returns), which /ready reports
        self.heartbeat = clock()
        self._fetch = fetch
        self._on_result = on_result
        self._on_failure = on_failure
        self._on_available = on_available
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._stop = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set. Raises ConfigError (fatal); everything else is handled."""
        self._stop = stop
        start = self._clock()
        due = [start] * len(self.schedules)
        while not stop.is_set():
            now = self.heartbeat = self._clock()
            for i, schedule in enumerate(self.schedules):
                if due[i] > now or stop.is_set():
                    continue
                await self.poll(schedule.command)
                self.heartbeat = self._clock()
                # next slot on the fixed grid; skip slots already missed
                missed = max(int((self._clock() - due[i]) // schedule.every), 0)
                due[i] += (missed + 1) * schedule.every
            await self._wait(min(due) - self._clock())

    async def poll(self, command: str) -> T | None:
        """One poll of `command` with retries, through the breaker. None when it failed or was skipped."""
        if not self.breaker.allow():
            return None
        probing = self.breaker.state is BreakerState.HALF_OPEN
        attempts = 1 if probing else 1 + self.retries
        began, took, tried = self._clock(), 0.0, 0
        error: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                delay = self.backoff * 2 ** (attempt - 1)
                # A silent device's attempt takes its whole answer timeout, and so would the
                # retry: one still in flight when the next slot comes would push that slot back a
                # whole interval, and a device back meanwhile be read a poll late. The slot is
                # the next try.
                if self._clock() + delay + took > began + self.slot:
                    break
                await self._wait(delay)
                if self._stop.is_set():
                    return None
            sent, tried = self._clock(), attempt + 1
            try:
                value = await self._fetch_once(command)
            except ConfigError:
                raise
            except (ProtocolError, TransportError) as exc:
                took = self._clock() - sent
                error = exc
                self._count_error(exc)
                log.debug("%s %s attempt %d/%d failed: %s", self.device_id, command, attempt + 1, attempts, exc)
                continue
            except Exception as exc:  # a bug in a codec must not kill the device task
                error = exc
                self._count_error(exc)
                log.exception("%s %s failed unexpectedly", self.device_id, command)
                break
            self._done(command, began)
            self.breaker.record_success()
            self._set_available(True)
            await _maybe_await(self._on_result(command, value))
            return value
        assert error is not None
        self._done(command, began)
        self.breaker.record_failure()
        # A failed probe of a device already reported unavailable says nothing new: debug, so a
        # device that is away for hours (a DTU at night) leaves one line, not one per probe.
        log.log(
            logging.DEBUG if probing else logging.WARNING,
            "%s %s failed after %d attempt(s): %s",
            self.device_id,
            command,
            tried,
            error,
        )
        if self.breaker.state is BreakerState.OPEN:
            self._set_available(False)
        if self._on_failure is not None:
            await _maybe_await(self._on_failure(command, error))
        return None

    async def _fetch_once(self, command: str) -> T:
        if self.timeout is None:
            return await self._fetch(command)
        try:
            return await asyncio.wait_for(self._fetch(command), self.timeout)
        except TimeoutError:
            raise DeviceTimeout(f"{self.device_id}: no answer to {command} within {self.timeout}s") from None

    def stalled(self, after: float) -> bool:
        """True when the loop has not come round for `after` seconds (polls are stuck)."""
        return self._clock() - self.heartbeat > after

    async def _wait(self, delay: float) -> None:
        if delay <= 0:
            await asyncio.sleep(0)  # let other device tasks run even when we are behind
        elif self._sleep is not None:
            await self._sleep(delay)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    def _done(self, command: str, began: float) -> None:
        if self._metrics is not None:
            self._metrics.poll_done(self.device_id, command, self._clock() - began)

    def _count_error(self, exc: BaseException) -> None:
        if self._metrics is not None:
            self._metrics.poll_error(self.device_id, error_kind(exc))

    def _set_available(self, available: bool) -> None:
        if self.available == available:
            return
        self.available = available
        log.info("%s is %s", self.device_id, "available" if available else "unavailable")
        if self._metrics is not None:
            self._metrics.device_up(self.device_id, available)
        if self._on_available is not None:
            self._on_available(available)


async def _maybe_await(result: object) -> None:
    if inspect.isawaitable(result):
        await result

"""Soak harness: the verdicts — what the recorded run proves, computed from the records alone.

- `delivery()`: every state a reader published (the tap's records) against the sink's points:
  lost (published, not stored), doubled (stored more than once, or stored at a `ts` its device
  never published);
- `recovery()`: after each fault clears, how long until every device's reader publishes a
  state read after that moment, against its poll interval;
- `monotonic()`: lifetime energy totals never decrease, in `ts` order;
- `energy()`: a reader's energy totals against the plant's exact integrals, summed over the
  stretches where the reader integrated without a break (a fault on its device or a restart
  of its reader ends a stretch: the design says never to integrate across such a gap);
- `rss_slope()`: memory growth per simulated hour, a pooled least-squares slope within each
  process lifetime (a restart resets memory; the level is not the question, the trend is).

Pure: no I/O, no clock, no processes.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple


class State(NamedTuple):
    """One state message as the tap received it."""

    device: str
    ts_ns: int  # its `ts`
    arrived: float  # wall clock, seconds
    retained: bool  # delivered from the broker's retained store (a copy of one seen before)
    numbers: dict[str, float]  # its numeric values by key


class TruthSample(NamedTuple):
    lifetime: int  # which run of the simulator process (a restarted plant starts from zero)
    clock: float  # wall clock of the reading, seconds
    kwh: dict[str, float]  # the plant's integrals: pv, load, grid, charge, discharge


class Cleared(NamedTuple):
    label: str  # the fault, as the schedule describes it
    kind: str
    at: float  # wall clock when the fault was over (the process back, the fault command cleared)


class Break(NamedTuple):
    """A moment at which a device's energy integration may legitimately restart."""

    device: str
    start: float  # wall clock
    end: float


# -- delivery --------------------------------------------------------------------------------


@dataclass
class Delivery:
    published: int = 0
    stored: int = 0
    lost: int = 0
    doubled: int = 0  # stored more than once
    foreign: int = 0  # stored at a ts the device never published (an altered ts)
    by_device: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # published, lost, doubled, foreign
    examples: list[str] = field(default_factory=list)


def delivery(
    states: Iterable[State],
    stored: Mapping[str, Sequence[int]],
    *,
    since_ns: int,
    until_ns: int,
    resolution_ns: int = 1,
) -> Delivery:
    """Published states with `since_ns <= ts <= until_ns` against the sink's points (ts in ns;
    `resolution_ns` is the sink's precision: 1 for InfluxDB, 1_000_000 for VictoriaMetrics)."""

    def key(ns: int) -> int:
        return ns // resolution_ns

    published: dict[str, set[int]] = defaultdict(set)
    for s in states:
        if since_ns <= s.ts_ns <= until_ns:
            published[s.device].add(key(s.ts_ns))
    out = Delivery()
    for device in sorted(set(published) | set(stored)):
        pub = published.get(device, set())
        counts: dict[int, int] = defaultdict(int)
        for ns in stored.get(device, ()):
            if since_ns <= ns <= until_ns:
                counts[key(ns)] += 1
        lost = sorted(pub - set(counts))
        doubled = sum(n - 1 for n in counts.values() if n > 1)
        foreign = sorted(set(counts) - pub)
        out.published += len(pub)
        out.stored += sum(counts.values())
        out.lost += len(lost)
        out.doubled += doubled
        out.foreign += len(foreign)
        out.by_device[device] = (len(pub), len(lost), doubled, len(foreign))
        for what, items in (("lost", lost), ("foreign", foreign)):
            out.examples += [f"{device} {what} ts={k * resolution_ns}" for k in items[:3]]
    return out


# -- recovery --------------------------------------------------------------------------------


#: What "within one poll" allows on top of the poll interval: the device's answer to the poll
#: and the MQTT hop to the tap, on a busy two-core box. A device read on schedule lands within
#: poll + this; one that waits for a second breaker period or a reconnect backoff does not.
ANSWER_SLACK = 0.5


class Recovery(NamedTuple):
    fault: str
    kind: str
    device: str
    seconds: float | None  # None: it never published again before the run ended
    poll: float

    @property
    def within_poll(self) -> bool:
        return self.seconds is not None and self.seconds <= self.poll + ANSWER_SLACK


def recovery(cleared: Iterable[Cleared], states: Sequence[State], polls: Mapping[str, float]) -> list[Recovery]:
    """For each cleared fault and each device: seconds from the clear to the arrival at the
    tap of the first state read after it (`ts` at or after the clear)."""
    by_device: dict[str, list[State]] = defaultdict(list)
    for s in states:
        if not s.retained:
            by_device[s.device].append(s)
    for items in by_device.values():
        items.sort(key=lambda s: s.arrived)
    out = []
    for c in cleared:
        for device, poll in sorted(polls.items()):
            first = next(
                (s.arrived for s in by_device.get(device, ()) if s.arrived >= c.at and s.ts_ns >= c.at * 1e9), None
            )
            seconds = None if first is None else first - c.at
            out.append(Recovery(c.label, c.kind, device, seconds, poll))
    return out


# -- monotonic counters ----------------------------------------------------------------------


class Drop(NamedTuple):
    device: str
    key: str
    ts_ns: int
    before: float
    after: float


def monotonic(states: Iterable[State], counters: Mapping[str, Sequence[str]]) -> tuple[int, list[Drop]]:
    """(values checked, every decrease) of each device's lifetime counters, in `ts` order."""
    by_device: dict[str, dict[int, State]] = defaultdict(dict)
    for s in states:
        by_device[s.device][s.ts_ns] = s
    checked = 0
    drops: list[Drop] = []
    for device, keys in counters.items():
        last: dict[str, float] = {}
        for ts in sorted(by_device.get(device, {})):
            numbers = by_device[device][ts].numbers
            for key in keys:
                if key not in numbers:
                    continue
                checked += 1
                value = numbers[key]
                if key in last and value < last[key]:
                    drops.append(Drop(device, key, ts, last[key], value))
                last[key] = max(value, last.get(key, value))
    return checked, drops


# -- energy against the plant ----------------------------------------------------------------


class EnergyCheck(NamedTuple):
    device: str
    flow: str  # the plant's name: pv, load
    key: str  # the reader's total
    reader_kwh: float  # the reader's gain over the stretches, in simulated kWh (wall kWh x speed)
    truth_kwh: float  # the plant's own integral over the same stretches
    covered: float  # seconds of wall clock the stretches span
    stretches: int

    @property
    def error(self) -> float | None:
        """Relative difference; None when the plant produced too little to compare."""
        return None if self.truth_kwh < 0.05 else (self.reader_kwh - self.truth_kwh) / self.truth_kwh


def _interpolate(samples: Sequence[TruthSample], clocks: Sequence[float], at: float, flow: str) -> float | None:
    i = bisect.bisect_left(clocks, at)
    if i == 0 or i >= len(samples):
        return None
    a, b = samples[i - 1], samples[i]
    if b.clock == a.clock:
        return a.kwh[flow]
    return a.kwh[flow] + (b.kwh[flow] - a.kwh[flow]) * (at - a.clock) / (b.clock - a.clock)


def energy(
    device: str,
    states: Iterable[State],
    truth: Sequence[TruthSample],
    flows: Mapping[str, str],
    *,
    speed: float,
    max_gap: float,
    breaks: Iterable[Break],
) -> list[EnergyCheck]:
    """`flows`: plant flow -> the reader's total key (kWh). A stretch is a run of the device's
    states (in `ts` order) with no gap over `max_gap` seconds, no break inside it, and truth
    samples of one simulator lifetime on both sides of it."""
    rows = sorted({s.ts_ns: s for s in states if s.device == device}.values(), key=lambda s: s.ts_ns)
    cuts = sorted((b.start, b.end) for b in breaks if b.device == device)
    by_life: dict[int, list[TruthSample]] = defaultdict(list)
    for sample in truth:
        by_life[sample.lifetime].append(sample)
    lives = [
        (min(t.clock for t in ts), max(t.clock for t in ts), sorted(ts, key=lambda t: t.clock))
        for ts in by_life.values()
    ]

    def life_of(at: float) -> list[TruthSample] | None:
        return next((ts for lo, hi, ts in lives if lo < at < hi), None)

    def broken(a: float, b: float) -> bool:
        return any(start <= b and end >= a for start, end in cuts)

    stretches: list[tuple[State, State, list[TruthSample]]] = []
    first: State | None = None
    prev: State | None = None
    life: list[TruthSample] | None = None
    for s in rows:
        at = s.ts_ns / 1e9
        here = life_of(at)
        if (
            prev is None
            or here is None
            or here is not life
            or at - prev.ts_ns / 1e9 > max_gap
            or broken(prev.ts_ns / 1e9, at)
        ):
            if first is not None and prev is not None and prev is not first and life is not None:
                stretches.append((first, prev, life))
            first, life = (s, here) if here is not None else (None, None)
        prev = s
    if first is not None and prev is not None and prev is not first and life is not None:
        stretches.append((first, prev, life))

    out = []
    for flow, key in flows.items():
        reader = truth_kwh = covered = 0.0
        used = 0
        for a, b, samples in stretches:
            if key not in a.numbers or key not in b.numbers:
                continue
            clocks = [x.clock for x in samples]
            t0, t1 = (
                _interpolate(samples, clocks, a.ts_ns / 1e9, flow),
                _interpolate(samples, clocks, b.ts_ns / 1e9, flow),
            )
            if t0 is None or t1 is None:
                continue
            reader += (b.numbers[key] - a.numbers[key]) * speed
            truth_kwh += t1 - t0
            covered += (b.ts_ns - a.ts_ns) / 1e9
            used += 1
        out.append(EnergyCheck(device, flow, key, reader, truth_kwh, covered, used))
    return out


# -- memory ----------------------------------------------------------------------------------


class RssSample(NamedTuple):
    service: str
    lifetime: int  # which run of the process
    clock: float  # wall clock
    mb: float
    written: int | None = None  # bytes its process group has written to storage so far (/proc/<pid>/io)


class Slope(NamedTuple):
    service: str
    mb_per_sim_hour: float | None  # None: too few samples after warm-up
    first_mb: float
    last_mb: float
    peak_mb: float
    samples: int


def rss_slope(samples: Iterable[RssSample], *, speed: float, warmup: float) -> list[Slope]:
    """Per service: the pooled within-lifetime least-squares slope of RSS against time, over
    samples at least `warmup` seconds into their lifetime, in MB per simulated hour."""
    by_service: dict[str, list[RssSample]] = defaultdict(list)
    for s in samples:
        by_service[s.service].append(s)
    out = []
    for service, items in sorted(by_service.items()):
        items.sort(key=lambda s: s.clock)
        starts: dict[int, float] = {}
        for s in items:
            starts.setdefault(s.lifetime, s.clock)
        kept: dict[int, list[RssSample]] = defaultdict(list)
        for s in items:
            if s.clock - starts[s.lifetime] >= warmup:
                kept[s.lifetime].append(s)
        sxy = sxx = 0.0
        n = 0
        for group in kept.values():
            if len(group) < 3:
                continue
            mt = sum(s.clock for s in group) / len(group)
            mm = sum(s.mb for s in group) / len(group)
            sxy += sum((s.clock - mt) * (s.mb - mm) for s in group)
            sxx += sum((s.clock - mt) ** 2 for s in group)
            n += len(group)
        slope = sxy / sxx * 3600.0 / speed if sxx > 0 and n >= 6 else None
        out.append(Slope(service, slope, items[0].mb, items[-1].mb, max(s.mb for s in items), len(items)))
    return out


def write_rates(samples: Iterable[RssSample]) -> dict[str, float]:
    """Bytes written to storage per wall-clock hour by each service, over its lifetimes."""
    spans: dict[tuple[str, int], list[RssSample]] = defaultdict(list)
    for s in samples:
        if s.written is not None:
            spans[(s.service, s.lifetime)].append(s)
    written: dict[str, float] = defaultdict(float)
    seconds: dict[str, float] = defaultdict(float)
    for (service, _), items in spans.items():
        items.sort(key=lambda s: s.clock)
        first, last = items[0], items[-1]
        if last.clock > first.clock and first.written is not None and last.written is not None:
            written[service] += max(0, last.written - first.written)
            seconds[service] += last.clock - first.clock
    return {k: written[k] * 3600.0 / seconds[k] for k in written if seconds[k] > 0}


def memory_total(samples: Iterable[RssSample], services: Iterable[str], since: float) -> tuple[float, float]:
    """(MB at the first sampling after `since`, highest MB) of `services` together, per sampling round."""
    wanted = set(services)
    rounds: dict[float, float] = defaultdict(float)
    for s in samples:
        if s.service in wanted and s.clock >= since:
            rounds[s.clock] += s.mb
    if not rounds:
        return 0.0, 0.0
    return rounds[min(rounds)], max(rounds.values())

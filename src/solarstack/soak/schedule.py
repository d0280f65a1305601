"""Soak harness: the fault schedule — which fault hits what, and when, from one seed.

`plan(seed, window, targets, profile)` returns the events of a run, sorted by time: every
fault of the profile, each on a target drawn from `Targets` (the registry's simulators,
readers, the pty devices), placed one after another with a settle time after each (so the
recovery after one fault is measured before the next begins) and random gaps between them.
The same seed, window, targets and profile give the same list, whatever machine runs it.

Pure: no I/O, no processes, no clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    UNPLUG = "unplug"  # a TCP simulator stopped, started again on the same port `duration` later
    PTY_UNPLUG = "pty-unplug"  # a pty device hangs up; a new pty appears behind the same link
    CRC = "crc"  # CRC noise: a share of the device's replies with a broken checksum, for `duration`
    NAK = "nak"  # a burst of NAKs: every reply refused, for `duration`
    SILENT = "silent"  # the device stops answering at all, for `duration`
    BROKER = "broker-restart"  # Mosquitto stopped (SIGTERM), started again `duration` later
    COLLECTOR_KILL = "collector-kill"  # SIGKILL, restarted at once (a container's restart policy)
    SINK_DOWN = "sink-down"  # the InfluxDB-compatible sink stopped for `duration` (minutes)
    WEB_RESTART = "web-restart"  # SIGTERM, started again
    READER_KILL = "reader-kill"  # SIGKILL, restarted at once


@dataclass(frozen=True)
class Event:
    at: float  # seconds after the faulted window opens (wall clock)
    kind: Kind
    target: str  # a simulator, device or reader name; "" where there is one of it (broker, sink, …)
    duration: float  # seconds the fault lasts; 0 for a kill that is restarted at once

    @property
    def ends(self) -> float:
        return self.at + self.duration

    def describe(self) -> str:
        where = f" {self.target}" if self.target else ""
        lasting = f" for {self.duration:.0f} s" if self.duration else ""
        return f"{self.kind}{where}{lasting}"


@dataclass(frozen=True)
class Targets:
    """What the faults can hit, by name (from the registry and the harness's extra devices)."""

    tcp_simulators: tuple[str, ...]  # stopped and started on the same port
    controlled_devices: tuple[str, ...]  # devices whose simulator has a control port (crc, nak, silence)
    pty_devices: tuple[str, ...]  # devices on a pty (hang-up and re-plug)
    readers: tuple[str, ...]  # reader services (SIGKILL)


@dataclass(frozen=True)
class Profile:
    """How many faults of each kind and how long they last (seconds of wall clock)."""

    rounds: int = 2  # each round: every kind once, unplug once per TCP simulator, kill once per reader
    every_simulator: bool = True  # False: one unplug per round, of a drawn simulator
    every_reader: bool = True  # False: one reader kill per round, of a drawn reader
    unplug: tuple[float, float] = (6.0, 20.0)  # duration drawn from this range
    noise: tuple[float, float] = (10.0, 30.0)  # crc, nak and silence
    broker: tuple[float, float] = (2.0, 8.0)
    sink: tuple[float, float] = (120.0, 240.0)  # "down for minutes"
    settle: float = 20.0  # quiet time after each fault ends, before the next may begin


FULL = Profile()
#: The CI form: every kind of fault once and every simulator unplugged (each reader's own way
#: back from a lost device is the likeliest to be slow), short outages, a few minutes in all.
SHORT = Profile(
    rounds=1,
    every_reader=False,
    unplug=(4.0, 6.0),
    noise=(4.0, 6.0),
    broker=(2.0, 3.0),
    sink=(25.0, 30.0),
    settle=8.0,
)


def _faults(rng: random.Random, targets: Targets, profile: Profile) -> list[tuple[Kind, str, float]]:
    def span(bounds: tuple[float, float]) -> float:
        return round(rng.uniform(*bounds), 1)

    faults: list[tuple[Kind, str, float]] = []
    for _ in range(profile.rounds):
        sims = targets.tcp_simulators if profile.every_simulator else (rng.choice(targets.tcp_simulators),)
        faults += [(Kind.UNPLUG, sim, span(profile.unplug)) for sim in sims]
        faults += [(Kind.PTY_UNPLUG, dev, 0.0) for dev in targets.pty_devices]
        for kind in (Kind.CRC, Kind.NAK, Kind.SILENT):
            if targets.controlled_devices:
                faults.append((kind, rng.choice(targets.controlled_devices), span(profile.noise)))
        faults.append((Kind.BROKER, "", span(profile.broker)))
        faults.append((Kind.COLLECTOR_KILL, "", 0.0))
        faults.append((Kind.SINK_DOWN, "", span(profile.sink)))
        faults.append((Kind.WEB_RESTART, "", 0.0))
        readers = targets.readers if profile.every_reader else (rng.choice(targets.readers),)
        faults += [(Kind.READER_KILL, reader, 0.0) for reader in readers]
    rng.shuffle(faults)
    return faults


def needed(targets: Targets, profile: Profile, seed: int = 0) -> float:
    """Seconds the profile's faults and settle times take back to back (the shortest window)."""
    return sum(d + profile.settle for _, _, d in _faults(random.Random(seed), targets, profile))


def plan(seed: int, window: float, targets: Targets, profile: Profile = FULL) -> list[Event]:
    """The events of one run: none overlaps another or its settle time; all end inside `window`."""
    rng = random.Random(seed)
    faults = _faults(rng, targets, profile)
    busy = sum(d + profile.settle for _, _, d in faults)
    free = window - busy
    if free < 0:
        raise ValueError(
            f"the faults need {busy:.0f} s back to back but the window is {window:.0f} s:"
            " run longer or use fewer faults"
        )
    # Random gaps before each fault and after the last, summing to the free time.
    weights = [rng.expovariate(1.0) for _ in range(len(faults) + 1)]
    scale = free / sum(weights)
    events: list[Event] = []
    t = 0.0
    for (kind, target, duration), weight in zip(faults, weights, strict=False):
        t += weight * scale
        events.append(Event(round(t, 1), kind, target, duration))
        t += duration + profile.settle
    return events

"""Fixtures for transport tests: a real raw pty pair the test drives from the master side."""

from __future__ import annotations

import os
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest


@dataclass
class PtyPair:
    master: int
    slave: int
    path: str

    def close(self) -> None:
        """Unplug: close both sides (once — a closed fd number may be reused by then)."""
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def fd_count() -> Callable[[], int]:
    """How many descriptors this process holds right now (leak checks)."""
    return open_fds


@pytest.fixture
def pty_pair() -> Iterator[PtyPair]:
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo, no line discipline: what a device node gives
    pair = PtyPair(master, slave, os.ttyname(slave))
    yield pair
    pair.close()

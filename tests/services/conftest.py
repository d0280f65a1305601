"""Fixtures of the reader tests: the inverter simulator over a real pty."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reader_support import Sim, sim_process


@pytest.fixture
def sim(wait_for: Any) -> Iterator[Sim]:
    yield from sim_process(wait_for)

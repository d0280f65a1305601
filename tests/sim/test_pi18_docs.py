"""docs/inverter-protocols.md lists every query and setting of the PI families the reader
supports (PI30, PI18, PI17, PI16, PI41), taken from the codecs: a command added to a table and not
to the page fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from solarstack.devices.registry import FAMILIES
from solarstack.protocols import pi16, pi17, pi18, pi30, pi41

PAGE = Path(__file__).resolve().parents[2] / "docs" / "inverter-protocols.md"
CODECS = {"pi30": pi30, "pi18": pi18, "pi17": pi17, "pi16": pi16, "pi41": pi41}


def words() -> set[str]:
    return set(re.findall(r"[A-Za-z0-9_]+", PAGE.read_text()))


@pytest.mark.parametrize("family", sorted(CODECS))
def test_every_query_and_setting_is_documented(family: str) -> None:
    codec = CODECS[family]
    assert family in FAMILIES  # the page documents families the registry serves
    known = words()
    queries = {c.name for c in codec.COMMANDS.values() if c.read_only}
    # PI16 has no setters: no SETTINGS
    settings = {s.key for s in (*getattr(codec, "SETTINGS", ()), *getattr(codec, "ACTIONS", ()))}
    assert not queries - known, f"{family} queries missing from {PAGE.name}: {sorted(queries - known)}"
    assert not settings - known, f"{family} settings missing from {PAGE.name}: {sorted(settings - known)}"
    assert f"{family}+serial:///dev/ttyUSB0" in PAGE.read_text()

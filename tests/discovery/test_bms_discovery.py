"""Every BMS / shunt field table (JK BLE and serial, Daly, VE.Direct) makes discovery HA accepts.

The tables belong to their codecs; this file judges what discovery makes of them with Home
Assistant 2024.1.6's validators and template engine, against a state message holding a
plausible value for every key (arrays announced as 16 cells, reported with 16).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from ha_venv import HaChecker, ha_python

from solarstack.core.discovery import DeviceInfo, build_device_discovery
from solarstack.core.fields import Field, FieldTable, Kind, Value
from solarstack.protocols import daly, jk02, jkserial, vedirect

pytestmark = pytest.mark.timeout(3600)  # first use on CI builds the HA venv

TABLES: dict[str, FieldTable] = {
    "jk02": (*jk02.CELL_INFO_32, *jk02.DEVICE_INFO),
    "jk02_24": jk02.CELL_INFO_24,
    "jkserial": jkserial.READ_ALL,
    "daly": daly.ALL_FIELDS,
    "vedirect": vedirect.FIELDS,
}
CELLS = 16


@pytest.fixture(scope="module", params=["2024.1", "2025.4"])
def ha_check(request: pytest.FixtureRequest) -> Iterator[HaChecker]:
    """Home Assistant's validators: 2024.1 (oldest we serve) and 2025.4 (parses device mode)."""
    checker = HaChecker(ha_python(request.param))
    yield checker
    checker.close()


def sample(f: Field) -> Value:
    if f.kind is Kind.ENUM:
        return next(iter(f.options.values())) if f.options else "x"
    if f.kind is Kind.BOOL:
        return False
    if f.kind is Kind.TEXT:
        return "JK_B2A24S15P"
    if f.kind is Kind.ARRAY:
        return [3.3 + i / 1000 for i in range(CELLS)]
    return 12.5 if f.kind is Kind.FLOAT else 7


@pytest.mark.parametrize("protocol", sorted(TABLES))
def test_every_field_passes_home_assistant(ha_check, protocol):
    fields = TABLES[protocol]
    device = DeviceInfo("pack1", "Pack 1", model=protocol)
    sizes = {f.key: CELLS for f in fields if f.kind is Kind.ARRAY}
    messages = build_device_discovery(
        "solarstack", "homeassistant", device, fields, (), origin_version="0.1.0", array_sizes=sizes
    )
    state = {"ts": "2026-06-01T10:00:00Z", **{f.key: sample(f) for f in fields}}
    results = ha_check(messages, {"solarstack/pack1/state": json.dumps(state)})
    assert len(results) >= len({f.key for f in fields})
    assert [(r["object_id"], r["errors"]) for r in results if r["errors"]] == []

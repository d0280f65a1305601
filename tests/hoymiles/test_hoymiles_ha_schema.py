"""The DTU's and a microinverter's discovery judged by real Home Assistant code (2024.1 and
2025.4, tests/discovery/ha_venv.py): every entity valid — the held kWh counters as
total_increasing energy, the power limit as a number with its read-back — and each template
renders our state."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_hoymiles_codec import sample_answer

from solarstack.core.device_url import parse_device_url
from solarstack.core.discovery import DeviceInfo, build_device_discovery, build_entity_discovery
from solarstack.devices.hoymiles import TOTALS_FIELDS, open_device, unit_fields
from solarstack.protocols import hoymiles as proto

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "discovery"))
from ha_venv import HaChecker, ha_python

pytestmark = pytest.mark.timeout(3600)


@pytest.fixture(scope="module", params=["2024.1", "2025.4"])
def ha_check(request: pytest.FixtureRequest) -> Iterator[HaChecker]:
    checker = HaChecker(ha_python(request.param))
    yield checker
    checker.close()


@pytest.mark.parametrize("mode", ["device", "entity"])
def test_every_dtu_and_microinverter_entity_passes_home_assistant_validation(ha_check: HaChecker, mode: str) -> None:
    device = open_device(parse_device_url("hoymiles+tcp://192.0.2.1?name=roof"))
    reading = device.reading(proto.decode(sample_answer()), datetime(2026, 12, 2, 11, tzinfo=UTC))
    (unit,) = reading.units
    build = build_device_discovery if mode == "device" else build_entity_discovery
    dtu_state = {"ts": "2026-12-02T11:00:00.000Z", **reading.values, "pv_power": 452.3, "pv_energy": 1512.346}
    dtu_state |= {"ac_power": 437.1, "pv_energy_today": 1.234}
    messages = build(
        "solarstack",
        "homeassistant",
        DeviceInfo("roof", "Roof", "Hoymiles", "DTU-W100/DTU-Lite-S", serial_number="413212345678"),
        device.table(proto.COMMAND) + TOTALS_FIELDS,
        device.settings(),
        origin_version="test",
    )
    messages += build(
        "solarstack",
        "homeassistant",
        DeviceInfo(unit.device, "Roof 114412345678", "Hoymiles", "HMS-1000-2T", via_device="roof"),
        unit_fields((1, 2)),
        (),
        origin_version="test",
    )
    states = {
        "solarstack/roof/state": json.dumps(dtu_state),
        f"solarstack/{unit.device}/state": json.dumps({"ts": dtu_state["ts"], **unit.values}),
    }
    results = ha_check(messages, states)
    for r in results:
        assert r["errors"] == [], (r["object_id"], r["errors"])
        assert set(r["dropped"]) <= {"default_entity_id", "options"}, (r["object_id"], r["dropped"])
    by_id = {r["object_id"]: r for r in results}
    limit = by_id["set_power_limit_114412345678"]["config"]
    assert (limit["min"], limit["max"], limit["step"]) == (2, 100, 1)
    assert by_id["pv1_energy"]["config"]["state_class"] == "total_increasing"
    assert by_id["pv_energy_today"]["config"]["device_class"] == "energy"
    assert float(by_id["pv1_power"]["rendered"]) == pytest.approx(227.8)

"""Every PI17 field, energy counter and setting, as the PI17 device class offers them, makes
discovery Home Assistant accepts (its own validators and template engine, 2024.1 and 2025.4:
tests/discovery/ha_venv.py), for a state holding a value for every key and one holding none.

The PI18 twin is test_pi18_discovery.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from ha_venv import HaChecker, ha_python

from solarstack.core.device_url import parse_device_url
from solarstack.core.discovery import DeviceInfo, build_device_discovery, build_entity_discovery, entities
from solarstack.core.fields import Field, Kind, Setting, Value
from solarstack.devices.pi17 import open_device
from solarstack.protocols import pi17

pytestmark = pytest.mark.timeout(3600)  # first use on CI builds the HA venv

DEVICE = DeviceInfo(
    "inverter1", "Inverter 1", "Voltronic Power", "PI17 inverter 5000 VA", "00001.01", serial_number="1"
)
STATE_TOPIC = "solarstack/inverter1/state"


@pytest.fixture(scope="module", params=["2024.1", "2025.4"])
def ha_check(request: pytest.FixtureRequest) -> Iterator[HaChecker]:
    checker = HaChecker(ha_python(request.param))
    yield checker
    checker.close()


def device_fields() -> tuple[Field, ...]:
    """Every query's rows (what INVERTER_COMMANDS may poll) and the device's energy rows."""
    dev = open_device(parse_device_url("pi17+tcp://127.0.0.1:9?name=inverter1"))  # built, never opened
    rows = {f.key: f for cmd in pi17.COMMANDS.values() if cmd.read_only for f in cmd.fields}  # MD repeats PIRI's
    return (*rows.values(), *(f for c in dev.counters() for f in c.fields()))


def sample(f: Field, settings: dict[str, Setting]) -> Value:
    setting = settings.get(f.key)
    if f.kind is Kind.ENUM:
        return next(iter(f.options.values())) if f.options else "x"
    if f.kind is Kind.BOOL:
        return True
    if f.kind is Kind.TEXT:
        return "00001.01"
    if setting is not None and setting.minimum is not None and setting.maximum is not None:
        return round((setting.minimum + setting.maximum) / 2, 1)
    return 230.0 if f.kind is Kind.FLOAT else 12


def full_state(settings: tuple[Setting, ...]) -> dict[str, Value]:
    by_readback = {s.readback: s for s in settings if s.readback}
    state: dict[str, Value] = {"ts": "2026-06-01T10:00:00Z"}
    for f in device_fields():
        state.setdefault(f.key, sample(f, by_readback))
    return state


def build(mode: str, settings: tuple[Setting, ...]) -> list[tuple[str, str]]:
    builder = build_device_discovery if mode == "device" else build_entity_discovery
    return builder("solarstack", "homeassistant", DEVICE, device_fields(), settings, origin_version="0.1.0")


def test_every_setting_reads_back_a_field_the_tables_define() -> None:
    keys = {f.key for f in device_fields()}
    assert [(s.key, s.readback) for s in pi17.SETTINGS if s.readback not in keys] == []


@pytest.mark.parametrize("mode", ["device", "entity"])
def test_every_pi17_entity_passes_home_assistant(ha_check: HaChecker, mode: str) -> None:
    settings = pi17.SETTINGS
    expected = entities("solarstack", "inverter1", device_fields(), settings)
    results = ha_check(build(mode, settings), {STATE_TOPIC: json.dumps(full_state(settings))})
    assert len(results) == len(expected) > 100
    assert [(r["object_id"], r["errors"], r["rendered"]) for r in results if r["errors"]] == []
    assert [(r["object_id"], r["rendered"]) for r in results if r["rendered"] in ("", "None")] == []


def test_an_empty_reading_leaves_every_entity_unknown_not_broken(ha_check: HaChecker) -> None:
    state = {"ts": "2026-06-01T10:00:00Z", **{f.key: None for f in device_fields()}}
    results = ha_check(build("device", pi17.SETTINGS), {STATE_TOPIC: json.dumps(state)})
    assert [(r["object_id"], r["errors"]) for r in results if r["errors"]] == []
    assert {r["rendered"] for r in results if r["rendered"] is not None} == {"None"}


def test_settings_fitted_to_the_units_ranges_pass(ha_check: HaChecker) -> None:
    ctx = pi17.Pi17Context(charge_voltage_range=(48.0, 58.4), charging_current_range=(10.0, 120.0))
    fitted = pi17.settings_for(ctx)
    results = ha_check(build("device", fitted), {STATE_TOPIC: json.dumps(full_state(fitted))})
    numbers = {r["object_id"]: r["config"] for r in results if r["component"] == "number"}
    assert numbers["set_battery_float_voltage"]["max"] == 58.4
    assert numbers["set_max_charging_current"]["min"] == 10.0
    selects = {r["object_id"]: r["rendered"] for r in results if r["component"] == "select"}
    assert selects["set_solar_power_priority"] == "battery_load_utility"
    assert selects["set_feed_to_grid"] == "ON"
    assert [(r["object_id"], r["errors"]) for r in results if r["errors"]] == []

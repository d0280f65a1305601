"""Every PI30 field and setting (the protocol's own tables) makes discovery HA accepts.

The tables belong to protocols/pi30; this file judges only what discovery makes of them,
with Home Assistant 2024.1.6's validators and template engine (see test_ha_schema.py),
against a state message holding a plausible value for every key, and one holding none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from ha_venv import HaChecker, ha_python

from solarstack.core.discovery import DeviceInfo, build_device_discovery, build_entity_discovery, entities
from solarstack.core.fields import Field, Kind, Setting, Value
from solarstack.protocols.pi30.energy import PI30_COUNTERS

commands = pytest.importorskip("solarstack.protocols.pi30.commands")
setters = pytest.importorskip("solarstack.protocols.pi30.setters")

pytestmark = pytest.mark.timeout(3600)  # first use on CI builds the HA venv


@pytest.fixture(scope="module", params=["2024.1", "2025.4"])
def ha_check(request: pytest.FixtureRequest) -> Iterator[HaChecker]:
    """Home Assistant's validators: 2024.1 (oldest we serve) and 2025.4 (parses device mode)."""
    checker = HaChecker(ha_python(request.param))
    yield checker
    checker.close()


DEVICE = DeviceInfo("inverter1", "Inverter 1", "Voltronic", "Axpert", "0.1", serial_number="92512208100123")
STATE_TOPIC = "solarstack/inverter1/state"


def pi30_fields() -> tuple[Field, ...]:
    """Every query's rows, as the inverter service may publish them, plus its energy rows."""
    rows = [f for cmd in commands.COMMANDS.values() if cmd.read_only for f in cmd.fields]
    return (*rows, *(f for c in PI30_COUNTERS for f in c.fields()))


def pi30_settings() -> tuple[Setting, ...]:
    return tuple(setters.SETTINGS)


def sample(f: Field, settings: dict[str, Setting]) -> Value:
    """A value the device could report for row `f`."""
    setting = settings.get(f.key)
    if f.kind is Kind.ENUM:
        return next(iter(f.options.values())) if f.options else "x"
    if f.kind is Kind.BOOL:
        return True
    if f.kind is Kind.TEXT:
        return "00072.70"
    if f.kind is Kind.ARRAY:
        return [10, 20, 30]
    if setting is not None and setting.minimum is not None and setting.maximum is not None:
        return round((setting.minimum + setting.maximum) / 2, 1)  # inside the number's range
    if f.key == "rated_ac_output_frequency":
        return 50.0
    return 230.0 if f.kind is Kind.FLOAT else 12


def full_state(settings: tuple[Setting, ...] | None = None) -> dict[str, Value]:
    by_readback = {s.readback: s for s in (settings or pi30_settings()) if s.readback}
    state: dict[str, Value] = {"ts": "2026-06-01T10:00:00Z"}
    for f in pi30_fields():
        state.setdefault(f.key, sample(f, by_readback))
    return state


def build(mode: str, settings: tuple[Setting, ...] | None = None) -> list[tuple[str, str]]:
    builder = build_device_discovery if mode == "device" else build_entity_discovery
    rows = pi30_settings() if settings is None else settings
    return builder("solarstack", "homeassistant", DEVICE, pi30_fields(), rows, origin_version="0.1.0")


def test_every_select_reads_back_a_field_the_tables_define():
    keys = {f.key for f in pi30_fields()}
    missing = [(s.key, s.readback) for s in pi30_settings() if s.readback and s.readback not in keys]
    assert missing == []


@pytest.mark.parametrize("mode", ["device", "entity"])
def test_every_pi30_entity_passes_home_assistant(ha_check, mode):
    expected = entities("solarstack", "inverter1", pi30_fields(), pi30_settings())
    results = ha_check(build(mode), {STATE_TOPIC: json.dumps(full_state())})
    assert len(results) == len(expected) > 200
    problems = [(r["object_id"], r["errors"], r["rendered"]) for r in results if r["errors"]]
    assert problems == []
    assert all(r["rendered"] not in (None, "", "None") for r in results if r["config"].get("state_topic")), [
        (r["object_id"], r["rendered"]) for r in results if r["rendered"] in ("", "None")
    ]


def test_an_empty_reading_leaves_every_entity_unknown_not_broken(ha_check):
    state = {"ts": "2026-06-01T10:00:00Z", **{f.key: None for f in pi30_fields()}}
    results = ha_check(build("device"), {STATE_TOPIC: json.dumps(state)})
    assert [(r["object_id"], r["errors"]) for r in results if r["errors"]] == []
    assert {r["rendered"] for r in results if r["rendered"] is not None} == {"None"}


def test_flag_and_frequency_selects_show_the_option_the_device_reads_back(ha_check):
    state = {**full_state(), "buzzer": False, "rated_ac_output_frequency": 60.0}
    got = {r["object_id"]: r["rendered"] for r in ha_check(build("device"), {STATE_TOPIC: json.dumps(state)})}
    assert got["set_buzzer"] == "OFF"
    assert got["set_output_frequency"] == "60"
    assert got["set_output_source_priority"] == state["output_source_priority"]


@pytest.mark.parametrize("nominal", [12.0, 24.0, 48.0])
def test_settings_narrowed_to_the_unit_pass(ha_check, nominal):
    ctx = setters.Pi30Context(
        nominal_battery_voltage=nominal,
        max_charging_currents=(10, 20, 30, 40, 50, 60),
        max_utility_charging_currents=(2, 10, 20, 30),
    )
    narrowed = setters.settings_for(ctx)
    results = ha_check(build("device", narrowed), {STATE_TOPIC: json.dumps(full_state(narrowed))})
    numbers = {r["object_id"]: r["config"] for r in results if r["component"] == "number"}
    assert numbers["set_battery_float_voltage"]["max"] == pytest.approx(58.4 * nominal / 48.0, abs=0.05)
    assert [(r["object_id"], r["errors"]) for r in results if r["errors"]] == []


@pytest.mark.parametrize("allow_destructive", [False, True])
def test_restore_defaults_is_discovered_only_when_enabled(ha_check, allow_destructive):
    """Issue 8 item 1: what a reader offers is its device's settings(); restore defaults
    (a factory reset) is among them only with INVERTER_ALLOW_DESTRUCTIVE. Either way HA
    accepts every entity. (The device is built, never opened: no I/O.)"""
    from solarstack.core.device_url import parse_device_url
    from solarstack.devices.pi30 import open_device

    device = open_device(parse_device_url("pi30+tcp://127.0.0.1:9?name=inverter1"), allow_destructive=allow_destructive)
    results = ha_check(build("device", device.settings()), {STATE_TOPIC: json.dumps(full_state())})
    ids = {r["object_id"] for r in results}
    assert ("set_restore_defaults" in ids) is allow_destructive
    assert "set_save_settings" in ids
    assert [(r["object_id"], r["errors"]) for r in results if r["errors"]] == []

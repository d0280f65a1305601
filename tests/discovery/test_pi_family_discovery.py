"""Every PI17, PI18 and PI41 field, derived figure, energy counter and setting, as the family's
device class offers them, makes discovery Home Assistant accepts (its own validators and
template engine, 2024.1 and 2025.4: tests/discovery/ha_venv.py), for a state holding a value
for every key and one holding none. One test over the families (`FAMILIES`); what only one
family has (PI41's two lines, PI17's and PI18's fitted ranges) is tested below them.
The PI30 twin is test_pi30_discovery.py.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType

import pytest
from ha_venv import HaChecker, ha_python

from solarstack.core.device_url import parse_device_url
from solarstack.core.discovery import DeviceInfo, build_device_discovery, build_entity_discovery, entities
from solarstack.core.fields import Field, Kind, Setting, Value
from solarstack.protocols import pi17, pi18, pi41

pytestmark = pytest.mark.timeout(3600)  # first use on CI builds the HA venv

STATE_TOPIC = "solarstack/inverter1/state"


@dataclass(frozen=True)
class Family:
    """One family's device under test and the sample values its state holds."""

    protocol: ModuleType
    model: str
    firmware: str  # every TEXT field's sample
    mains: float  # every other FLOAT field's sample
    settings: tuple[Setting, ...]
    #: A key several queries share keeps its first query's row (PI18 keeps GS's and PGSn's).
    one_row_per_key: bool = True
    samples: Mapping[str, Value] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.protocol.__name__.rpartition(".")[2]

    @property
    def device(self) -> DeviceInfo:
        return DeviceInfo("inverter1", "Inverter 1", "Voltronic Power", self.model, self.firmware, serial_number="1")


FAMILIES = {
    "pi17": Family(pi17, "PI17 inverter 5000 VA", "00001.01", 230.0, pi17.SETTINGS),
    "pi18": Family(pi18, "PI18 inverter 5000 VA", "05220", 230.0, pi18.SETTINGS, one_row_per_key=False),
    "pi41": Family(
        pi41,
        "LV5048",
        "00072.70",
        120.0,
        (*pi41.SETTINGS, *pi41.ACTIONS),
        samples={"rated_ac_output_frequency": 60.0},  # the output_frequency select's read-back: an option
    ),
}


@pytest.fixture(scope="module", params=["2024.1", "2025.4"])
def ha_check(request: pytest.FixtureRequest) -> Iterator[HaChecker]:
    checker = HaChecker(ha_python(request.param))
    yield checker
    checker.close()


def device_fields(family: Family) -> tuple[Field, ...]:
    """Every query's rows as the device gives them (what INVERTER_COMMANDS may poll, with the
    rows it derives) and its energy rows."""
    devices = importlib.import_module(f"solarstack.devices.{family.name}")
    dev = devices.open_device(parse_device_url(f"{family.name}+tcp://127.0.0.1:9?name=inverter1"))  # never opened
    rows = [f for cmd in family.protocol.COMMANDS.values() if cmd.read_only for f in dev.table(cmd.text)]
    if family.one_row_per_key:
        first: dict[str, Field] = {}
        for f in rows:
            first.setdefault(f.key, f)
        rows = list(first.values())
    return (*rows, *(f for c in dev.counters() for f in c.fields()))


def sample(family: Family, f: Field, settings: dict[str, Setting]) -> Value:
    setting = settings.get(f.key)
    if f.kind is Kind.ENUM:
        return next(iter(f.options.values())) if f.options else "x"
    if f.kind is Kind.BOOL:
        return True
    if f.kind is Kind.TEXT:
        return family.firmware
    if f.kind is Kind.ARRAY:
        return [10, 20, 30]
    if f.key in family.samples:
        return family.samples[f.key]
    if setting is not None and setting.minimum is not None and setting.maximum is not None:
        return round((setting.minimum + setting.maximum) / 2, 1)
    return family.mains if f.kind is Kind.FLOAT else 12


def full_state(family: Family, settings: tuple[Setting, ...]) -> dict[str, Value]:
    by_readback = {s.readback: s for s in settings if s.readback}
    state: dict[str, Value] = {"ts": "2026-06-01T10:00:00Z"}
    for f in device_fields(family):
        state.setdefault(f.key, sample(family, f, by_readback))
    return state


def build(family: Family, mode: str, settings: tuple[Setting, ...]) -> list[tuple[str, str]]:
    builder = build_device_discovery if mode == "device" else build_entity_discovery
    fields = device_fields(family)
    return builder("solarstack", "homeassistant", family.device, fields, settings, origin_version="0.1.0")


@pytest.mark.parametrize("name", FAMILIES)
def test_every_setting_reads_back_a_field_the_tables_define(name: str) -> None:
    family = FAMILIES[name]
    keys = {f.key for f in device_fields(family)}
    assert [(s.key, s.readback) for s in family.protocol.SETTINGS if s.readback not in keys] == []


@pytest.mark.parametrize("mode", ["device", "entity"])
@pytest.mark.parametrize("name", FAMILIES)
def test_every_entity_passes_home_assistant(ha_check: HaChecker, name: str, mode: str) -> None:
    family = FAMILIES[name]
    expected = entities("solarstack", "inverter1", device_fields(family), family.settings)
    state = full_state(family, family.settings)
    results = ha_check(build(family, mode, family.settings), {STATE_TOPIC: json.dumps(state)})
    assert len(results) == len(expected) > 100
    assert [(r["object_id"], r["errors"], r["rendered"]) for r in results if r["errors"]] == []
    assert [(r["object_id"], r["rendered"]) for r in results if r["rendered"] in ("", "None")] == []


@pytest.mark.parametrize("name", FAMILIES)
def test_an_empty_reading_leaves_every_entity_unknown_not_broken(ha_check: HaChecker, name: str) -> None:
    family = FAMILIES[name]
    state = {"ts": "2026-06-01T10:00:00Z", **{f.key: None for f in device_fields(family)}}
    results = ha_check(build(family, "device", family.settings), {STATE_TOPIC: json.dumps(state)})
    assert [(r["object_id"], r["errors"]) for r in results if r["errors"]] == []
    assert {r["rendered"] for r in results if r["rendered"] is not None} == {"None"}


def test_pi41_has_one_load_power_and_two_pv_powers() -> None:
    roles: dict[str, list[str]] = {}
    for f in device_fields(FAMILIES["pi41"]):
        if f.role:
            roles.setdefault(f.role, []).append(f.key)
    assert roles["load_power"] == ["load_power"]
    assert roles["pv_power"] == ["pv_input_power", "pv2_input_power"]


@pytest.mark.parametrize("nominal", [12.0, 24.0, 48.0])
def test_pi18_settings_fitted_to_the_unit_pass(ha_check: HaChecker, nominal: float) -> None:
    family = FAMILIES["pi18"]
    ctx = pi18.Pi18Context(
        nominal_battery_voltage=nominal,
        max_charging_currents=(10, 20, 30, 40, 50, 60),
        max_utility_charging_currents=(2, 10, 20, 30),
    )
    fitted = pi18.settings_for(ctx)
    results = ha_check(build(family, "device", fitted), {STATE_TOPIC: json.dumps(full_state(family, fitted))})
    numbers = {r["object_id"]: r["config"] for r in results if r["component"] == "number"}
    assert numbers["set_battery_float_voltage"]["max"] == pytest.approx(58.4 * nominal / 48.0, abs=0.05)
    assert numbers["set_max_utility_charging_current"]["max"] == 30
    selects = {r["object_id"]: r["rendered"] for r in results if r["component"] == "select"}
    assert selects["set_output_source_priority"] == "solar_utility_battery"
    assert selects["set_buzzer"] == "ON"
    assert [(r["object_id"], r["errors"]) for r in results if r["errors"]] == []


def test_pi17_settings_fitted_to_the_units_ranges_pass(ha_check: HaChecker) -> None:
    family = FAMILIES["pi17"]
    ctx = pi17.Pi17Context(charge_voltage_range=(48.0, 58.4), charging_current_range=(10.0, 120.0))
    fitted = pi17.settings_for(ctx)
    results = ha_check(build(family, "device", fitted), {STATE_TOPIC: json.dumps(full_state(family, fitted))})
    numbers = {r["object_id"]: r["config"] for r in results if r["component"] == "number"}
    assert numbers["set_battery_float_voltage"]["max"] == 58.4
    assert numbers["set_max_charging_current"]["min"] == 10.0
    selects = {r["object_id"]: r["rendered"] for r in results if r["component"] == "select"}
    assert selects["set_solar_power_priority"] == "battery_load_utility"
    assert selects["set_feed_to_grid"] == "ON"
    assert [(r["object_id"], r["errors"]) for r in results if r["errors"]] == []

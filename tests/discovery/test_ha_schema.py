"""Our discovery judged by real Home Assistant (2024.1.6) code: schemas, unit rules, templates.

ha_schema_check.py runs in HA's own venv; it validates every entity with the platform's
DISCOVERY_SCHEMA, applies HA's device_class/unit/state_class tables, and renders each
value template with HA's template engine against a state message shaped like ours.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from ha_venv import HaChecker, ha_python

from solarstack.core.discovery import DeviceInfo, build_device_discovery, build_entity_discovery, with_removals
from solarstack.core.energy import EnergyCounters
from solarstack.core.fields import UNITS, Field, Kind, Setting
from solarstack.protocols.pi30.energy import PI30_COUNTERS

# Building the venv on CI (first use) takes minutes; afterwards each test takes ~1 s.
pytestmark = pytest.mark.timeout(3600)


@pytest.fixture(scope="module", params=["2024.1", "2025.4"])
def ha_check(request: pytest.FixtureRequest) -> Iterator[HaChecker]:
    """Home Assistant's validators: 2024.1 (oldest we serve) and 2025.4 (parses device mode)."""
    checker = HaChecker(ha_python(request.param))
    yield checker
    checker.close()


DEVICE = DeviceInfo("inverter1", "Inverter 1", "Voltronic", "Axpert MKS", "0.1", serial_number="92512")
STATE_TOPIC = "solarstack/inverter1/state"

FIELDS = (
    Field("battery_voltage", 0, Kind.FLOAT, "V"),
    Field("battery_capacity", 1, Kind.INT, "%", device_class="battery"),
    Field("ac_output_load", 2, Kind.INT, "%"),
    Field("device_mode", 3, Kind.ENUM, options={"L": "Line", "B": "Battery"}),
    Field("serial_number", 4, Kind.TEXT, diagnostic=True),
    Field("load_on", 5, Kind.BOOL, bit=0),
    Field("warning_over_temperature", 6, Kind.BOOL, bit=1, device_class="problem", diagnostic=True),
    Field("cell_voltage", 7, Kind.ARRAY, "V"),
    Field("pv_energy", unit="kWh", device_class="energy", state_class="total_increasing"),
    Field("heat_sink_temperature", 8, Kind.INT, "°C", diagnostic=True, icon="mdi:thermometer"),
)
SETTINGS = (
    Setting("output_source_priority", "Output source priority", options=("UTI", "SOL", "SBU"), readback="osp"),
    Setting("bulk_voltage", "Bulk voltage", minimum=48.0, maximum=58.4, step=0.1, unit="V", readback="bv"),
    Setting("max_charging_current", "Max charging current", minimum=10, maximum=120, step=10, unit="A"),
)
STATE = {
    "ts": "2026-06-01T10:00:00Z",
    "battery_voltage": 52.31,
    "battery_capacity": 87,
    "ac_output_load": 12,
    "device_mode": "Battery",
    "serial_number": "92512208100123",
    "load_on": True,
    "warning_over_temperature": False,
    "cell_voltage": [3.301, 3.305, 3.299],  # one element fewer than announced
    "pv_energy": 1234.5,
    "heat_sink_temperature": None,  # the device did not report it this time
    "osp": "SBU",
    "bv": 56.4,
}


def build(mode: str, fields=FIELDS, settings=SETTINGS) -> list[tuple[str, str]]:
    builder = build_device_discovery if mode == "device" else build_entity_discovery
    return builder(
        "solarstack", "homeassistant", DEVICE, fields, settings, origin_version="0.1.0", array_sizes={"cell_voltage": 4}
    )


def by_object(results: list[dict]) -> dict[str, dict]:
    return {r["object_id"]: r for r in results}


@pytest.mark.parametrize("mode", ["device", "entity"])
def test_every_entity_passes_home_assistant_validation(ha_check, mode):
    results = ha_check(build(mode), {STATE_TOPIC: json.dumps(STATE)})
    assert len(results) == 9 + 4 + 3  # nine plain fields, four cells, three settings
    for r in results:
        assert not r["removed"]
        assert r["errors"] == [], (r["object_id"], r["errors"])
        # only keys newer than 2024.1 may be dropped, never a typo
        assert set(r["dropped"]) <= {"default_entity_id", "options"}, r["object_id"]


@pytest.mark.parametrize("mode", ["device", "entity"])
def test_home_assistant_reads_our_config_as_intended(ha_check, mode):
    got = by_object(ha_check(build(mode), {STATE_TOPIC: json.dumps(STATE)}))
    bv = got["battery_voltage"]["config"]
    assert bv["unique_id"] == "solarstack_inverter1_battery_voltage"
    assert bv["default_entity_id"] == "sensor.inverter1_battery_voltage"
    assert (bv["device_class"], bv["unit_of_measurement"], bv["state_class"]) == ("voltage", "V", "measurement")
    assert bv["state_topic"] == STATE_TOPIC
    assert bv["availability_topic"] == "solarstack/inverter1/availability"
    assert (bv["payload_available"], bv["payload_not_available"]) == ("online", "offline")
    assert bv["device"]["identifiers"] == ["solarstack_inverter1"]
    assert bv["device"]["manufacturer"] == "Voltronic"
    assert bv["origin"]["name"] == "solarstack"
    assert got["heat_sink_temperature"]["config"]["entity_category"] == "diagnostic"
    assert got["pv_energy"]["config"]["state_class"] == "total_increasing"
    sel = got["set_output_source_priority"]["config"]
    assert sel["command_topic"] == "solarstack/inverter1/set/output_source_priority"
    assert sel["options"] == ["UTI", "SOL", "SBU"] and sel["entity_category"] == "config"
    num = got["set_bulk_voltage"]["config"]
    assert (num["min"], num["max"], num["step"], num["mode"]) == (48.0, 58.4, 0.1, "box")
    assert "state_topic" not in got["set_max_charging_current"]["config"]


@pytest.mark.parametrize("mode", ["device", "entity"])
def test_a_unit_is_available_only_while_its_system_is(ha_check, mode):
    unit = DeviceInfo("inverter1_unit2", "Inverter 1 Unit 2", "Voltronic", via_device="inverter1")
    builder = build_device_discovery if mode == "device" else build_entity_discovery
    messages = builder("solarstack", "homeassistant", unit, FIELDS[:2], (), origin_version="0.1.0")
    got = by_object(ha_check(messages, {"solarstack/inverter1_unit2/state": json.dumps(STATE)}))
    assert set(got) == {"battery_voltage", "battery_capacity"}
    for r in got.values():
        assert r["errors"] == [], r
        cfg = r["config"]
        assert "availability_topic" not in cfg
        assert cfg["availability_mode"] == "all"
        assert [a["topic"] for a in cfg["availability"]] == [
            "solarstack/inverter1_unit2/availability",
            "solarstack/inverter1/availability",
        ]
        assert {(a["payload_available"], a["payload_not_available"]) for a in cfg["availability"]} == {
            ("online", "offline")
        }
        assert cfg["device"]["via_device"] == "solarstack_inverter1"


def test_templates_render_our_state_json_to_valid_states(ha_check):
    got = by_object(ha_check(build("device"), {STATE_TOPIC: json.dumps(STATE)}))
    rendered = {k: r["rendered"] for k, r in got.items()}
    assert rendered["battery_voltage"] == "52.31"
    assert rendered["device_mode"] == "Battery"
    assert rendered["serial_number"] == "92512208100123"
    assert rendered["load_on"] == "ON"
    assert rendered["warning_over_temperature"] == "OFF"
    assert [rendered[f"cell_voltage_0{i}"] for i in range(1, 5)] == ["3.301", "3.305", "3.299", ""]
    assert rendered["heat_sink_temperature"] == "None"  # HA: unknown, not an error
    assert rendered["set_output_source_priority"] == "SBU"
    assert rendered["set_bulk_voltage"] == "56.4"


def test_a_null_or_missing_flag_is_unknown_not_off(ha_check):
    state = {**STATE, "load_on": None}
    del state["warning_over_temperature"]
    got = by_object(ha_check(build("device"), {STATE_TOPIC: json.dumps(state)}))
    assert got["load_on"]["rendered"] == "None"
    assert got["warning_over_temperature"]["rendered"] == "None"


def test_the_checker_rejects_what_home_assistant_rejects(ha_check):
    # Guard against a vacuous validator: each of these is a real mistake HA refuses.
    bad = [
        Field("energy_in_volts", unit="V", device_class="energy", state_class="total_increasing"),
        Field("power_total_increasing", unit="W", state_class="total_increasing"),
        Field("made_up_class", unit="V", device_class="voltage_ish"),
    ]
    # ...and two our builder never makes, written by hand
    handmade = [
        (
            "homeassistant/sensor/x/enum_with_unit/config",
            '{"dev_cla":"enum","unit_of_meas":"V","ops":["a"],"stat_t":"s"}',
        ),
        ("homeassistant/select/x/select_without_options/config", '{"cmd_t":"c","stat_t":"s"}'),
    ]
    results = by_object(ha_check([*build("entity", fields=tuple(bad), settings=()), *handmade]))
    assert len(results) == 5
    assert all(r["errors"] for r in results.values()), results
    # 2024.1 lets the schema pass and fails at run time (our rule); 2025.4's schema refuses it
    assert any(w in results["enum_with_unit"]["errors"][0] for w in ("non-numeric device_class enum", "`options`"))
    assert "not allowed for device_class energy" in results["energy_in_volts"]["errors"][0]
    assert "state_class total_increasing not allowed" in results["power_total_increasing"]["errors"][0]
    assert "schema" in results["made_up_class"]["errors"][0]


def test_removal_messages_are_what_home_assistant_treats_as_removal(ha_check):
    for mode in ("device", "entity"):
        before = build(mode)
        after = build(mode, fields=FIELDS[:2], settings=())
        results = ha_check(with_removals(before, after))
        removed = {r["object_id"] for r in results if r["removed"]}
        assert removed == {e for e in by_object(ha_check(before))} - {"battery_voltage", "battery_capacity"}
        assert all(r["errors"] == [] for r in results if not r["removed"])


def test_every_unit_we_emit_is_valid_for_its_device_class(ha_check):
    fields = tuple(
        Field(f"u{i}", kind=Kind.FLOAT, unit=unit, state_class=None if info.device_class == "energy" else "measurement")
        for i, (unit, info) in enumerate(UNITS.items())
    )
    # energy units get the state class HA allows for them
    fields = tuple(
        f if f.unit not in ("Wh", "kWh") else Field(f.key, unit=f.unit, state_class="total_increasing") for f in fields
    )
    results = ha_check(build("entity", fields=fields, settings=()))
    assert len(results) == len(UNITS)
    assert [(r["object_id"], r["errors"]) for r in results if r["errors"]] == []


def test_energy_counter_fields_pass(ha_check, tmp_path):
    ec = EnergyCounters(tmp_path / "e.json", counters=PI30_COUNTERS, max_gap=30.0)
    results = ha_check(build("device", fields=ec.fields, settings=()))
    assert len(results) == 12  # five totals, five daily figures, the derived grid and battery power
    assert [(r["object_id"], r["errors"]) for r in results if r["errors"]] == []
    by_id = {r["object_id"]: r["config"] for r in results}
    assert by_id.pop("grid_power")["state_class"] == "measurement"
    assert by_id.pop("battery_power")["state_class"] == "measurement"
    assert {c["state_class"] for c in by_id.values()} == {"total_increasing"}


@pytest.fixture(scope="module")
def ha_check_2025() -> Iterator[HaChecker]:
    checker = HaChecker(ha_python("2025.4"))
    yield checker
    checker.close()


def test_device_mode_is_parsed_by_home_assistants_own_code(ha_check_2025):
    """2025.4 unpacks device messages itself: one missing its origin is refused outright."""
    [(topic, payload)] = build("device")
    doc = json.loads(payload)
    del doc["o"]
    [result] = ha_check_2025([(topic, json.dumps(doc))])
    assert result["errors"] and "origin" in result["errors"][0]
    # the complete message is accepted, component by component
    results = ha_check_2025([(topic, payload)])
    assert len(results) == 16 and all(r["errors"] == [] for r in results)

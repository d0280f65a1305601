"""Every field table says what its rows mean (role), where they go (group) and how to show them
(precision): the device catalogue carries these to the web, HA and the collector, which stop
guessing from key names (core/catalog.py). These tests fail when an annotation is dropped or
drifts from the vocabulary in core/catalog.py ROLES / GROUPS.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable

import pytest

from solarstack.core import catalog
from solarstack.core.catalog import GROUPS, ROLES
from solarstack.core.fields import Field, FieldTable, Kind
from solarstack.devices.bms_ble import LINK_FIELDS
from solarstack.protocols import daly, jk02, jkserial, pi30, vedirect
from solarstack.protocols.pi30 import enums
from solarstack.services.bms.group import GROUP_FIELDS

PI30_TABLES: dict[str, FieldTable] = {f"pi30 {c.name}": c.fields for c in pi30.COMMANDS.values() if c.read_only}
BMS_TABLES: dict[str, FieldTable] = {
    "jk02 cell info 24": jk02.CELL_INFO_24,
    "jk02 cell info 32": jk02.CELL_INFO_32,
    "jk02 device info": jk02.DEVICE_INFO,
    "jkserial read all": jkserial.READ_ALL,
    **{f"daly {code:#04x}": table for code, table in daly.COMMANDS.items()},
    "vedirect": vedirect.FIELDS,
    "ble link": LINK_FIELDS,
    "battery group": GROUP_FIELDS,
}
TABLES: dict[str, FieldTable] = {**PI30_TABLES, **BMS_TABLES}

#: the unit a row with this role must have (a role means one quantity, in one unit)
ROLE_UNITS = {
    "pv_power": "W",
    "load_power": "W",
    "grid_power": "W",
    "battery_power": "W",
    "battery_current": "A",
    "battery_charge_current": "A",
    "battery_discharge_current": "A",
    "battery_voltage": "V",
    "soc": "%",
    "cell_voltage": "V",
    "temperature": "°C",
    **{role: "kWh" for role in ROLES if "_energy" in role},
}


def rows(tables: Iterable[FieldTable]) -> list[Field]:
    return [f for table in tables for f in table]


def by_role(table: FieldTable, role: str) -> list[str]:
    return [f.key for f in table if f.role == role]


def test_every_command_and_frame_is_covered() -> None:
    assert {name.split()[1] for name in PI30_TABLES} >= {"QPIGS", "QPIGS2", "QPIRI", "QPIWS", "QMOD", "QPGSn", "Q1"}
    assert set(daly.COMMANDS) == set(daly.POLL_ORDER)
    assert all(TABLES.values())


@pytest.mark.parametrize("name", TABLES)
def test_every_row_has_a_known_group_and_role(name: str) -> None:
    for f in TABLES[name]:
        assert f.group in GROUPS, f"{name} {f.key}: group {f.group!r} is not one of core.catalog.GROUPS"
        assert f.role is None or f.role in ROLES, f"{name} {f.key}: role {f.role!r} is not one of core.catalog.ROLES"


@pytest.mark.parametrize("name", TABLES)
def test_numeric_rows_with_a_unit_have_a_precision_and_only_numbers_do(name: str) -> None:
    for f in TABLES[name]:
        numeric = f.kind in (Kind.FLOAT, Kind.INT, Kind.ARRAY)
        if numeric and f.unit is not None:
            assert isinstance(f.precision, int) and 0 <= f.precision <= 3, f"{name} {f.key}: precision {f.precision}"
        if not numeric:
            assert f.precision is None, f"{name} {f.key}: a {f.kind} row has no decimals"
        if f.kind is Kind.INT:
            assert f.precision in (None, 0), f"{name} {f.key}: a whole number shows no decimals"


@pytest.mark.parametrize("name", TABLES)
def test_a_role_means_one_quantity_in_one_unit(name: str) -> None:
    for f in TABLES[name]:
        if f.role in ROLE_UNITS:
            assert f.unit == ROLE_UNITS[f.role], f"{name} {f.key}: {f.role} in {f.unit}"
        if f.role == "cell_voltage":
            assert f.kind is Kind.ARRAY, f"{name} {f.key}: cell voltages are one array"
        elif f.role in ROLE_UNITS and f.role != "temperature":  # a BMS may send its sensors as one array
            assert f.kind is not Kind.ARRAY, f"{name} {f.key}: {f.role} is one number"


def test_watts_show_whole() -> None:
    for f in rows(TABLES.values()):
        if f.unit == "W":
            assert f.precision == 0, f.key


def test_every_alarm_flag_is_a_warning() -> None:
    """What the web's WARNING_KEY regex and device_class "problem" told it, now said once."""
    for f in rows(TABLES.values()):
        if f.kind is Kind.BOOL and (f.device_class == "problem" or f.key.startswith("alarm")):
            assert (f.role, f.group) == ("warning", "warnings"), f.key
        if f.role == "warning":
            assert f.kind in (Kind.BOOL, Kind.TEXT) and f.group == "warnings", f.key


@pytest.mark.parametrize(
    ("protocol", "tables"),
    [
        ("pi30", PI30_TABLES.values()),
        ("jk02", (jk02.CELL_INFO_24, jk02.CELL_INFO_32, jk02.DEVICE_INFO)),
        ("daly", daly.COMMANDS.values()),
    ],
)
def test_a_key_means_the_same_in_every_table_of_a_protocol(protocol: str, tables: Iterable[FieldTable]) -> None:
    """QPIGS and QPGSn both report `battery_voltage`: one state key, one catalogue meaning."""
    seen: dict[str, set[tuple[str | None, str | None]]] = defaultdict(set)
    for f in rows(tables):
        seen[f.key].add((f.role, f.group))
    assert {k: v for k, v in seen.items() if len(v) > 1} == {}


# --- PI30 -------------------------------------------------------------------------------


def test_pi30_qpigs_roles() -> None:
    qpigs = pi30.table("QPIGS")
    assert by_role(qpigs, "pv_power") == ["pv_input_power"]
    assert by_role(qpigs, "load_power") == ["ac_output_active_power"]
    assert by_role(qpigs, "soc") == ["battery_capacity"]
    assert by_role(qpigs, "battery_voltage") == ["battery_voltage"]  # not battery_voltage_scc
    assert by_role(qpigs, "battery_charge_current") == ["battery_charging_current"]
    assert by_role(qpigs, "battery_discharge_current") == ["battery_discharge_current"]
    assert by_role(qpigs, "temperature") == ["heat_sink_temperature"]
    assert by_role(qpigs, "grid_power") == []  # PI30 does not measure it: the reader derives it
    assert {f.group for f in qpigs if f.key.startswith("pv")} == {"pv"}
    assert {f.group for f in qpigs if f.key.startswith("ac_input")} == {"grid"}
    # the second string adds to the first (pv_power sums over strings)
    assert by_role(pi30.table("QPIGS2"), "pv_power") == ["pv2_input_power"]


def test_pi30_precision_is_the_firmware_resolution() -> None:
    rows_ = {f.key: f for f in pi30.table("QPIGS")}
    assert rows_["battery_voltage"].precision == 2  # 05.2f
    assert rows_["ac_input_voltage"].precision == 1  # 05.1f
    assert rows_["pv_input_power"].precision == 0  # 05d
    assert rows_["battery_voltage_offset_for_fans"].precision == 2  # 10 mV steps, in V
    assert {f.key: f.precision for f in pi30.table("QBMS")}["bms_bulk_voltage"] == 1  # 0.1 V steps
    assert pi30.table("QET")[0].precision == 3  # Wh, in kWh
    assert {f.precision for f in pi30.table("QPGS1") if f.key == "battery_voltage"} == {1}  # 04.1f there


def test_pi30_every_qpiws_flag_is_a_warning() -> None:
    qpiws = pi30.table("QPIWS")
    assert len(qpiws) == len(enums.QPIWS_BITS)
    assert {(f.role, f.group) for f in qpiws} == {("warning", "warnings")}


@pytest.mark.parametrize("command", ["QPIRI", "QDI", "QFLAG", "QOPPT", "QCHPT", "QLED", "QMCHGCR"])
def test_pi30_configured_values_are_ratings_never_measurements(command: str) -> None:
    """What the web's NOT_CHARTED regex guessed: ratings and settings are flat lines."""
    assert {(f.role, f.group) for f in pi30.table(command)} == {("rating", "ratings")}


def test_pi30_parallel_status_problems_are_warnings_and_the_rest_status() -> None:
    flags = {f.key: f.role for f in pi30.table("QPGS0") if f.kind is Kind.BOOL and f.pos == 19}
    assert flags == {
        "scc_ok": None,
        "ac_charging": None,
        "scc_charging": None,
        "battery_open": "warning",
        "battery_under": "warning",
        "line_loss": "warning",
        "load_on": None,
        "configuration_changed": None,
    }


def test_pi30_mode_and_energy() -> None:
    assert by_role(pi30.table("QMOD"), "mode") == ["mode"]
    # the reader's integrated counters carry the energy roles (protocols/pi30/energy.py): one per device
    energy = [f for c in ("QET", "QEY2024", "QEM202401", "QED20240115", "QLT") for f in pi30.table(c)]
    assert {(f.role, f.group, f.precision) for f in energy} == {(None, "energy", 3)}


# --- BMS, shunt, battery group ------------------------------------------------------------

PACKS = {
    "jk02 24": jk02.CELL_INFO_24,
    "jk02 32": jk02.CELL_INFO_32,
    "jkserial": jkserial.READ_ALL,
    "daly": daly.ALL_FIELDS,
}


@pytest.mark.parametrize("name", [*PACKS, "vedirect", "battery group"])
def test_one_pack_measurement_per_role(name: str) -> None:
    table = {**PACKS, "vedirect": vedirect.FIELDS, "battery group": GROUP_FIELDS}[name]
    assert by_role(table, "battery_voltage") == ["voltage"]
    assert by_role(table, "battery_current") == ["current"]
    assert by_role(table, "battery_power") == ["power"]
    assert by_role(table, "soc") == ["soc"]
    assert by_role(table, "temperature"), name


@pytest.mark.parametrize("name", PACKS)
def test_packs_have_their_cells_and_warnings(name: str) -> None:
    table = PACKS[name]
    cells = [f for f in table if f.role == "cell_voltage"]
    assert [(f.key, f.kind, f.precision, f.group) for f in cells] == [("cell_voltages", Kind.ARRAY, 3, "cells")]
    assert {f.group for f in table if f.key.endswith("cell_voltage")} == {"cells"}  # min / max / delta
    alarms = by_role(table, "warning")
    assert alarms and all(k.startswith("alarm_") for k in alarms)


def test_jk02_32_cells_and_all_six_temperatures() -> None:
    table = jk02.CELL_INFO_32
    assert by_role(table, "cell_voltage") == ["cell_voltages"]
    assert sorted(by_role(table, "temperature")) == sorted(jk02.TEMPERATURE_PRESENCE_BITS)
    assert {f.precision for f in table if f.role == "temperature"} == {1}  # 0.1 °C
    assert len(by_role(table, "warning")) == len([name for name in jk02.ERROR_BITS if name])


def test_vedirect_shunt_and_charger_roles() -> None:
    table = vedirect.FIELDS
    assert by_role(table, "pv_power") == ["pv_power"]
    assert by_role(table, "pv_energy") == ["yield_total"]
    assert by_role(table, "pv_energy_today") == ["yield_today"]
    # battery energy comes from the reader's counters (devices/bms.py), not twice per device
    assert [f.role for f in table if f.key in ("energy_charged", "energy_discharged")] == [None, None]
    assert set(by_role(table, "warning")) == {"alarm", *(f"alarm_{n}" for n in vedirect.ALARM_BITS)}


def test_ble_link_rows() -> None:
    assert [(f.key, f.role, f.group) for f in LINK_FIELDS] == [
        ("rssi", "link", "link"),
        ("ble_reconnects", "link", "link"),
    ]


def test_battery_group_rows() -> None:
    assert by_role(GROUP_FIELDS, "warning") == ["alarm"]
    assert by_role(GROUP_FIELDS, "battery_charge_energy") == ["battery_energy_charged"]
    assert by_role(GROUP_FIELDS, "battery_discharge_energy") == ["battery_energy_discharged"]


# --- through the catalogue ----------------------------------------------------------------


def test_the_catalogue_carries_the_annotations() -> None:
    """A consumer finds the PV power by role, not by key (the regexes in the web UI go)."""
    fields = [*pi30.table("QPIGS"), *pi30.table("QPIWS"), *pi30.table("QPIRI")]
    message = catalog.build({"id": "inv", "name": "inv", "kind": "inverter"}, fields)
    parsed = catalog.parse(message)
    assert [f.key for f in parsed.by_role("pv_power")] == ["pv_input_power"]
    assert parsed.fields["battery_voltage"].precision == 2
    assert parsed.fields["battery_voltage"].group == "battery"
    roles = Counter(f["role"] for f in json.loads(message)["fields"])
    assert roles["warning"] == len(pi30.table("QPIWS"))
    assert all(parsed.fields[f.key].role == "rating" for f in pi30.table("QPIRI"))

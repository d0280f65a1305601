"""PI16 replies, decoded field by field; and what the tables mean.

Provenance: jblance/mpp-solar mppsolar/protocols/pi16.py `test_responses` whose CRC checks
(PI30's rule; our code did not produce them): QPIGS twice (a unit on battery with a 1.6 kW
load, and one charging from 187 W of PV while feeding 24 W to the grid — values, `---.-`
fields and status strings no one would type), QPIRI, QID, QPI, QVFW, QVFW2, QMOD `(G`.
Left out: its QED, QMOD `(B` and QPIBI samples, which carry another sample's CRC bytes.
QPIWS and the energy replies are built from the notes' own examples ("Voltronic Power
SUNNY protocol" v1.2: `(--0000000000--00000---00000---…`, `(005758`), marked as such.

The expected dicts were written from the frame text by hand against the notes' field list.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest

from solarstack.core.catalog import GROUPS, ROLES
from solarstack.core.errors import ConfigError
from solarstack.core.fields import UNITS, FieldTable, Kind, Value
from solarstack.protocols import pi16

QPIGS_LOAD = b"(224.6 000000 49.9 0006.8 232.4 01594 49.9 006.8 029 415.0 415.0 057.9 ---.- 100 00000 00000 ----- 000.0 000.0 ---.- 035.0 D---110001k\xdb\r"  # noqa: E501 (a recorded frame stays on one line)
QPIGS_PV = b"(225.8 000024 49.9 0000.0 000.0 00000 00.0 000.0 000 405.4 405.4 048.8 ---.- 048 00163 00024 ----- 342.6 ---.- ---.- 049.0 A---001010YZ\r"  # noqa: E501 (a recorded frame stays on one line)

RECORDED: list[tuple[str, bytes, dict[str, Value]]] = [
    ("QPI", b"(PI16\x9c\xaf\r", {"protocol_id": "PI16"}),
    ("QID", b"(96131801100057\x93\xa5\r", {"serial_number": "96131801100057"}),
    ("QVFW", b"(VERFW:00000.27V\t\r", {"main_cpu_firmware": "00000.27"}),
    ("QVFW2", b"(VERFW2:00000.30\xe3\x88\r", {"secondary_cpu_firmware": "00000.30"}),
    ("QMOD", b"(G\xb7l\r", {"mode": "grid"}),
    (
        "QPIRI",
        b"(230.0 50.0 013.0 230.0 013.0 18.0 048.0 1 10 0\x86B\r",
        {
            "rated_grid_voltage": 230.0,
            "rated_input_frequency": 50.0,
            "rated_input_current": 13.0,
            "rated_ac_output_voltage": 230.0,
            "rated_ac_output_current": 13.0,
            "rated_mppt_current": 18.0,
            "rated_battery_voltage": 48.0,
            "mppt_strings": 1,
            "machine_type": "hybrid",
            "topology": "transformerless",
        },
    ),
    (
        "QPIGS",
        QPIGS_LOAD,
        {  # `---.-` / `-----` (not supported) are omitted
            "ac_input_voltage": 224.6,
            "grid_output_power": 0,
            "ac_input_frequency": 49.9,
            "grid_output_current": 6.8,
            "ac_output_voltage": 232.4,
            "ac_output_active_power": 1594,
            "ac_output_frequency": 49.9,
            "ac_output_current": 6.8,
            "ac_output_load": 29,
            "pbus_voltage": 415.0,
            "sbus_voltage": 415.0,
            "battery_voltage": 57.9,
            "battery_capacity": 100,
            "pv_input_power": 0,
            "pv2_input_power": 0,
            "pv_input_voltage": 0.0,
            "pv2_input_voltage": 0.0,
            "max_temperature": 35.0,
            # D---110001: b8 -, b5 1, b4b3 10, b2 0, b1b0 01
            "load_on": True,
            "battery_power_direction": "discharge",
            "converter_power_direction": "dc_to_ac",
            "line_power_direction": "input",
        },
    ),
    (
        "QPIGS",
        QPIGS_PV,
        {
            "ac_input_voltage": 225.8,
            "grid_output_power": 24,
            "ac_input_frequency": 49.9,
            "grid_output_current": 0.0,
            "ac_output_voltage": 0.0,
            "ac_output_active_power": 0,
            "ac_output_frequency": 0.0,
            "ac_output_current": 0.0,
            "ac_output_load": 0,
            "pbus_voltage": 405.4,
            "sbus_voltage": 405.4,
            "battery_voltage": 48.8,
            "battery_capacity": 48,
            "pv_input_power": 163,
            "pv2_input_power": 24,
            "pv_input_voltage": 342.6,
            "max_temperature": 49.0,
            # A---001010: b5 0, b4b3 01, b2 0, b1b0 10
            "load_on": False,
            "battery_power_direction": "charge",
            "converter_power_direction": "dc_to_ac",
            "line_power_direction": "output",
        },
    ),
]


@pytest.mark.parametrize(
    ("command", "frame", "expected"), RECORDED, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(RECORDED)]
)
def test_recorded_frames(command: str, frame: bytes, expected: dict[str, Value]) -> None:
    assert pi16.frame_end(frame) == len(frame)
    assert pi16.decode(command, frame) == expected


def test_the_crc_of_the_recorded_frames_checks() -> None:
    from solarstack.protocols.pi30 import crc

    for _, frame, _ in RECORDED:
        assert crc.check(frame[:-3], frame[-3:-1]), frame


def test_qpiws_from_the_notes_example() -> None:
    """The notes' example string (built into a frame here): `-` bits are not reported."""
    frame = pi16.reply_frame("--0000000000--00000---00000" + "-" * 101)
    values = pi16.decode("QPIWS", frame)
    assert "device_fault" not in values and "grid_power_required" not in values
    assert values["pv_loss"] is False and values["fan_locked"] is False
    assert len(values) == 18
    alarm = pi16.decode("QPIWS", pi16.reply_frame("1" + "0" * 15 + "1" + "0" * 111))
    assert {k for k, v in alarm.items() if v} == {"device_fault", "battery_open"}


@pytest.mark.parametrize(
    ("command", "payload", "expected"),
    [  # the notes' examples: (00004 for QEH, (005758 for QED, (0000000 for QEM, (00000000 for QEY
        ("QEH2014010222", "00004", {"pv_energy_hour": 0.004}),
        ("QED20140102", "005758", {"pv_energy_day": 5.758}),
        ("QEM201401", "0000000", {"pv_energy_month": 0.0}),
        ("QEY2014", "00000000", {"pv_energy_year": 0.0}),
    ],
)
def test_energy_replies_from_the_notes(command: str, payload: str, expected: dict[str, Value]) -> None:
    frame = pi16.reply_frame(payload)
    assert pi16.decode(command, frame) == expected
    assert pi16.format_fields(command, expected) == payload


def test_energy_command_takes_a_date() -> None:
    day = date(2015, 6, 20)
    assert pi16.energy_command("day", day) == "QED20150620"
    assert pi16.encode(pi16.energy_command("day", day)) == b"QED20150620106\r"
    assert pi16.energy_command("month", day) == "QEM201506"
    assert pi16.energy_command("year", day) == "QEY2015"
    with pytest.raises(ConfigError, match="year, month, day"):
        pi16.energy_command("hour", day)


def test_extra_tokens_and_short_status_strings() -> None:
    values = pi16.decode("QPIRI", pi16.reply_frame("230.0 50.0 013.0 230.0 013.0 18.0 048.0 1 11 1 7"))
    assert values["machine_type"] == "self_use" and values["topology"] == "transformer"
    assert values["extra_10"] == "7"
    short = pi16.decode("QPIGS", pi16.reply_frame("230.0" + " 0" * 20 + " D---1"))
    assert short["load_on"] is True and "line_power_direction" not in short


def test_format_fields_round_trips_the_recorded_status() -> None:
    values = pi16.decode("QPIGS", QPIGS_PV)
    assert pi16.decode("QPIGS", pi16.reply_frame(pi16.format_fields("QPIGS", values))) == values


# --- what the tables mean -------------------------------------------------------------

TABLES: dict[str, FieldTable] = {c.name: c.fields for c in pi16.COMMANDS.values()}


@pytest.mark.parametrize("name", TABLES)
def test_rows_have_known_groups_roles_units_and_precision(name: str) -> None:
    for f in TABLES[name]:
        assert f.group in GROUPS, f"{name} {f.key}: group {f.group!r}"
        assert f.role is None or f.role in ROLES, f"{name} {f.key}: role {f.role!r}"
        assert f.unit is None or f.unit in UNITS, f"{name} {f.key}: unit {f.unit!r}"
        numeric = f.kind in (Kind.FLOAT, Kind.INT)
        if numeric and f.unit is not None:
            assert f.precision is not None and 0 <= f.precision <= 3, f"{name} {f.key}"
        if not numeric:
            assert f.precision is None, f"{name} {f.key}"
        if f.unit == "W":
            assert f.precision == 0
        if f.kind is Kind.BOOL and f.device_class == "problem":
            assert (f.role, f.group) == ("warning", "warnings")


def test_a_key_means_the_same_as_in_pi30_pi18_and_pi17() -> None:
    from solarstack.protocols import pi17, pi18, pi30

    seen: dict[str, set[tuple[str | None, str | None, str | None]]] = defaultdict(set)
    for table in TABLES.values():
        for f in table:
            seen[f.key].add((f.role, f.group, f.unit))
    assert {k: v for k, v in seen.items() if len(v) > 1} == {}
    for other in (pi30, pi18, pi17):
        rows = {f.key: (f.role, f.group, f.unit) for c in other.COMMANDS.values() for f in c.fields}
        shared = {k: next(iter(v)) for k, v in seen.items() if k in rows}
        assert len(shared) > 10
        assert {k: v for k, v in shared.items() if v != rows[k]} == {}


def test_roles() -> None:
    def by_role(role: str) -> list[str]:
        return [f.key for f in pi16.table("QPIGS") if f.role == role]

    assert by_role("pv_power") == ["pv_input_power", "pv2_input_power", "pv3_input_power"]
    assert by_role("load_power") == ["ac_output_active_power"]
    assert by_role("battery_voltage") == ["battery_voltage"]
    assert by_role("soc") == ["battery_capacity"]
    assert by_role("grid_power") == []  # a magnitude: the status says which way
    assert {(f.role, f.group) for f in pi16.table("QPIRI")} == {("rating", "ratings")}
    assert {(f.role, f.group) for f in pi16.table("QPIWS")} == {("warning", "warnings")}


def test_the_tables_render_as_catalogue_and_discovery() -> None:
    from solarstack.core import catalog, discovery

    unique = tuple({f.key: f for table in TABLES.values() for f in table}.values())
    text = catalog.build(
        {"id": "inverter1", "name": "Inverter 1", "kind": "inverter", "protocol": "pi16"},
        unique,
        (),
        [c.text for c in pi16.COMMANDS.values()],
    )
    assert set(catalog.parse(text).fields) == {f.key for f in unique}
    made = discovery.entities("solarstack", "inverter1", unique, ())
    assert {e.object_id for e in made} >= {"pv_input_power", "battery_voltage", "mode"}

"""The device catalogue: built from the same rows as everything else, parsed back by consumers.

Every table of every protocol goes through build -> parse, and what consumers rely on
(roles, groups, the metric history asks for, a setting's bounds) survives the trip.
"""

from __future__ import annotations

import json

import pytest

from solarstack.core import catalog
from solarstack.core.fields import Field, Kind, Setting
from solarstack.core.metrics import metric_name
from solarstack.protocols import daly, jkserial, vedirect
from solarstack.protocols.pi30 import commands as pi30_commands
from solarstack.protocols.pi30.energy import PI30_COUNTERS

DEVICE = {"id": "inv1", "name": "Inverter 1", "kind": "inverter", "protocol": "pi30", "model": "MKS2"}


def _tables() -> dict[str, tuple[Field, ...]]:
    tables = {f"pi30.{c.name}": c.fields for c in pi30_commands.COMMANDS.values() if c.fields}
    tables["jkserial"] = jkserial.READ_ALL
    tables["daly"] = daly.ALL_FIELDS
    tables["vedirect"] = vedirect.FIELDS
    tables["pi30.counters"] = tuple(f for c in PI30_COUNTERS for f in c.fields())
    return tables


@pytest.mark.parametrize("name", sorted(_tables()))
def test_every_table_round_trips(name: str) -> None:
    fields = _tables()[name]
    parsed = catalog.parse(catalog.build(DEVICE, fields, array_sizes={f.key: 16 for f in fields}))
    assert list(parsed.fields) == list(dict.fromkeys(f.key for f in fields))
    for f in fields:
        info = parsed.fields[f.key]
        assert (info.title, info.unit, info.role, info.group, info.precision) == (
            f.title,
            f.unit,
            f.role,
            f.group,
            f.precision,
        )
        assert info.role is None or info.role in catalog.ROLES, info
        assert info.group is None or info.group in catalog.GROUPS, info
        if f.kind in (Kind.FLOAT, Kind.INT):
            # the series history asks for is the exporter's own name (one naming rule)
            assert info.metric is not None and info.metric.startswith(metric_name(f))
        if f.kind is Kind.ARRAY:
            assert info.size == 16


def test_counters_name_their_total_series_and_roles() -> None:
    fields = tuple(f for c in PI30_COUNTERS for f in c.fields())
    parsed = catalog.parse(catalog.build(DEVICE, fields))
    pv = parsed.fields["pv_energy"]
    assert pv.metric == "solarstack_pv_energy_joules_total" and pv.metric_scale == 3.6e6
    assert parsed.fields["pv_energy_today"].role == "pv_energy_today"
    (grid,) = parsed.by_role("grid_power")
    assert grid.key == "grid_power" and grid.unit == "W"


def test_settings_carry_this_units_bounds_and_check_values() -> None:
    settings = (
        Setting("output_source_priority", "Output source priority", options=("UTI", "SOL", "SBU")),
        Setting("battery_float_voltage", "Float voltage", minimum=48.0, maximum=58.4, step=0.1, unit="V"),
    )
    parsed = catalog.parse(catalog.build(DEVICE, (), settings, ("QPIRI", "QPIGS", "QPIGS")))
    assert parsed.queries == ("QPIGS", "QPIRI")
    source = parsed.settings["output_source_priority"]
    assert source.type == "select" and source.check("SBU") == "SBU"
    with pytest.raises(ValueError, match="not one of"):
        source.check("sbu")
    voltage = parsed.settings["battery_float_voltage"]
    assert voltage.check("54.1") == "54.1"
    for bad in ("58.5", "54.05", "nan", True):
        with pytest.raises(ValueError):
            voltage.check(bad)


def test_identity_is_the_device_block() -> None:
    parsed = catalog.parse(catalog.build(DEVICE | {"serial_number": "9223", "via_device": None}, ()))
    assert (parsed.id, parsed.name, parsed.kind) == ("inv1", "Inverter 1", "inverter")
    assert parsed.device["protocol"] == "pi30" and parsed.device["serial_number"] == "9223"


@pytest.mark.parametrize(
    "payload",
    [b"", b"[]", b'{"schema": 1}', b'{"schema": 2, "device": {}}', b"\xff"],
)
def test_unreadable_catalogues_are_one_line_errors(payload: bytes) -> None:
    with pytest.raises(ValueError) as err:
        catalog.parse(payload)
    assert "\n" not in str(err.value)


def test_a_catalogue_needs_id_name_and_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        catalog.build({"id": "x", "name": "X"}, ())


def test_junk_rows_are_skipped_not_fatal() -> None:
    doc = json.loads(catalog.build(DEVICE, (Field("a", unit="V"),)))
    doc["fields"] += [None, {"title": "no key"}, {"key": "b", "size": "7", "precision": True}]
    parsed = catalog.parse(json.dumps(doc))
    assert list(parsed.fields) == ["a", "b"]
    assert parsed.fields["b"].size is None and parsed.fields["b"].precision is None

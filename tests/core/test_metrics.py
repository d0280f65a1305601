"""Metrics exposition from a field table: names, base units, counters, arrays; promtool agrees."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from solarstack.core.fields import Field, Kind, Reading
from solarstack.core.metrics import ServiceMetrics

FIELDS = (
    Field("battery_voltage", 0, unit="V"),
    Field("battery_capacity", 1, Kind.INT, "%"),
    Field("cell_voltage", 2, Kind.ARRAY, "mV"),
    Field("pv_energy", 3, unit="kWh", state_class="total_increasing"),
    Field("fault_code", 4, Kind.INT),
    Field("load_on", 5, Kind.BOOL),
    Field("output_source_priority", 6, Kind.ENUM, options={"2": "SBU"}),
    Field("serial_number", 7, Kind.TEXT),
    Field("missing", 8, unit="W"),
)


def reading(device: str, **overrides: object) -> Reading:
    values: dict[str, object] = {
        "battery_voltage": 52.4,
        "battery_capacity": 87,
        "cell_voltage": [3301, 3299, 3305],
        "pv_energy": 12.5,
        "fault_code": 0,
        "load_on": True,
        "output_source_priority": "SBU",
        "serial_number": "92932004102443",
        "missing": None,
    }
    values.update(overrides)
    return Reading(device, datetime(2026, 6, 1, tzinfo=UTC), values, FIELDS)  # type: ignore[arg-type]


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_reading_becomes_base_unit_metrics() -> None:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "inverter", "0.1.0")
    metrics.export_reading(reading("inv1"))
    got = samples(registry)
    dev = (("device", "inv1"),)
    assert got[("solarstack_battery_voltage_volts", dev)] == 52.4
    assert got[("solarstack_battery_capacity_ratio", dev)] == pytest.approx(0.87)
    assert got[("solarstack_cell_voltage_volts", (("cell", "02"), ("device", "inv1")))] == pytest.approx(3.299)
    assert got[("solarstack_pv_energy_joules_total", dev)] == pytest.approx(12.5 * 3.6e6)
    assert got[("solarstack_fault_code", dev)] == 0
    assert got[("solarstack_load_on", dev)] == 1
    assert got[("solarstack_output_source_priority_info", (("device", "inv1"), ("value", "SBU")))] == 1
    assert got[("solarstack_serial_number_info", (("device", "inv1"), ("value", "92932004102443")))] == 1
    assert not any(name.startswith("solarstack_missing") for name, _ in got)
    types = {f.name: f.type for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert types["solarstack_pv_energy_joules"] == "counter"
    assert types["solarstack_battery_voltage_volts"] == "gauge"


def test_later_readings_replace_values_and_keep_other_devices() -> None:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "inverter")
    metrics.export_reading(reading("inv1"))
    metrics.export_reading(reading("inv2", battery_voltage=48.0))
    metrics.export_reading(reading("inv1", battery_voltage=53.0, pv_energy=13.0))
    got = samples(registry)
    assert got[("solarstack_battery_voltage_volts", (("device", "inv1"),))] == 53.0
    assert got[("solarstack_battery_voltage_volts", (("device", "inv2"),))] == 48.0
    assert got[("solarstack_pv_energy_joules_total", (("device", "inv1"),))] == pytest.approx(13.0 * 3.6e6)


def test_link_health_and_mqtt_metrics() -> None:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "bms")
    metrics.poll_done("pack1", "status", 0.3)
    metrics.poll_error("pack1", "crc")
    metrics.poll_error("pack1", "crc")
    metrics.device_up("pack1", True)
    metrics.reconnect("pack1")
    counters = SimpleNamespace(published=5, spooled=2, replayed=1, reconnects=1, dropped=0, spool_depth=1)
    metrics.bind_mqtt(SimpleNamespace(client_id="pack1", connected=True, counters=lambda: counters))
    got = samples(registry)
    assert got[("solarstack_polls_total", (("command", "status"), ("device", "pack1")))] == 1
    assert got[("solarstack_poll_errors_total", (("device", "pack1"), ("kind", "crc")))] == 2
    assert got[("solarstack_poll_duration_seconds_count", (("device", "pack1"),))] == 1
    assert got[("solarstack_reconnects_total", (("device", "pack1"),))] == 1
    assert got[("solarstack_device_up", (("device", "pack1"),))] == 1
    assert got[("solarstack_mqtt_connected", (("client", "pack1"),))] == 1
    assert got[("solarstack_spool_depth", (("client", "pack1"),))] == 1
    assert got[("solarstack_mqtt_messages_total", (("client", "pack1"), ("path", "spooled")))] == 2
    assert got[("solarstack_service_info", (("service", "bms"), ("version", "")))] == 1


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_accepts_the_exposition() -> None:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "inverter", "0.1.0")
    metrics.export_reading(reading("inv1"))
    metrics.poll_done("inv1", "QPIGS", 0.4)
    metrics.poll_error("inv1", "timeout")
    metrics.device_up("inv1", True)
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=generate_latest(registry), capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == "" and result.stderr.decode().strip() == ""


def _all_protocol_tables() -> list[tuple[Field, ...]]:
    """Every field table the codecs define (module-level tuples of Field and maps of them)."""
    import importlib
    from collections.abc import Mapping

    def is_table(value: object) -> bool:
        return isinstance(value, tuple) and bool(value) and all(isinstance(f, Field) for f in value)

    tables: list[tuple[Field, ...]] = []
    for name in ("pi30.commands", "jk02", "daly", "jkserial", "vedirect"):
        module = importlib.import_module(f"solarstack.protocols.{name}")
        for value in vars(module).values():
            if is_table(value):
                tables.append(value)
            elif isinstance(value, Mapping):
                tables += [t for t in value.values() if is_table(t)]
    return tables


def _example(field: Field) -> object:
    if field.kind is Kind.ENUM:
        return next(iter(field.options.values())) if field.options else "x"
    return {Kind.FLOAT: 1.5, Kind.INT: 2, Kind.BOOL: True, Kind.TEXT: "abc", Kind.ARRAY: [1.0, 2.0]}[field.kind]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_accepts_every_protocol_table() -> None:
    tables = _all_protocol_tables()
    assert len(tables) >= 10
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "all")
    for i, table in enumerate(tables):
        rows = table
        values: dict[str, Any] = {f.key: _example(f) for f in rows}
        metrics.export_reading(Reading(f"dev{i}", datetime(2026, 6, 1, tzinfo=UTC), values, rows))
    exposition = generate_latest(registry)
    assert exposition.count(b"# TYPE") > 100
    result = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_gauge_names_never_end_in_a_reserved_suffix() -> None:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "bms")
    cell_count = Field("cell_count", 0, Kind.INT)
    cycles = Field("cycle_count", 1, Kind.INT, state_class="total_increasing")
    metrics.export_reading(
        Reading("p", datetime(2026, 6, 1, tzinfo=UTC), {"cell_count": 16, "cycle_count": 7}, (cell_count, cycles))
    )
    got = samples(registry)
    assert got[("solarstack_cell_count_value", (("device", "p"),))] == 16
    assert got[("solarstack_cycle_count_total", (("device", "p"),))] == 7

"""The rules pick fields by what they mean: each selector that stands for a catalogue role
(soc, cell_voltage, temperature, warning, `<flow>_energy`) lists exactly the series of every
field table in the project with that role (metric_name() of each field). A protocol that
gains a field with one of these roles fails here, naming the rule to extend; a rule naming a
series no table has fails too. Which series the running services really export is
test_live.py's job."""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import MappingProxyType
from typing import Any

import pytest
from rule_model import ROOT, Rule, load_rules

import solarstack.devices
import solarstack.protocols
from solarstack.core.catalog import ENERGY_FLOWS
from solarstack.core.energy import Counter
from solarstack.core.fields import Field, Kind
from solarstack.core.metrics import is_counter, metric_name

RULES = load_rules()
ALERTS = {r.name: r for r in RULES if r.kind == "alert"}

#: Warning-role series no warning alert selects, and why.
WARNINGS_ELSEWHERE = {
    "solarstack_inverter_fault": "InverterFault",
    "solarstack_device_fault": "InverterFault (PI16's QPIWS bit 0: the device has a fault)",
    "solarstack_line_fail": "GridLost (and permanent on an off-grid site)",
    "solarstack_line_loss": "GridLost (and permanent on an off-grid site)",
    "solarstack_l2_line_loss": "GridLost: PI41's line 2 AC input gone (and permanent on an off-grid site)",
    "solarstack_ac_input_voltage_loss": "GridLost: PI17's AC input gone (and permanent on an off-grid site)",
    "solarstack_ac_input_frequency_loss": "GridLost: PI17's AC input gone (and permanent on an off-grid site)",
    "solarstack_ac_input_waveform_loss": "GridLost: PI17's AC input gone (and permanent on an off-grid site)",
    "solarstack_pv_loss": "set every night",
    "solarstack_pv2_loss": "set every night (and always on a unit using one PV input)",
    "solarstack_pv_voltage_low": "PI16's PV low: set at every dusk and dawn",
}
#: Temperature-role series no temperature alert selects, and why.
TEMPERATURES_ELSEWHERE = {"solarstack_temperature_mos_celsius": "MOSFETs run hot by design; the BMS alarms on them"}


def _fields_in(obj: Any, seen: set[int], out: list[Field], depth: int = 0) -> None:
    """Fields reachable from a module global: tables (tuples), dicts of them, energy counters."""
    if depth > 6 or id(obj) in seen or isinstance(obj, str | bytes | int | float | None):
        return
    seen.add(id(obj))
    if isinstance(obj, Field):
        out.append(obj)
    elif isinstance(obj, Counter):
        out.extend(obj.fields())
    elif isinstance(obj, dict | MappingProxyType | tuple | list | frozenset | set):
        for item in obj.values() if isinstance(obj, dict | MappingProxyType) else obj:
            _fields_in(item, seen, out, depth + 1)


def every_field() -> list[Field]:
    """Every field of every protocol and device module, and the battery group's fields."""
    modules = [
        importlib.import_module(m.name)
        for pkg in (solarstack.protocols, solarstack.devices)
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")
    ]
    modules.append(importlib.import_module("solarstack.services.bms.group"))
    out: list[Field] = []
    seen: set[int] = set()
    for module in modules:
        for value in vars(module).values():
            _fields_in(value, seen, out)
    return out


FIELDS = every_field()


def series_with_role(role: str, kinds: tuple[Kind, ...] | None = None) -> set[str]:
    return {
        metric_name(f) + ("_total" if is_counter(f) else "")
        for f in FIELDS
        if f.role == role and (kinds is None or f.kind in kinds)
    }


def selected(rule: Rule, names: set[str]) -> set[str]:
    return {n for n in names if any(s.matches_name(n) for s in rule.selectors())}


def alternatives(rule: Rule) -> set[str]:
    return {a for s in rule.selectors() for a in s.alternatives()}


def test_the_field_scan_finds_the_tables() -> None:
    """The scan above sees the PI30 and the JK tables and the energy counters (else every
    comparison below would hold vacuously)."""
    assert {"solarstack_battery_capacity_ratio", "solarstack_soc_ratio"} <= series_with_role("soc")
    assert "solarstack_pv_energy_joules_total" in series_with_role("pv_energy")
    assert "solarstack_battery_energy_charged_joules_total" in series_with_role("battery_charge_energy")


def test_every_rule_has_a_selector_the_parser_sees() -> None:
    for rule in RULES:
        assert rule.selectors(), f"{rule.name}: no selector found in {rule.expr!r}"


@pytest.mark.parametrize("flow", ENERGY_FLOWS)
def test_energy_per_flow_reads_every_counter_of_the_flow(flow: str) -> None:
    rules = [r for r in RULES if r.kind == "record" and r.labels.get("flow") == flow]
    counters = series_with_role(f"{flow}_energy")
    if not counters:
        assert rules == [], f"no field has role {flow}_energy, yet a rule records flow {flow}"
        return
    assert len(rules) == 1, f"prometheus/rules/energy.yml: one rule for flow {flow} (found {len(rules)})"
    assert alternatives(rules[0]) == counters, f"flow {flow}: the counters with role {flow}_energy are {counters}"


@pytest.mark.parametrize("alert", ["BatterySocLow", "BatterySocCritical"])
def test_soc_alerts_read_every_soc(alert: str) -> None:
    assert alternatives(ALERTS[alert]) == series_with_role("soc")


def test_cell_imbalance_reads_every_cell_voltage_array() -> None:
    assert alternatives(ALERTS["BatteryCellImbalance"]) == series_with_role("cell_voltage")


def test_temperature_alerts_cover_every_temperature() -> None:
    temperatures = series_with_role("temperature")
    battery = selected(ALERTS["BatteryTemperatureHigh"], temperatures)
    inverter = selected(ALERTS["InverterTemperatureHigh"], temperatures)
    assert battery.isdisjoint(inverter), battery & inverter
    assert battery | inverter | set(TEMPERATURES_ELSEWHERE) == temperatures, (
        f"no temperature alert reads {temperatures - battery - inverter - set(TEMPERATURES_ELSEWHERE)}"
    )
    for rule in (ALERTS["BatteryTemperatureHigh"], ALERTS["InverterTemperatureHigh"]):
        stale = {a for a in alternatives(rule) if not any(re.fullmatch(a, t) for t in temperatures)}
        assert not stale, f"{rule.name} names series no temperature field has: {stale}"


def test_warning_alerts_cover_every_warning_flag() -> None:
    flags = series_with_role("warning", (Kind.BOOL,))
    inverter = selected(ALERTS["InverterWarning"], flags)
    battery = selected(ALERTS["BatteryAlarm"], flags)
    missing = flags - inverter - battery - set(WARNINGS_ELSEWHERE)
    assert not missing, f"add {sorted(missing)} to InverterWarning or BatteryAlarm, or say why not"
    assert inverter.isdisjoint(set(WARNINGS_ELSEWHERE)) and battery.isdisjoint(set(WARNINGS_ELSEWHERE))
    stale = alternatives(ALERTS["InverterWarning"]) - flags
    assert not stale, f"InverterWarning names series no warning flag has: {stale}"
    assert all(f.startswith("solarstack_alarm") for f in battery)


def test_every_alert_has_a_severity_summary_and_description() -> None:
    assert len(ALERTS) >= 15
    for rule in ALERTS.values():
        assert rule.labels.get("severity") in {"critical", "warning"}, rule.name
        annotations = rule.body.get("annotations", {})
        assert annotations.get("summary") and annotations.get("description"), rule.name


def test_docs_explain_every_alert() -> None:
    docs = (ROOT / "docs" / "alerts.md").read_text()
    rows = {line.split("|")[1].strip().strip("`") for line in docs.splitlines() if line.startswith("| `")}
    assert set(ALERTS) <= rows, f"docs/alerts.md lacks {sorted(set(ALERTS) - rows)}"
    for name, rule in ALERTS.items():
        row = next(line for line in docs.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"| {rule.labels['severity']} |" in row, f"docs/alerts.md: {name} is {rule.labels['severity']}"

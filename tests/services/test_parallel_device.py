"""What a PI30 device says about a parallel system (`?units=N`), and that without the option it
says exactly what it said before: the reader publishes units only from this description.
No I/O: the transports open on first use and nothing here asks the device anything."""

from __future__ import annotations

import pytest

from solarstack.core.device_url import parse_device_url
from solarstack.core.errors import ConfigError
from solarstack.devices.pi30 import Pi30Device, open_device
from solarstack.protocols import pi30
from solarstack.protocols.pi30.energy import PI30_COUNTERS


def _device(options: str = "") -> Pi30Device:
    return open_device(parse_device_url(f"pi30+tcp://127.0.0.1:9?name=inv1{options}"))


def test_a_single_unit_is_as_before() -> None:
    device = _device()
    assert device.parallel() is None
    assert device.schedule(10, 300) == (
        ("QPIGS", 10),
        ("QMOD", 10),
        ("QPIWS", 10),
        ("QPIRI", 300),
        ("QFLAG", 300),
    )
    assert device.energy_command == "QPIGS" and device.counters() == PI30_COUNTERS
    assert device.table("QPIGS") == pi30.table("QPIGS")


def test_units_option_polls_every_unit_and_describes_the_system() -> None:
    device = _device("&units=3")
    system = device.parallel()
    assert system is not None
    assert [(u.id, u.title, u.command) for u in system.units] == [
        ("inv1_unit1", "Unit 1", "QPGS0"),
        ("inv1_unit2", "Unit 2", "QPGS1"),
        ("inv1_unit3", "Unit 3", "QPGS2"),
    ]
    fast = [c for c, every in device.schedule(10, 300) if every == 10]
    assert fast == ["QPIGS", "QMOD", "QPIWS", "QPGS0", "QPGS1", "QPGS2"]
    assert all(device.is_query(c) for c, _ in device.schedule(10, 300))
    # the system's counters integrate the totals, complete once the last unit answered
    assert device.energy_command == "QPGS2"
    assert {c.key for c in device.counters()} == {
        "pv_energy",
        "load_energy",
        "battery_charge_energy",
        "battery_discharge_energy",
        "grid_import_energy",
    }
    # the master's own PV, load and battery currents are one unit's share: the totals carry the roles
    roles = {f.key: f.role for f in device.table("QPIGS")}
    assert roles["pv_input_power"] is None and roles["ac_output_active_power"] is None
    assert roles["battery_charging_current"] is None and roles["battery_capacity"] == "soc"
    unit_roles = {f.role for f in system.unit_table} | {f.role for c in system.unit_counters for f in c.fields()}
    assert not unit_roles & {"pv_power", "load_power", "grid_power", "battery_power", "pv_energy", "load_energy"}
    assert "soc" in unit_roles
    assert {f.key: f.role for f in system.total_fields} == {
        "pv_power": "pv_power",
        "load_power": "load_power",
        "grid_power": "grid_power",
        "battery_power": "battery_power",
    }


def test_unit_power_comes_from_qpgs_volts_and_amps() -> None:
    system = _device("&units=2").parallel()
    assert system is not None
    unit = {
        "pv_input_voltage": 300.0,
        "pv_input_current": 4.0,
        "ac_output_active_power": 500,
        "battery_voltage": 50.0,
        "battery_charging_current": 10,
        "battery_discharge_current": 0,
        "ac_input_voltage": 230.0,
    }
    power = {c.power_key: c.power(unit) for c in system.unit_counters if c.power_key}
    # grid = load + charge - PV (the PI30 balance, with PV from QPGSn's own keys)
    assert power == {"pv_power": 1200.0, "grid_power": -200.0, "battery_power": 500.0}


def test_totals_are_sums_and_never_partial() -> None:
    system = _device("&units=2").parallel()
    assert system is not None
    a = {"pv_power": 1000.4, "ac_output_active_power": 300, "grid_power": 0.0, "battery_power": 700.2}
    b = {"pv_power": 500.0, "ac_output_active_power": 200, "grid_power": 10.0, "battery_power": 310.0}
    assert system.totals([a, b]) == {
        "pv_power": 1500.4,
        "load_power": 500.0,
        "grid_power": 10.0,
        "battery_power": 1010.2,
    }
    assert system.totals([a]) is None  # a unit missing: no total rather than a sudden drop
    assert system.totals([a, {**b, "grid_power": None}]) is None


@pytest.mark.parametrize("raw", ["1", "10", "two", "-3"])
def test_units_out_of_range_fail_fast_with_one_line(raw: str) -> None:
    with pytest.raises(ConfigError, match="a parallel system has 2 to 9 units"):
        _device(f"&units={raw}")

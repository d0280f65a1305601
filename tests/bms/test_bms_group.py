"""Battery group arithmetic (services/bms/group.aggregate): parallel packs as one battery."""

from __future__ import annotations

from solarstack.services.bms.group import GROUP_FIELDS, aggregate


def test_parallel_packs_sum_and_weight() -> None:
    a = {"voltage": 53.0, "current": 10.0, "power": 530.0, "soc": 80, "full_capacity": 100.0,
         "remaining_capacity": 80.0, "min_cell_voltage": 3.30, "max_cell_voltage": 3.32,
         "temperature_1": 21.0, "temperature_mos": 30.0, "alarm_cell_overvoltage": False,
         "battery_energy_charged": 1.5, "battery_energy_discharged": 0.5}  # fmt: skip
    b = {"voltage": 53.2, "current": -4.0, "power": -212.8, "soc": 50, "full_capacity": 300.0,
         "remaining_capacity": 150.0, "min_cell_voltage": 3.28, "max_cell_voltage": 3.35,
         "temperature_1": 25.0, "alarm_cell_overvoltage": True,
         "battery_energy_charged": 2.0, "battery_energy_discharged": 1.0}  # fmt: skip
    out = aggregate([a, b], pack_count=3)
    assert out == {
        "pack_count": 3,
        "packs_online": 2,
        "current": 6.0,
        "power": 317.2,
        "remaining_capacity": 230.0,
        "full_capacity": 400.0,
        "voltage": 53.1,
        "soc": 57.5,  # (80 * 100 + 50 * 300) / 400: weighted by capacity, not 65
        "min_cell_voltage": 3.28,
        "max_cell_voltage": 3.35,
        "delta_cell_voltage": 0.07,
        "max_temperature": 30.0,
        "alarm": True,
        "battery_energy_charged": 3.5,
        "battery_energy_discharged": 1.5,
    }
    assert set(out) <= {f.key for f in GROUP_FIELDS}


def test_no_pack_online_and_unknown_capacity() -> None:
    assert aggregate([], pack_count=2) == {"pack_count": 2, "packs_online": 0}
    out = aggregate([{"soc": 40}, {"soc": 60, "full_capacity": 100.0, "battery_energy_charged": 1.0}], 2)
    assert out["soc"] == 50.0  # one capacity missing: plain mean
    assert "battery_energy_charged" not in out  # a partial sum would make the total drop
    assert out["alarm"] is False

"""The simulator as a parallel system (`--units N`): on the wire (request frames in, reply frames
decoded by the codec, CRCs checked), each unit answers its own QPGSn (PI18: PGSn) with its own share of the
plant, the shares add up to the plant, and a unit that is not there is NAKed as a real master
does. The plant's clock is frozen, so every query of one test sees the same instant.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from solarstack.core.errors import NakError
from solarstack.core.fields import Value
from solarstack.protocols import pi18, pi30
from solarstack.sim.inverter import SERIAL, Pi30Inverter, _parser, build_any, pv_shares
from solarstack.sim.pi18 import Pi18Inverter
from solarstack.sim.plant import Plant

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _inverter(units: int) -> Pi30Inverter:
    return Pi30Inverter(Plant(seed=7, start=NOON, clock=lambda: 1000.0), units=units)


def _ask(inverter: Pi30Inverter, command: str) -> dict[str, Value]:
    return pi30.decode(command, inverter.handle(pi30.encode(command)))


def _num(value: Value) -> float:
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    return float(value)


def test_each_unit_answers_its_own_share_and_they_add_up_to_the_plant() -> None:
    inverter = _inverter(3)
    plant = inverter.plant.snapshot()
    assert plant.pv_power_w > 1000 and plant.load_power_w > 0  # noon: a test of real shares
    units = [_ask(inverter, f"QPGS{n}") for n in range(3)]

    assert [u["serial_number"] for u in units] == [SERIAL, str(int(SERIAL) + 1), str(int(SERIAL) + 2)]
    assert {u["output_mode"] for u in units} == {"parallel"}
    # the arrays differ, so the units can be told apart; together they are the plant's PV
    # (QPGSn has volts and whole amps, not watts: the sum is good to the amps' rounding)
    pv = [_num(u["pv_input_voltage"]) * _num(u["pv_input_current"]) for u in units]
    assert pv == sorted(pv, reverse=True) and pv[0] > pv[2] > 0  # whole amps: neighbours may tie
    volts = _num(units[0]["pv_input_voltage"])
    assert sum(pv) == pytest.approx(plant.pv_power_w, abs=3 * 0.5 * volts)
    loads = [_num(u["ac_output_active_power"]) for u in units]
    assert sum(loads) == pytest.approx(plant.load_power_w, abs=3)
    # every unit reports the system's total output, the same on each
    assert {u["total_ac_output_active_power"] for u in units} == {round(plant.load_power_w)}
    charging = sum(_num(u["battery_charging_current"]) for u in units)
    assert {u["total_charging_current"] for u in units} == {charging}
    # each unit's battery flow balances its own PV, grid, load and losses; together, the plant's
    views = [inverter.unit_view(plant, n) for n in range(3)]
    assert sum(v.battery_power_w for v in views) == pytest.approx(plant.battery_power_w, abs=1e-6)
    assert sum(v.pv_power_w for v in views) == pytest.approx(plant.pv_power_w, abs=1e-6)
    for v in views:
        assert v.pv_power_w + v.grid_power_w == pytest.approx(v.load_power_w + v.battery_power_w + v.loss_power_w)


def test_the_master_answers_qpigs_for_itself() -> None:
    inverter = _inverter(3)
    qpigs, qpgs0 = _ask(inverter, "QPIGS"), _ask(inverter, "QPGS0")
    plant = inverter.plant.snapshot()
    assert qpigs["pv_input_power"] == round(plant.pv_power_w * pv_shares(3)[0])
    assert qpigs["ac_output_active_power"] == qpgs0["ac_output_active_power"]


def test_a_unit_beyond_the_system_is_nakked() -> None:
    inverter = _inverter(2)
    _ask(inverter, "QPGS1")
    with pytest.raises(NakError):
        _ask(inverter, "QPGS2")
    single = _inverter(1)  # one unit: as before, only QPGS0, whose figures are the whole plant's
    assert _ask(single, "QPGS0")["total_ac_output_active_power"] == round(single.plant.snapshot().load_power_w)
    with pytest.raises(NakError):
        _ask(single, "QPGS1")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--units", "3", "--protocol", "pi17"], "--protocol pi30/pi18 only"),
        (["--units", "10"], "2 to 9 units"),
        (["--units", "10", "--protocol", "pi18"], "2 to 9 units"),
    ],
)
def test_units_out_of_reach_are_refused(argv: list[str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        build_any(_parser().parse_args(["--tcp", "0", *argv]))


def test_a_pi18_master_answers_each_pgsn_with_its_units_share() -> None:
    inverter = Pi18Inverter(Plant(seed=7, start=NOON, clock=lambda: 1000.0), units=3)
    plant = inverter.plant.snapshot()
    units = [pi18.decode(f"PGS{n}", inverter.handle(pi18.encode(f"PGS{n}"))) for n in range(3)]
    pv = [_num(u["pv_input_power"]) + _num(u["pv2_input_power"]) for u in units]
    assert len(set(pv)) == 3 and sum(pv) == pytest.approx(plant.pv_power_w, abs=3)  # whole watts each
    loads = [_num(u["ac_output_active_power"]) for u in units]
    assert {_num(u["total_ac_output_active_power"]) for u in units} == {sum(loads)}
    assert sum(loads) == pytest.approx(plant.load_power_w, abs=3)
    with pytest.raises(NakError):
        pi18.decode("PGS3", inverter.handle(pi18.encode("PGS3")))

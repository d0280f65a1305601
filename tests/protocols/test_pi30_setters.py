"""PI30 settings: exact command text, ranges by nominal battery voltage, current lists."""

from __future__ import annotations

import pytest
from pi30_frames import RECORDED

from solarstack.core.errors import SettingError
from solarstack.protocols import pi30

CTX48 = pi30.Pi30Context(48.0)
CTX24 = pi30.Pi30Context(24.0)
CTX12 = pi30.Pi30Context(12.0)


@pytest.mark.parametrize(
    ("key", "value", "command"),
    [
        ("output_source_priority", "SBU", "POP02"),
        ("output_source_priority", "utility", "POP00"),
        ("charger_source_priority", "solar_only", "PCP03"),
        ("input_voltage_range", "ups", "PGR01"),
        ("battery_type", "flooded", "PBT01"),
        ("battery_recharge_voltage", "44", "PBCV44.0"),
        ("battery_redischarge_voltage", 0, "PBDV00.0"),
        ("battery_redischarge_voltage", "54.0", "PBDV54.0"),
        ("battery_float_voltage", 54.0, "PBFT54.0"),
        ("battery_bulk_voltage", "58.4", "PCVV58.4"),
        ("battery_under_voltage", "42.5", "PSDV42.5"),
        ("max_charging_current", "60", "MCHGC060"),
        ("max_charging_current", 120, "MNCHGC0120"),
        ("max_utility_charging_current", "30", "MUCHGC030"),
        ("buzzer", "OFF", "PDa"),
        ("backlight", "on", "PEx"),
        ("fault_code_record", "ON", "PEz"),
        ("output_frequency", "60", "F60"),
        ("output_mode", "parallel", "POPM01"),
        ("parallel_charger_source_priority", "solar", "PPCP001"),
        ("pv_power_balance", "charge_plus_load", "PSPB1"),
        ("battery_charge_discharge_control", "010", "PBATCD010"),
        ("max_discharging_current", 0, "PBATMAXDISC000"),
        ("max_discharging_current", "150", "PBATMAXDISC150"),
        ("battery_voltage_calibration", "-0.05", "BTA-01"),
        ("battery_voltage_calibration", 0.45, "BTA+09"),
        ("operation_logic", "eco", "POPLG02"),
        ("pv_ok_condition", "all_units", "PPVOKC1"),
        ("clock", "2024-01-15T12:30:05", "DAT20240115123005"),
        ("restore_defaults", "PRESS", "PF"),
        ("save_settings", "PRESS", "PSAVE"),
    ],
)
def test_setter_text(key: str, value: str | float, command: str) -> None:
    text = pi30.setter_command(key, value, CTX48)
    assert text == command
    assert pi30.lookup(text).read_only is False  # a setter, sendable with encode()
    assert not pi30.is_query(text)
    assert pi30.encode(text).startswith(command.encode())


def test_every_setting_has_a_builder_and_every_command_letter_is_covered() -> None:
    keys = {s.key for s in (*pi30.SETTINGS, *pi30.ACTIONS)}
    assert len(keys) == len(pi30.SETTINGS) + len(pi30.ACTIONS)
    setter_names = {name for name, c in pi30.COMMANDS.items() if not c.read_only}
    produced = set()
    for setting in pi30.SETTINGS:
        for option in setting.options or ():
            produced.add(pi30.lookup(pi30.setter_command(setting.key, option, CTX48)).name)
        if setting.minimum is not None and setting.key != "battery_voltage_calibration":
            value = 30 if setting.key == "max_discharging_current" else setting.minimum
            produced.add(pi30.lookup(pi30.setter_command(setting.key, value, CTX48)).name)
    produced.add(pi30.lookup(pi30.setter_command("max_charging_current", 120, CTX48)).name)
    produced.update({"BTA", "DAT", "PF", "PSAVE"})
    assert produced == setter_names


@pytest.mark.parametrize(
    ("ctx", "key", "ok", "bad"),
    [
        (CTX48, "battery_recharge_voltage", ["44.0", "51.0"], ["43.9", "51.1"]),
        (CTX24, "battery_recharge_voltage", ["22.0", "25.5"], ["21.9", "25.6", "44.0"]),
        (CTX12, "battery_recharge_voltage", ["11.0", "12.8"], ["10.9", "12.9", "22.0"]),
        (CTX48, "battery_redischarge_voltage", ["0", "48.0", "58.0"], ["47.9", "58.1"]),
        (CTX24, "battery_redischarge_voltage", ["0", "24.0", "29.0"], ["23.9", "29.1", "48.0"]),
        (CTX12, "battery_redischarge_voltage", ["0", "12.0", "14.5"], ["11.9", "14.6"]),
        (CTX48, "battery_float_voltage", ["48.0", "58.4"], ["47.9", "58.5"]),
        (CTX24, "battery_bulk_voltage", ["24.0", "29.2"], ["23.9", "29.3"]),
        (CTX12, "battery_bulk_voltage", ["12.0", "14.6"], ["11.9", "14.7"]),
        (CTX48, "battery_under_voltage", ["40.0", "48.0"], ["39.9", "48.1"]),
        (CTX24, "battery_under_voltage", ["20.0", "24.0"], ["19.9", "24.1"]),
        (CTX12, "battery_under_voltage", ["10.0", "12.0"], ["9.9", "12.1", "0"]),
    ],
)
def test_voltage_ranges_scale_with_nominal_voltage(
    ctx: pi30.Pi30Context, key: str, ok: list[str], bad: list[str]
) -> None:
    for value in ok:
        text = pi30.setter_command(key, value, ctx)
        assert text.endswith(f"{float(value):04.1f}")
    for value in bad:
        with pytest.raises(SettingError, match=key):
            pi30.setter_command(key, value, ctx)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("battery_float_voltage", "54.05"),  # more precision than the command carries
        ("battery_float_voltage", "fifty"),
        ("battery_float_voltage", "nan"),
        ("output_source_priority", "battery"),
        ("buzzer", "maybe"),
        ("max_charging_current", "60.5"),
        ("max_charging_current", "5"),
        ("max_discharging_current", "20"),
        ("max_discharging_current", "151"),
        ("battery_voltage_calibration", "0.5"),
        ("battery_voltage_calibration", "0.07"),
        ("clock", "yesterday"),
        ("clock", "2024-13-01T00:00:00"),
        ("battery_charge_discharge_control", "012"),
        ("unknown_setting", "1"),
    ],
)
def test_refused_values(key: str, value: str) -> None:
    with pytest.raises(SettingError) as info:
        pi30.setter_command(key, value, CTX48)
    assert "\n" not in str(info.value)


def test_currents_must_come_from_the_device_lists() -> None:
    by_name = {c: d for c, _, d in RECORDED}
    qpiri = next(d for c, _, d in RECORDED if c == "QPIRI" and d["rated_battery_voltage"] == 24.0)
    ctx = pi30.context_from(qpiri, by_name["QMCHGCR"], by_name["QMUCHGCR"])
    assert ctx.nominal_battery_voltage == 24.0
    assert ctx.max_charging_currents == (10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120)
    assert ctx.max_utility_charging_currents == (2, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120)
    assert pi30.setter_command("max_charging_current", 30, ctx) == "MCHGC030"
    assert pi30.setter_command("max_utility_charging_current", 2, ctx) == "MUCHGC002"
    with pytest.raises(SettingError, match="not one the device offers"):
        pi30.setter_command("max_charging_current", 35, ctx)
    with pytest.raises(SettingError, match="not one the device offers"):
        pi30.setter_command("max_utility_charging_current", 5, ctx)
    with pytest.raises(SettingError, match="24 V"):  # 48 V values refused on a 24 V unit
        pi30.setter_command("battery_float_voltage", 54.0, ctx)


def test_three_digit_current_style_and_parallel_unit() -> None:
    ctx = pi30.Pi30Context(48.0, current_digits=3, unit=1)
    assert pi30.setter_command("max_utility_charging_current", 30, ctx) == "MUCHGC1030"
    assert pi30.setter_command("max_charging_current", 120, ctx) == "MCHGC1120"
    assert pi30.setter_command("output_mode", "phase_1_of_3", ctx) == "POPM12"
    with pytest.raises(SettingError, match="three-digit"):
        pi30.setter_command("max_utility_charging_current", 100, CTX48)


def test_short_clock_style() -> None:
    ctx = pi30.Pi30Context(48.0, short_clock=True)
    text = pi30.setter_command("clock", "2024-01-15 12:30:05", ctx)
    assert text == "DAT240115123005"
    assert pi30.lookup(text).name == "DAT"


def test_context_needs_a_rated_battery_voltage() -> None:
    with pytest.raises(SettingError):
        pi30.context_from({})
    assert pi30.context_from({"rated_battery_voltage": 51.2}).nominal_battery_voltage == 48.0


def test_expected_readback_matches_what_the_query_decodes() -> None:
    qpiri = next(d for c, _, d in RECORDED if c == "QPIRI")
    for setting in pi30.SETTINGS:
        if setting.readback_command != "QPIRI" or setting.readback is None or not setting.options:
            continue
        current = qpiri.get(setting.readback)
        if current in setting.options:  # writing the present value reads back unchanged
            assert pi30.expected_readback(setting.key, str(current).upper()) == current
    assert pi30.expected_readback("buzzer", "ON") is True
    assert pi30.expected_readback("output_frequency", "50") == qpiri["rated_ac_output_frequency"]
    assert pi30.expected_readback("max_charging_current", "10") == qpiri["max_charging_current"]
    assert pi30.expected_readback("battery_float_voltage", "54.0") == qpiri["battery_float_voltage"]
    assert pi30.expected_readback("restore_defaults", "PRESS") is None


def test_settings_for_narrows_bounds_to_the_unit() -> None:
    ctx = pi30.Pi30Context(24.0, max_charging_currents=(10, 20, 30), max_utility_charging_currents=(2, 10))
    by_key = {s.key: s for s in pi30.settings_for(ctx)}
    assert (by_key["battery_float_voltage"].minimum, by_key["battery_float_voltage"].maximum) == (24.0, 29.2)
    assert (by_key["battery_redischarge_voltage"].minimum, by_key["battery_redischarge_voltage"].maximum) == (0.0, 29.0)
    assert (by_key["max_charging_current"].minimum, by_key["max_charging_current"].maximum) == (10, 30)
    assert (by_key["max_utility_charging_current"].minimum, by_key["max_utility_charging_current"].maximum) == (2, 10)
    assert by_key["battery_voltage_calibration"].maximum == 0.45  # not a battery-voltage range
    # The narrowed bounds are exactly what setter_command accepts.
    for key in ("battery_float_voltage", "battery_under_voltage", "battery_recharge_voltage"):
        setting = by_key[key]
        pi30.setter_command(key, setting.minimum or 0.0, ctx)
        pi30.setter_command(key, setting.maximum or 0.0, ctx)
        with pytest.raises(SettingError):
            pi30.setter_command(key, (setting.maximum or 0.0) + 0.1, ctx)
    assert pi30.settings_for(CTX48) == pi30.SETTINGS  # the static bounds are the 48 V ones


@pytest.mark.parametrize("key", ["restore_defaults", "save_settings"])
@pytest.mark.parametrize("payload", ["NO", "", " ", "press", " PRESS", "PRESS ", "ON", "1", 1.0])
def test_an_action_takes_only_the_exact_payload_press(key: str, payload: str | float) -> None:
    # Issue 8 item 1: `NO` or an empty payload used to factory-reset the unit (PF).
    with pytest.raises(SettingError, match="PRESS") as info:
        pi30.setter_command(key, payload, CTX48)
    assert "\n" not in str(info.value)


def test_destructive_actions_are_marked_in_the_protocol() -> None:
    # PF (restore defaults) erases every setting; PSAVE and the clock do not.
    destructive = set(pi30.DESTRUCTIVE)
    assert destructive == {"restore_defaults"}
    assert destructive <= {a.key for a in pi30.ACTIONS}
    assert {pi30.setter_command(k, pi30.PRESS, CTX48) for k in pi30.DESTRUCTIVE} == {"PF"}


@pytest.mark.parametrize(
    ("key", "value", "command"),
    [
        ("battery_redischarge_voltage", "-0", "PBDV00.0"),  # never `PBDV-0.0`
        ("battery_redischarge_voltage", "-0.0", "PBDV00.0"),
        ("battery_float_voltage", "54.000", "PBFT54.0"),  # zeros are not decimals
        ("battery_float_voltage", "5.4e1", "PBFT54.0"),
        ("battery_float_voltage", " 54.1 ", "PBFT54.1"),
        ("battery_float_voltage", 54.1, "PBFT54.1"),
        ("max_charging_current", "60.0", "MCHGC060"),
        ("max_charging_current", "1e1", "MCHGC010"),
        ("battery_voltage_calibration", "-0", "BTA+00"),
        ("battery_voltage_calibration", "-0.45", "BTA-09"),
        ("clock", "2024-02-29 23:59:59", "DAT20240229235959"),  # a leap day exists
    ],
)
def test_numbers_are_read_exactly(key: str, value: str | float, command: str) -> None:
    assert pi30.setter_command(key, value, CTX48) == command


@pytest.mark.parametrize(
    ("key", "value"),
    [
        *(("battery_float_voltage", v) for v in ("5_4", "٥٤", "inf", "-inf", "1e308", "1e400", "0x36", "54,0")),
        *(("battery_float_voltage", v) for v in ("54.00000000001", "54.0V", "", " ", "\x00", "9" * 400)),
        *(("max_charging_current", v) for v in ("6_0", "1e308", "60.0000001", "-60", "nan")),
        *(("max_discharging_current", v) for v in ("1e999", "-0.5", "29")),
        *(("battery_voltage_calibration", v) for v in ("1e308", "-1e308", "0.025", "nan")),
        *(("clock", v) for v in ("2024-02-31T00:00:00", "2023-02-29T00:00:00", "0000-01-01T00:00:00")),
        ("clock", "٢٠٢٤-01-15T12:30:00"),
        ("battery_float_voltage", float("nan")),
        ("battery_float_voltage", float("inf")),
        ("battery_float_voltage", True),
    ],
)
def test_junk_is_refused_in_one_short_line(key: str, value: str | float) -> None:
    # Issue 8 item 12: these passed (and were NAKed by the unit) or raised something else.
    with pytest.raises(SettingError) as info:
        pi30.setter_command(key, value, CTX48)
    assert "\n" not in str(info.value) and len(str(info.value)) <= 200


def test_a_huge_value_is_not_echoed_whole() -> None:
    with pytest.raises(SettingError) as info:
        pi30.setter_command("output_source_priority", "x" * 1_000_000, CTX48)
    assert len(str(info.value)) < 200


def test_short_clock_needs_a_year_it_can_carry() -> None:
    ctx = pi30.Pi30Context(48.0, short_clock=True)
    with pytest.raises(SettingError, match="2000-2099"):
        pi30.setter_command("clock", "1999-12-31T00:00:00", ctx)

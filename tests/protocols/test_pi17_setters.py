"""PI17 settings: every setting's exact request bytes, ranges, the several-in-one commands,
read-back.

Request frames carry no CRC; each expected frame below is written out by hand from the
PDFs' formats (`^S010MCHGCnnnn<cr>`, `^S015MCHGVmmmm,nnnn<cr>`, `^S025BATDVaaaa,bbbb,cccc,
dddd<cr>`, `^S006SEPnn<cr>`, `^S005EDmn<cr>`, `^S004Pmn<cr>`, `^S004BTn<cr>`,
`^S009BDCMnnnn<cr>`), not derived from the encoder.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solarstack.core.errors import SettingError
from solarstack.protocols import pi17
from solarstack.protocols.pi17 import Pi17Context

#: What BATS_18 in test_pi17_decode.py says is in force.
CTX = pi17.context_from(
    {
        "battery_bulk_voltage": 58.4,
        "battery_float_voltage": 57.6,
        "battery_under_voltage": 46.0,
        "battery_under_back_voltage": 51.0,
        "battery_weak_voltage": 46.0,
        "battery_weak_back_voltage": 51.0,
    }
)

# (setting, value, full request frame)
EXACT: list[tuple[str, str | float, bytes]] = [
    ("solar_power_priority", "battery_load_utility", b"^S006SEP00\r"),
    ("solar_power_priority", "load_battery_utility", b"^S006SEP01\r"),
    ("solar_power_priority", "LOAD_UTILITY_BATTERY", b"^S006SEP02\r"),
    ("solar_charge_battery", "ON", b"^S005EDA1\r"),
    ("ac_charge_battery", "off", b"^S005EDB0\r"),
    ("feed_to_grid", "ON", b"^S005EDC1\r"),
    ("battery_to_load_when_solar_ok", "ON", b"^S005EDD1\r"),
    ("battery_to_load_when_solar_lost", "OFF", b"^S005EDE0\r"),
    ("battery_to_grid_when_solar_ok", "OFF", b"^S005EDF0\r"),
    ("battery_to_grid_when_solar_lost", "ON", b"^S005EDG1\r"),
    ("max_charging_current", 60, b"^S010MCHGC0600\r"),
    ("max_charging_current", "175.5", b"^S010MCHGC1755\r"),
    ("max_charging_current", 300, b"^S010MCHGC3000\r"),
    ("max_utility_charging_current", 30, b"^S011MUCHGC0300\r"),
    ("max_utility_charging_current", "0", b"^S011MUCHGC0000\r"),
    ("battery_bulk_voltage", 56.4, b"^S015MCHGV0564,0576\r"),  # float stays 57.6
    ("battery_float_voltage", "54", b"^S015MCHGV0584,0540\r"),  # bulk stays 58.4
    ("battery_under_voltage", 44.5, b"^S025BATDV0445,0510,0460,0510\r"),
    ("battery_under_back_voltage", 52, b"^S025BATDV0460,0520,0460,0510\r"),
    ("battery_weak_voltage", "47.0", b"^S025BATDV0460,0510,0470,0510\r"),
    ("battery_weak_back_voltage", 60, b"^S025BATDV0460,0510,0460,0600\r"),
    ("max_hybrid_discharging_current", 250, b"^S009BDCM0250\r"),
    ("max_hybrid_discharging_current", "10", b"^S009BDCM0010\r"),
    ("battery_type", "ordinary", b"^S004BT0\r"),
    ("battery_type", "lifepo4", b"^S004BT1\r"),
    ("mute_buzzer", "ON", b"^S004PEA\r"),
    ("mute_buzzer", "OFF", b"^S004PDA\r"),
    ("mute_buzzer_standby", "ON", b"^S004PEB\r"),
    ("mute_buzzer_on_battery", "OFF", b"^S004PDC\r"),
    ("generator_as_ac_input", "ON", b"^S004PED\r"),
    ("wide_ac_input_range", "OFF", b"^S004PDE\r"),
    ("ng_relay", "ON", b"^S004PEF\r"),
]


@pytest.mark.parametrize(("key", "value", "wire"), EXACT, ids=[f"{k}={v}" for k, v, _ in EXACT])
def test_exact_request(key: str, value: str | float, wire: bytes) -> None:
    text = pi17.setter_command(key, value, CTX)
    assert pi17.encode(text) == wire
    assert not pi17.is_query(text)


def test_every_setting_is_exercised() -> None:
    assert {k for k, _, _ in EXACT} == {s.key for s in pi17.SETTINGS}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("solar_power_priority", "utility", "is not one of"),
        ("solar_charge_battery", "1", "ON or OFF"),
        ("max_charging_current", 300.1, "out of range 0-300 A"),
        ("max_charging_current", -1, "out of range"),
        ("max_charging_current", "60.05", "more than one decimal"),
        ("max_utility_charging_current", "inf", "not a number"),
        ("battery_bulk_voltage", 60.1, "out of range 40-60 V"),
        ("battery_float_voltage", 39.9, "out of range"),
        ("battery_under_voltage", "45.55", "more than one decimal"),
        ("battery_weak_back_voltage", "5_0", "not a number"),
        ("max_hybrid_discharging_current", 9, "out of range 10-300"),
        ("max_hybrid_discharging_current", 301, "out of range"),
        ("max_hybrid_discharging_current", 25.5, "whole number"),
        ("battery_type", "agm", "is not one of"),
        ("mute_buzzer", True, "ON or OFF"),
        ("buzzer", "ON", "unknown PI17 setting"),
    ],
)
def test_refused_values(key: str, value: str | float, message: str) -> None:
    with pytest.raises(SettingError, match=message):
        pi17.setter_command(key, value, CTX)


@pytest.mark.parametrize(
    "key",
    [
        "battery_bulk_voltage",
        "battery_float_voltage",
        "battery_under_voltage",
        "battery_under_back_voltage",
        "battery_weak_voltage",
        "battery_weak_back_voltage",
    ],
)
def test_the_values_in_force_are_needed_not_guessed(key: str) -> None:
    with pytest.raises(SettingError, match="read BATS first"):
        pi17.setter_command(key, 50, Pi17Context())
    with pytest.raises(SettingError, match="read BATS first"):
        pi17.setter_command(key, 50)


def test_context_from_a_decoded_bats_reply() -> None:
    # test_pi17_decode.py's 23-field BATS (mpp-solar pi17.py)
    bats = b"^D0941750,0560,0540,0000,060,0530,0420,0480,0480,0540,0,,,0,0480,000,0100,0175,010,020,020,080,0mr\r"
    ctx = pi17.context_from(pi17.decode("BATS", bats))
    assert ctx == Pi17Context(
        bulk_voltage=56.0,
        float_voltage=54.0,
        under_voltage=42.0,
        under_back_voltage=48.0,
        weak_voltage=48.0,
        weak_back_voltage=54.0,
    )
    assert pi17.setter_command("battery_float_voltage", 53.5, ctx) == "MCHGV0560,0535"


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("solar_power_priority", " Load_Battery_Utility ", "load_battery_utility"),
        ("feed_to_grid", "on", True),
        ("mute_buzzer", "OFF", False),
        ("battery_type", "LIFEPO4", "lifepo4"),
        ("max_charging_current", "60", 60.0),
        ("battery_bulk_voltage", 56.4, 56.4),
        ("max_hybrid_discharging_current", "250", 250),
    ],
)
def test_expected_readback(key: str, value: str | float, shown: object) -> None:
    pi17.setter_command(key, value, CTX)
    setting = pi17.SETTING_MAP[key]
    assert pi17.expected_readback(key, value) == shown
    # the read-back field exists in the query the setting names
    assert setting.readback in {f.key for f in pi17.table(setting.readback_command or "")}


def test_a_setting_reads_back_what_decode_shows() -> None:
    """Read-back compares like with like: the value decode() gives for the same text."""
    frame = pi17.reply_frame("1750,0560,0540,0000,060,0530,0420,0480,0480,0540,1,,,0,0480,000,0100,0175")
    bats = pi17.decode("BATS", frame)
    assert pi17.expected_readback("max_charging_current", "175") == bats["max_charging_current"]
    assert pi17.expected_readback("max_utility_charging_current", 10) == bats["max_ac_charging_current"]
    assert pi17.expected_readback("battery_type", "lifepo4") == bats["battery_type"]
    assert pi17.expected_readback("max_hybrid_discharging_current", 175) == bats["max_hybrid_discharging_current"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.sampled_from([s.key for s in pi17.SETTINGS]),
    value=st.one_of(st.text(max_size=12), st.floats(allow_nan=True), st.integers(-(10**6), 10**6)),
)
def test_any_value_gives_a_valid_setter_or_a_setting_error(key: str, value: str | float) -> None:
    try:
        text = pi17.setter_command(key, value, CTX)
    except SettingError as exc:
        assert "\n" not in str(exc)
        return
    assert not pi17.lookup(text).read_only  # a known setter, never a query
    assert pi17.encode(text).startswith(b"^S")


def test_the_units_own_ranges_narrow_charge_voltage_and_current() -> None:
    """MAR (built here from the PDFs' layout: no recorded MAR reply is public) bounds MCHGV
    and MCHGC; MUCHGC and BATDV keep the static bounds."""
    limits = "2640,2300,2070,1840,5150,5010,4990,4700,999,010,4500,3500,1500,1200,4500,4000,1500,1200"
    frame = pi17.reply_frame(limits + ",0584,0480,1500,0100,10000,00000")
    mar = pi17.decode("MAR", frame)
    assert (mar["charge_voltage_max"], mar["charge_voltage_min"]) == (58.4, 48.0)
    assert (mar["charging_current_max"], mar["charging_current_min"]) == (150.0, 10.0)
    ctx = pi17.context_from({"battery_bulk_voltage": 56.4, "battery_float_voltage": 54.0}, mar)
    assert pi17.setter_command("battery_bulk_voltage", 58.4, ctx) == "MCHGV0584,0540"
    with pytest.raises(SettingError, match=r"out of range 48-58\.4 V"):
        pi17.setter_command("battery_bulk_voltage", 58.5, ctx)
    with pytest.raises(SettingError, match="out of range 10-150 A"):
        pi17.setter_command("max_charging_current", 160, ctx)
    assert pi17.setter_command("max_utility_charging_current", 160, ctx) == "MUCHGC1600"
    bounds = {s.key: (s.minimum, s.maximum) for s in pi17.settings_for(ctx)}
    assert bounds["battery_float_voltage"] == (48.0, 58.4)
    assert bounds["max_charging_current"] == (10.0, 150.0)
    assert bounds["max_utility_charging_current"] == (0.0, 300.0)
    assert pi17.settings_for(Pi17Context()) == pi17.SETTINGS

"""PI18 settings: every setting's exact request bytes, ranges, the two-in-one commands, read-back.

The full frames below were computed by hand from the PDF's rule (`^S` + len(text)+3 +
text + XMODEM CRC + CR); those whose text mpp-solar's tests also frame
(tests/integration/test_protocol_pi18*.py) match its bytes (test_pi18_framing.py).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solarstack.core.errors import SettingError
from solarstack.protocols import pi18
from solarstack.protocols.pi18 import Pi18Context

#: A 48 V unit whose PIRI said bulk 56.4, float 54.0, re-charge 46.0, re-discharge 54.0.
CTX = Pi18Context(bulk_voltage=56.4, float_voltage=54.0, recharge_voltage=46.0, redischarge_voltage=54.0)

# (setting, value, command text, full request frame)
EXACT: list[tuple[str, str | float, str, bytes]] = [
    ("output_source_priority", "solar_utility_battery", "POP0", b"^S007POP0\x1d1\r"),
    # CRC 0x0D10: its high byte would be a CR, so it is sent bumped to 0x0E
    ("output_source_priority", "solar_battery_utility", "POP1", b"^S007POP1\x0e\x10\r"),
    ("charger_source_priority", "solar", "PCP0,0", b""),
    ("charger_source_priority", "solar_and_utility", "PCP0,1", b"^S009PCP0,1\x8f\x07\r"),
    ("charger_source_priority", "solar_only", "PCP0,2", b""),
    ("solar_power_priority", "load_battery_utility", "PSP1", b"^S007PSP1;\x12\r"),
    ("input_voltage_range", "ups", "PGR1", b""),
    ("battery_type", "agm", "PBT0", b"^S007PBT0\x93\xa4\r"),
    ("battery_type", "user", "PBT2", b""),
    ("max_charging_current", 30, "MCHGC0,030", b"^S013MCHGC0,030\xc4\xee\r"),
    ("max_charging_current", "120", "MCHGC0,120", b""),
    ("max_utility_charging_current", 30, "MUCHGC0,030", b"^S014MUCHGC0,030\xee\xdd\r"),
    ("max_utility_charging_current", 2, "MUCHGC0,002", b""),
    ("battery_bulk_voltage", 55.2, "MCHGV552,540", b"^S015MCHGV552,540\x88\xe8\r"),
    ("battery_float_voltage", "53.5", "MCHGV564,535", b""),
    ("battery_under_voltage", 45, "PSDV450", b"^S010PSDV450,\x8b\r"),
    ("battery_under_voltage", "40.0", "PSDV400", b""),
    ("battery_recharge_voltage", 44, "BUCD440,540", b""),
    ("battery_redischarge_voltage", "0", "BUCD460,000", b""),
    ("battery_redischarge_voltage", 58, "BUCD460,580", b""),
    ("buzzer", "ON", "PEA", b"^S006PEA\xbb`\r"),
    ("buzzer", "off", "PDA", b"^S006PDA\x88Q\r"),
    ("overload_bypass", "ON", "PEB", b"^S006PEB\x8b\x03\r"),
    ("overload_restart", "OFF", "PDD", b"^S006PDD\xd8\xf4\r"),
    ("lcd_return_to_default", "ON", "PEC", b""),
    ("over_temperature_restart", "ON", "PEE", b""),
    ("backlight", "OFF", "PDF", b""),
    ("primary_source_interrupt_alarm", "ON", "PEG", b""),
    ("fault_code_record", "OFF", "PDH", b""),
]


def _crc(body: bytes) -> bytes:
    value = 0
    for byte in body:
        value ^= byte << 8
        for _ in range(8):
            value = ((value << 1) ^ 0x1021) if value & 0x8000 else value << 1
            value &= 0xFFFF
    return bytes(b + 1 if b in (0x28, 0x0D, 0x0A) else b for b in (value >> 8, value & 0xFF))


@pytest.mark.parametrize(("key", "value", "text", "wire"), EXACT, ids=[f"{k}={v}" for k, v, _, _ in EXACT])
def test_exact_request(key: str, value: str | float, text: str, wire: bytes) -> None:
    assert pi18.setter_command(key, value, CTX) == text
    body = b"^S%03d" % (len(text) + 3) + text.encode()
    frame = pi18.encode(text)
    assert frame == body + _crc(body) + b"\r"
    if wire:
        assert frame == wire
    assert not pi18.is_query(text)


def test_every_setting_is_exercised() -> None:
    assert {k for k, _, _, _ in EXACT} == {s.key for s in pi18.SETTINGS}


def test_a_zero_crc_byte_is_sent_as_is_unless_asked() -> None:
    # BUCD440,540's CRC is 0xD700: mpp-solar's crcPI would send 0xD701 (bump_zero).
    assert pi18.encode("BUCD440,540") == b"^S014BUCD440,540\xd7\x00\r"
    assert pi18.encode("BUCD440,540", bump_zero=True) == b"^S014BUCD440,540\xd7\x01\r"


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("output_source_priority", "utility", "is not one of"),
        ("charger_source_priority", "utility", "is not one of"),  # PI30 has it, PI18 does not
        ("battery_type", "pylontech", "is not one of"),  # PIRI may report it; PBT takes 0-2
        ("max_charging_current", 5, "out of range"),
        ("max_charging_current", 151, "out of range"),
        ("max_charging_current", "60.5", "whole number"),
        ("max_utility_charging_current", 1, "out of range"),
        ("battery_bulk_voltage", 58.5, "out of range 48.0-58.4"),
        ("battery_bulk_voltage", 47.9, "out of range"),
        ("battery_float_voltage", "54.05", "more than one decimal"),
        ("battery_under_voltage", 48.1, "out of range 40.0-48.0"),
        ("battery_under_voltage", "nan", "not a number"),
        ("battery_under_voltage", "4_5", "not a number"),
        ("battery_under_voltage", True, "not a number"),
        ("battery_recharge_voltage", 44.5, "is not one a 48 V unit takes"),
        ("battery_recharge_voltage", 52, "is not one"),
        ("battery_redischarge_voltage", 47, "is not one"),
        ("battery_redischarge_voltage", 58.5, "is not one"),
        ("buzzer", "1", "not ON or OFF"),
        ("grid_tie", "ON", "unknown PI18 setting"),
    ],
)
def test_refused(key: str, value: str | float, reason: str) -> None:
    with pytest.raises(SettingError, match=reason):
        pi18.setter_command(key, value, CTX)


def test_the_other_half_of_a_two_value_command_must_be_known() -> None:
    bare = Pi18Context()
    for key in ("battery_bulk_voltage", "battery_float_voltage", "battery_recharge_voltage"):
        with pytest.raises(SettingError, match="read PIRI first"):
            pi18.setter_command(key, 50, bare)
    assert pi18.setter_command("battery_under_voltage", 45, bare) == "PSDV450"  # one value: no partner


def test_context_from_piri_and_current_lists() -> None:
    piri = {
        "rated_battery_voltage": 24.0,
        "battery_bulk_voltage": 28.2,
        "battery_float_voltage": 27.0,
        "battery_recharge_voltage": 23.0,
        "battery_redischarge_voltage": 0.0,
    }
    ctx = pi18.context_from(piri, {"charging_current_options": [10, 20, 30]}, None, unit=2)
    assert ctx.nominal_battery_voltage == 24.0 and ctx.unit == 2
    assert ctx.max_charging_currents == (10, 20, 30) and ctx.max_utility_charging_currents == ()
    # 24 V unit: half the 48 V ranges, and its own BUCD list
    assert pi18.setter_command("battery_bulk_voltage", 29.2, ctx) == "MCHGV292,270"
    with pytest.raises(SettingError, match=r"24\.0-29\.2"):
        pi18.setter_command("battery_bulk_voltage", 29.3, ctx)
    assert pi18.setter_command("battery_recharge_voltage", 22.5, ctx) == "BUCD225,000"
    assert pi18.setter_command("battery_redischarge_voltage", 28.5, ctx) == "BUCD230,285"
    with pytest.raises(SettingError, match="is not one"):
        pi18.setter_command("battery_recharge_voltage", 44, ctx)
    # the unit's own current list, and its parallel machine number
    assert pi18.setter_command("max_charging_current", 20, ctx) == "MCHGC2,020"
    assert pi18.setter_command("charger_source_priority", "solar", ctx) == "PCP2,0"
    with pytest.raises(SettingError, match="not one the device offers"):
        pi18.setter_command("max_charging_current", 25, ctx)
    with pytest.raises(SettingError, match="rated battery voltage"):
        pi18.context_from({})


def test_settings_for_narrows_bounds() -> None:
    ctx = Pi18Context(nominal_battery_voltage=12.0, max_utility_charging_currents=(2, 10, 20))
    narrowed = {s.key: s for s in pi18.settings_for(ctx)}
    assert (narrowed["battery_bulk_voltage"].minimum, narrowed["battery_bulk_voltage"].maximum) == (12.0, 14.6)
    assert (narrowed["battery_recharge_voltage"].minimum, narrowed["battery_recharge_voltage"].maximum) == (11.0, 12.8)
    assert narrowed["battery_recharge_voltage"].step == 0.1
    assert (narrowed["battery_redischarge_voltage"].minimum, narrowed["battery_redischarge_voltage"].maximum) == (
        0,
        14.5,
    )
    assert (narrowed["max_utility_charging_current"].minimum, narrowed["max_utility_charging_current"].maximum) == (
        2,
        20,
    )


@pytest.mark.parametrize(("key", "value", "text", "wire"), EXACT, ids=[f"{k}={v}" for k, v, _, _ in EXACT])
def test_expected_readback_is_what_the_readback_query_decodes(
    key: str, value: str | float, text: str, wire: bytes
) -> None:
    """Write the value into the read-back query's reply (as a unit would) and decode it."""
    setting = pi18.SETTING_MAP[key]
    assert setting.readback and setting.readback_command
    expected = pi18.expected_readback(key, value)
    frame = pi18.reply_frame(pi18.format_fields(setting.readback_command, {setting.readback: expected}))
    assert pi18.decode(setting.readback_command, frame)[setting.readback] == expected


# --- fuzz: only SettingError escapes, and whatever passes is a command the unit takes ----

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALUES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["ON", "OFF", "0", "-0", "54.0", "1e3", "1e999999", "inf", "nan", "56.4", "١٢", " 45 "]),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)


@FAST
@given(
    key=st.sampled_from([s.key for s in pi18.SETTINGS]),
    value=VALUES,
    nominal=st.sampled_from([12.0, 24.0, 48.0]),
    unit=st.integers(0, 9),
)
def test_setter_fuzz(key: str, value: str | float, nominal: float, unit: int) -> None:
    ctx = CTX._replace(nominal_battery_voltage=nominal, unit=unit)
    try:
        text = pi18.setter_command(key, value, ctx)
    except SettingError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 300
        return
    spec = pi18.lookup(text)  # matches a setter's pattern exactly
    assert not spec.read_only
    frame = pi18.encode(text)
    assert pi18.frame_end(frame) == len(frame)

"""PI30 decoding of recorded frames (every field), firmware variations, and table hygiene."""

from __future__ import annotations

import re

import pytest
from pi30_frames import QPIGS_HS, QPIGS_PAYLOAD_VARIANTS, RECORDED

from solarstack.core.errors import ConfigError, FrameError
from solarstack.core.fields import UNITS, Kind
from solarstack.protocols import pi30


@pytest.mark.parametrize(
    ("command", "frame", "expected"), RECORDED, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(RECORDED)]
)
def test_recorded_frame_decodes_every_field(command: str, frame: bytes, expected: dict[str, object]) -> None:
    assert pi30.decode(command, frame) == expected


def test_recorded_frames_cover_the_required_commands() -> None:
    covered = {pi30.lookup(c).name for c, _, _ in RECORDED}
    required = {
        "QPIGS",
        "QPIRI",
        "QMOD",
        "QPIWS",
        "QFLAG",
        "QPI",
        "QID",
        "QVFW",
        "QMCHGCR",
        "QMUCHGCR",
        "QDI",
        "QPIGS2",
        "QET",
    }
    assert required <= covered


def payload_of(frame: bytes) -> str:
    return frame[1:-3].decode()


def test_extra_trailing_fields_are_kept_not_fatal() -> None:
    frame = pi30.reply_frame(payload_of(QPIGS_HS) + " 1 00 0000 77")
    values = pi30.decode("QPIGS", frame)
    assert values["solar_feed_to_grid"] == "on"  # the MAX tail, now present
    assert values["country"] == "00"
    assert values["solar_feed_to_grid_power"] == 0
    assert values["extra_24"] == "77"
    assert values["battery_voltage"] == 57.5


def test_extra_fields_on_a_short_table() -> None:
    assert pi30.decode("QPIGS2", pi30.reply_frame("03.1 327.3 01026 9 x")) == {
        "pv2_input_current": 3.1,
        "pv2_input_voltage": 327.3,
        "pv2_input_power": 1026,
        "extra_3": "9",
        "extra_4": "x",
    }


def test_missing_trailing_fields_are_omitted() -> None:
    tokens = payload_of(QPIGS_HS).split()
    values = pi30.decode("QPIGS", pi30.reply_frame(" ".join(tokens[:17])))
    assert values["load_on"] is True  # field 17 (the status bits) is still there
    assert "eeprom_version" not in values
    assert "pv_input_power" not in values
    assert "switched_on" not in values


def test_short_bit_string_reports_only_present_bits() -> None:
    values = pi30.decode("QPIWS", pi30.reply_frame("0100"))
    assert values == {"pv_loss": False, "inverter_fault": True, "bus_over": False, "bus_under": False}


def test_dash_means_zero_for_numbers() -> None:
    tokens = payload_of(QPIGS_HS).split()
    tokens[0], tokens[8] = "-", "--.--"
    values = pi30.decode("QPIGS", pi30.reply_frame(" ".join(tokens)))
    assert values["ac_input_voltage"] == 0.0
    assert values["battery_voltage"] == 0.0


def test_decimals_in_an_integer_field_are_tolerated() -> None:
    # Some firmware adds decimals where the PDF shows digits only; the rest of the
    # frame must decode the same either way.
    tokens = payload_of(QPIGS_HS).split()
    tokens[4] = "0161.0"
    values = pi30.decode("QPIGS", pi30.reply_frame(" ".join(tokens)))
    assert values == pi30.decode("QPIGS", QPIGS_HS)


@pytest.mark.parametrize("token", ["abc", "nan", "inf", "1_0", "2.3.4", "Infinity", "-nan"])
def test_garbage_in_a_numeric_field_is_frame_error(token: str) -> None:
    tokens = payload_of(QPIGS_HS).split()
    tokens[8] = token
    with pytest.raises(FrameError):
        pi30.decode("QPIGS", pi30.reply_frame(" ".join(tokens)))


def test_qflag_unknown_letter_is_kept() -> None:
    values = pi30.decode("QFLAG", pi30.reply_frame("EadDz"))
    assert values == {"buzzer": True, "extra_d": True, "fault_code_record": False}


def test_qflag_garbage_is_frame_error() -> None:
    with pytest.raises(FrameError):
        pi30.decode("QFLAG", pi30.reply_frame("ab"))


def test_qmod_all_modes() -> None:
    modes = {
        "P": "power_on",
        "S": "standby",
        "L": "line",
        "B": "battery",
        "F": "fault",
        "H": "power_saving",
        "D": "shutdown",
    }
    for raw, mode in modes.items():
        assert pi30.decode("QMOD", pi30.reply_frame(raw)) == {"mode": mode}


def test_lookup_and_is_query() -> None:
    assert pi30.lookup("QPGS3").name == "QPGSn"
    assert pi30.lookup("QEM202401").name == "QEMyyyymm"
    assert pi30.lookup("MUCHGC0030").name == "MUCHGC"
    assert pi30.is_query("QPIRI") and pi30.is_query("QED20240115")
    assert not pi30.is_query("POP02")  # a setter never goes through the query topic
    assert not pi30.is_query("PF")
    assert not pi30.is_query("QPIRI; PF")
    assert not pi30.is_query("QPGSn")  # the pattern name itself is not command text
    with pytest.raises(ConfigError):
        pi30.lookup("QEY24")
    assert pi30.table("QPIGS") == pi30.COMMANDS["QPIGS"].fields
    assert pi30.table("POP02") == ()


SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


@pytest.mark.parametrize("name", sorted(pi30.COMMANDS))
def test_table_hygiene(name: str) -> None:
    command = pi30.COMMANDS[name]
    keys = [f.key for f in command.fields]
    assert len(keys) == len(set(keys)), "duplicate keys"
    for field in command.fields:
        assert SNAKE.fullmatch(field.key), field.key
        if field.numeric or field.kind is Kind.ARRAY:
            assert field.unit is None or field.unit in UNITS, field.key
            assert field.fmt, f"{field.key}: format_fields needs a text format"
        if field.kind is Kind.ENUM:
            assert field.options, field.key
        if field.kind is Kind.BOOL and command.style is not pi30.Style.FLAGS:
            assert isinstance(field.bit, int) and field.bit < int(field.fmt or "1"), field.key
    assert command.read_only == bool(command.fields), "queries have fields, setters none"


def test_poll_set_keys_do_not_collide() -> None:
    # The reader merges these replies into one state object.
    seen: dict[str, str] = {}
    for name in ("QPIGS", "QPIGS2", "QPIRI", "QMOD", "QPIWS", "QFLAG", "QDI", "Q1", "QET", "QBEQI"):
        for field in pi30.COMMANDS[name].fields:
            assert field.key not in seen, f"{field.key} in {name} and {seen.get(field.key)}"
            seen[field.key] = name


def test_energy_fields_are_kwh_totals() -> None:
    for name in ("QET", "QEYyyyy", "QEMyyyymm", "QEDyyyymmdd", "QLT", "QLYyyyy", "QLMyyyymm", "QLDyyyymmdd"):
        (field,) = pi30.COMMANDS[name].fields
        assert field.unit == "kWh" and field.ha_state_class == "total_increasing"
        assert field.ha_device_class == "energy"


def test_identity_fields_are_diagnostic() -> None:
    for name in ("QPI", "QID", "QVFW", "QMN", "QGMN", "QSID"):
        assert all(f.diagnostic for f in pi30.COMMANDS[name].fields)
    assert all(f.diagnostic for f in pi30.COMMANDS["QPIRI"].fields if f.key.startswith("rated_"))


@pytest.mark.parametrize(("payload", "expected"), QPIGS_PAYLOAD_VARIANTS)
def test_firmware_spacing_and_width_variants(payload: str, expected: dict[str, object]) -> None:
    values = pi30.decode("QPIGS", pi30.reply_frame(payload))
    assert {k: values[k] for k in expected} == expected
    assert not any(k.startswith("extra_") for k in values)  # the double spaces add no fields

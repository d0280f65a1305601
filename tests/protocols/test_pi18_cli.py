"""`solarstack decode|encode|commands --protocol pi18`, through the CLI's main in-process
(protocols/catalog.py's `pi18` Codec adapter), on a frame recorded from an EG4 unit
(syssi/esphome-pipsolar#182; see test_pi18_decode.py)."""

from __future__ import annotations

import json

import pytest

from solarstack import cli

EG4_GS = b"^D1060000,000,1194,500,0155,0126,005,534,000,000,000,020,053,051,000,000,1463,0000,4061,0000,0,2,0,1,1,2,0,09\x87\r"  # noqa: E501 (a recorded frame stays on one line)


def test_decode_gs_hex_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "--protocol", "pi18", "--command", "GS", "--hex", EG4_GS.hex(" "), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["battery_voltage"] == 53.4 and out["pv_input_power"] == 1463 and out["battery_capacity"] == 53
    assert out["line_power_direction"] == "idle"


def test_decode_gs_hex_as_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "--protocol", "pi18", "--command", "GS", "--hex", EG4_GS.hex()]) == 0
    out = capsys.readouterr().out
    assert "53.4" in out and "406.1" in out


def test_decode_raw_ack(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "--protocol", "pi18", "--command", "POP1", "--raw", r"^1\x0b\xc2\r", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ack": True}


def test_decode_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    bad = bytearray(EG4_GS)
    bad[10] ^= 1
    assert cli.main(["decode", "--protocol", "pi18", "--command", "GS", "--hex", bad.hex()]) == 1
    assert "CRC" in capsys.readouterr().err
    assert cli.main(["decode", "--protocol", "pi18", "--hex", EG4_GS.hex()]) == 2
    err = capsys.readouterr().err.strip()
    assert "--command" in err and "\n" not in err


def test_encode(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["encode", "--protocol", "pi18", "GS"]) == 0
    assert capsys.readouterr().out.strip() == "5E 50 30 30 35 47 53 58 14 0D"  # ^P005GS X 0x14 CR
    assert cli.main(["encode", "--protocol", "pi18", "MCHGV552,540"]) == 0
    assert capsys.readouterr().out.strip() == b"^S015MCHGV552,540\x88\xe8\r".hex(" ").upper()
    assert cli.main(["encode", "--protocol", "pi18", "QPIGS"]) == 2
    err = capsys.readouterr().err.strip()
    assert "solarstack commands --protocol pi18" in err and "\n" not in err


def test_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["commands", "--protocol", "pi18"]) == 0
    lines = capsys.readouterr().out.splitlines()
    queries = {line.split()[1] for line in lines if line.startswith("query")}
    settings = {line.split()[1] for line in lines if line.startswith("setting")}
    assert {"PI", "ID", "VFW", "PIRI", "GS", "MOD", "FWS", "FLAG", "ET", "EY2024", "EM202401", "ED20240115"} <= queries
    assert {"MCHGCR", "MUCHGCR"} <= queries
    assert {"output_source_priority", "charger_source_priority", "max_charging_current", "buzzer"} <= settings
    assert any("48 to 58.4 V (48 V unit" in line for line in lines if "battery_bulk_voltage" in line)

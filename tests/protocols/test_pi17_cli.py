"""`solarstack decode|encode|commands --protocol pi17`, through the CLI's main in-process
(protocols/catalog.py's `pi17` Codec adapter), on mpp-solar pi17.py's PS and T samples (see
test_pi17_decode.py for their provenance)."""

from __future__ import annotations

import json

import pytest

from solarstack import cli

PS = b"^D10100263,00381,,-00855,-03141,-03156,-07152,0000,0000,0000,00000,0193,0147,0195,00535,003,1,1,1,2,2,12\x1c\r"
GS = b"^D1100000,0000,0000,0000,0394,000,+00000,2389,2427,2459,5002,0000,0000,0000,2378,2434,2455,5001,,,,029,029,000,0\xf8n\r"  # noqa: E501 (a recorded frame stays on one line)


def test_decode_ps_hex_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "--protocol", "pi17", "--command", "PS", "--hex", PS.hex(" "), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["grid_power"] == -7152 and out["pv_input_power"] == 263 and out["pv2_input_power"] == 381
    assert out["battery_power_direction"] == "discharge" and "battery_power" not in out


def test_decode_gs_hex_as_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "--protocol", "pi17", "--command", "GS", "--hex", GS.hex()]) == 0
    out = capsys.readouterr().out
    assert "39.4" in out and "50.02" in out and "245.9" in out


def test_decode_raw_with_a_cr_inside_the_crc(capsys: pytest.CaptureFixture[str]) -> None:
    raw = r"^D01720210521234743\rR\r"
    assert cli.main(["decode", "--protocol", "pi17", "--command", "T", "--raw", raw, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"device_time": "20210521234743"}


def test_decode_raw_ack(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "--protocol", "pi17", "--command", "SEP01", "--raw", r"^1\x0b\xc2\r", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ack": True}


def test_decode_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    bad = bytearray(PS)
    bad[10] ^= 1
    assert cli.main(["decode", "--protocol", "pi17", "--command", "PS", "--hex", bad.hex()]) == 1
    assert "CRC" in capsys.readouterr().err
    assert cli.main(["decode", "--protocol", "pi17", "--hex", PS.hex()]) == 2
    err = capsys.readouterr().err.strip()
    assert "--command" in err and "\n" not in err
    assert cli.main(["decode", "--protocol", "pi17", "--command", "GS", "--raw", r"^0\x1b\xe3\r"]) == 1
    assert "^0" in capsys.readouterr().err


def test_encode(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["encode", "--protocol", "pi17", "GS"]) == 0
    assert capsys.readouterr().out.strip() == "5E 50 30 30 33 47 53 0D"  # ^P003GS CR
    assert cli.main(["encode", "--protocol", "pi17", "EY2024"]) == 0
    assert capsys.readouterr().out.strip() == b"^P010EY2024165\r".hex(" ").upper()
    assert cli.main(["encode", "--protocol", "pi17", "MCHGV0564,0540"]) == 0
    assert capsys.readouterr().out.strip() == b"^S015MCHGV0564,0540\r".hex(" ").upper()
    assert cli.main(["encode", "--protocol", "pi17", "QPIGS"]) == 2
    err = capsys.readouterr().err.strip()
    assert "solarstack commands --protocol pi17" in err and "\n" not in err


def test_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["commands", "--protocol", "pi17"]) == 0
    lines = capsys.readouterr().out.splitlines()
    queries = {line.split()[1] for line in lines if line.startswith("query")}
    settings = {line.split()[1] for line in lines if line.startswith("setting")}
    assert {"PI", "ID", "VFW", "PIRI", "GS", "PS", "MOD", "WS", "FLAG", "BATS", "HECS", "ET", "EY2024"} <= queries
    assert {"solar_power_priority", "ac_charge_battery", "max_charging_current", "battery_bulk_voltage"} <= settings
    bulk = next(line for line in lines if "battery_bulk_voltage" in line)
    assert "40 to 60 V" in bulk and "scales" not in bulk

"""`solarstack decode|encode|commands --protocol pi16`, through the CLI's main in-process
(protocols/catalog.py's `pi16` Codec adapter), on mpp-solar pi16.py's QPIGS sample (see
test_pi16_decode.py for its provenance)."""

from __future__ import annotations

import json

import pytest

from solarstack import cli

QPIGS = b"(225.8 000024 49.9 0000.0 000.0 00000 00.0 000.0 000 405.4 405.4 048.8 ---.- 048 00163 00024 ----- 342.6 ---.- ---.- 049.0 A---001010YZ\r"  # noqa: E501 (a recorded frame stays on one line)


def test_decode_qpigs_hex_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "--protocol", "pi16", "--command", "QPIGS", "--hex", QPIGS.hex(" "), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pv_input_power"] == 163 and out["battery_voltage"] == 48.8 and out["line_power_direction"] == "output"
    assert "pv3_input_power" not in out  # `-----`: not supported


def test_decode_raw_without_crc(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "--protocol", "pi16", "--command", "QMOD", "--raw", r"(B\r", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"mode": "battery"}


def test_decode_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "--protocol", "pi16", "--command", "QPI", "--raw", r"(PI16\x9c\xae\r"]) == 1
    assert "CRC" in capsys.readouterr().err
    assert cli.main(["decode", "--protocol", "pi16", "--hex", QPIGS.hex()]) == 2
    err = capsys.readouterr().err.strip()
    assert "--command" in err and "\n" not in err
    assert cli.main(["decode", "--protocol", "pi16", "--command", "QPIGS", "--raw", r"(NAKss\r"]) == 1


def test_encode(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["encode", "--protocol", "pi16", "QPIGS"]) == 0
    assert capsys.readouterr().out.strip() == "51 50 49 47 53 0D"  # QPIGS CR, no CRC
    assert cli.main(["encode", "--protocol", "pi16", "QED20150620"]) == 0
    assert capsys.readouterr().out.strip() == b"QED20150620106\r".hex(" ").upper()
    assert cli.main(["encode", "--protocol", "pi16", "GS"]) == 2
    err = capsys.readouterr().err.strip()
    assert "solarstack commands --protocol pi16" in err and "\n" not in err


def test_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["commands", "--protocol", "pi16"]) == 0
    lines = capsys.readouterr().out.splitlines()
    queries = {line.split()[1] for line in lines if line.startswith("query")}
    assert {"QPI", "QPIRI", "QPIGS", "QMOD", "QPIWS", "QED20240115", "QEY2024"} <= queries
    assert not [line for line in lines if line.startswith("setting")]

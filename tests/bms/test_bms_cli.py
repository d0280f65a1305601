"""The one-shot CLI on BMS devices and frames: `solarstack query <url> all --json` against
the simulators on ptys, and `solarstack decode --protocol jk02 --hex …` on a recorded frame.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import bms_frames as rec
import pytest

from solarstack import cli
from solarstack.protocols import daly as daly_codec
from solarstack.sim.bms import build_server


@pytest.fixture
def pty_sim(request: pytest.FixtureRequest) -> Iterator[str]:
    server = build_server(request.param, interval=0.2)
    path = server.add_pty()
    server.start()
    yield f"{request.param}+serial://{path}"
    server.stop()


@pytest.mark.parametrize("pty_sim", ["jkserial", "daly", "vedirect"], indirect=True)
def test_query_all_json_prints_every_field(pty_sim: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["query", pty_sim, "all", "--json", "--timeout", "3"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert out["ts"].endswith("Z")
    if pty_sim.startswith("daly"):
        assert {f.key for f in daly_codec.ALL_FIELDS} <= set(out)
    if not pty_sim.startswith("vedirect"):
        assert len(out["cell_voltages"]) == 16
    assert 40 < out["voltage"] < 60


def test_decode_jk02_cell_info_hex(capsys: pytest.CaptureFixture[str]) -> None:
    hex_frame = rec.JK02_24S_CELL_INFO.hex(" ")
    assert cli.main(["decode", "--protocol", "jk02", "--command", "24", "--hex", hex_frame, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["voltage"] == 53.251 and out["soc"] == 84 and len(out["cell_voltages"]) == 16


def test_decode_vedirect_raw_and_encode_daly(capsys: pytest.CaptureFixture[str]) -> None:
    raw = rec.VE_SMARTSOLAR.decode("latin-1").replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    raw = raw[:-1] + f"\\x{rec.VE_SMARTSOLAR[-1]:02x}"
    assert cli.main(["decode", "--protocol", "vedirect", "--raw", raw, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["serial_number"] == "HQ18486U2B4"
    assert cli.main(["encode", "--protocol", "daly", "soc"]) == 0
    assert capsys.readouterr().out.strip() == "A5 40 90 08 00 00 00 00 00 00 00 00 7D"
    assert cli.main(["commands", "--protocol", "jkserial"]) == 0
    assert "read_all" in capsys.readouterr().out


def test_unknown_command_is_a_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["encode", "--protocol", "jk02", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "device_info" in err and "\n" not in err

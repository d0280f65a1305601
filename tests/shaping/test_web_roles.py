"""The web's role look-ups (static/js/model.js) read a power a user published in kW
(docs/config.md, `scale=pv_input_power:0.001:kW`) back in watts, the unit power roles have by
contract: the dashboard's PV flow must not show 1.3 W for 1.3 kW. The real module, run by
node with a stand-in `document` (it reads only `document.body.dataset` at load)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "src" / "solarstack" / "services" / "web" / "static" / "js"

SCRIPT = """
globalThis.document = { body: { dataset: {} } };
const m = await import(process.argv[2]);
m.model.devices = {
  inv1: { fields: { pv_input_power: { name: "PV power", unit: "kW", role: "pv_power", precision: 3 },
                    battery_capacity: { name: "SOC", unit: "%", role: "soc" } },
          state: { pv_input_power: 1.303, battery_capacity: 61 } },
  inv2: { fields: { pv_input_power: { name: "PV input power", unit: "W", role: "pv_power", precision: 0 } },
          state: { pv_input_power: 200 } },
};
console.log(JSON.stringify({ pv: m.sumOf("pv_power"), soc: m.firstOf("soc"), rows: m.withRole("pv_power") }));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_a_power_role_in_kw_reads_back_in_watts(tmp_path: Path) -> None:
    script = tmp_path / "run.mjs"
    script.write_text(SCRIPT)
    out = subprocess.run(
        ["node", str(script), (JS / "model.js").as_uri()], capture_output=True, text=True, timeout=30, check=True
    )
    got = json.loads(out.stdout)
    assert got["pv"] == pytest.approx(1503.0)
    assert got["soc"] == 61  # not a power: untouched
    kw_row = next(r for r in got["rows"] if r["device"] == "inv1")
    assert kw_row["info"]["unit"] == "W" and kw_row["value"] == pytest.approx(1303.0)

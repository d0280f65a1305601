"""The CLI knows openmeteo: `decode` reads an answer (only a one-line error for a bad one),
`commands` lists its query, `query` asks the simulator once."""

from __future__ import annotations

import json
import subprocess
import sys

from weather_support import answer, start_sim


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "solarstack.cli", *args], capture_output=True, text=True, timeout=30)


def test_decode_and_commands() -> None:
    done = cli("decode", "--protocol", "openmeteo", "--raw", json.dumps(answer({10: 600.0})), "--json")
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout)
    assert values["pressure_msl"] == 1021.4 and values["condition"] == "Partly cloudy"
    bad = cli("decode", "--protocol", "openmeteo", "--raw", '{"current":')
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "not JSON" in bad.stderr
    assert "forecast" in cli("commands", "--protocol", "openmeteo").stdout


def test_query_the_simulator_once() -> None:
    sim = start_sim()
    try:
        url = f"openmeteo+{sim.url}?name=weather&latitude=45&longitude=0&arrays=south:4:30:180"
        done = cli("query", url, "forecast", "--json")
        assert done.returncode == 0, done.stderr
        values = json.loads(done.stdout)
        assert len(values["pv_forecast_power"]) == 48 and values["stale"] is False
        missing = cli("query", f"openmeteo+{sim.url}?name=weather", "forecast")
        assert missing.returncode == 2 and "latitude=" in missing.stderr
    finally:
        sim.stop()

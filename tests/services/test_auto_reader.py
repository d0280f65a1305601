"""`auto+` in the real inverter reader: `INVERTER_DEVICES=auto+tcp://…` probes the link once
with read-only queries (devices/detect.py), publishes the family it found under the URL's
own name, and caches the verdict under STATE_DIR, so the next start sends no probe at all.
The PI18 simulator, real TCP, a real Mosquitto."""

from __future__ import annotations

import json
from pathlib import Path

from reader_support import Broker, Recorder, Sim, WaitFor, sim_state, start_reader, stop
from test_pi18_reader import pi18_sim  # noqa: F401  (the fixture)

from solarstack.core import catalog


def test_auto_finds_pi18_publishes_it_and_caches_the_verdict(
    mosquitto: Broker,
    pi18_sim: Sim,  # noqa: F811
    tmp_path: Path,
    wait_for: WaitFor,
) -> None:
    rec = Recorder(mosquitto).start()
    reader = start_reader(mosquitto, pi18_sim, tmp_path, wait_for, INVERTER_DEVICES=f"auto+{pi18_sim.pty}?name=inv1")
    try:
        cat = catalog.parse(wait_for(lambda: rec.last("solarstack/inv1/catalog"), 15, what="the catalogue"))
        assert (cat.kind, cat.device["protocol"]) == ("inverter", "pi18")
        state = wait_for(lambda: rec.last("solarstack/inv1/state"), 15, what="a state")
        assert "pv2_input_power" in json.loads(state)  # polled with PI18's own GS
    finally:
        stop(reader.proc)
    (cached,) = (tmp_path / "state" / "detect").glob("*.json")
    assert json.loads(cached.read_text())["family"] == "pi18"

    # The first start probed PI30 first (`QPI`, which a PI18 unit NAKs); a second start reads the
    # verdict from the cache and sends no probe: the unit's NAK count does not move.
    naks = _naks(pi18_sim)
    assert naks >= 1
    reader = start_reader(mosquitto, pi18_sim, tmp_path, wait_for, INVERTER_DEVICES=f"auto+{pi18_sim.pty}?name=inv1")
    try:
        polled = _requests(pi18_sim)
        wait_for(lambda: _requests(pi18_sim) > polled + 3, 15, what="polls after the second start")
    finally:
        stop(reader.proc)
    assert _naks(pi18_sim) == naks


def _naks(sim: Sim) -> int:
    return int(sim_state(sim)["naks"])


def _requests(sim: Sim) -> int:
    return int(sim_state(sim)["requests"])

"""`auto+` in the real inverter reader: `INVERTER_DEVICES=auto+tcp://…` probes the link once
with read-only queries (devices/detect.py), publishes the family it found under the URL's
own name, and caches the verdict under STATE_DIR, so the next start sends no probe at all.
The PI18 simulator, real TCP, a real Mosquitto."""

from __future__ import annotations

import json
from pathlib import Path

from reader_support import Broker, Recorder, Sim, WaitFor, sim_state, start_reader, start_tcp_sim, stop
from test_pi18_reader import pi18_sim  # noqa: F401  (the fixture)

from solarstack.core import catalog
from support import free_port


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


def test_a_different_unit_on_the_link_is_found_on_reconnect(
    mosquitto: Broker, tmp_path: Path, wait_for: WaitFor
) -> None:
    """The PI18 unit behind `auto+tcp://…` is replaced by a PI30 one on the same address: on its
    reconnect the reader re-checks the verdict, rewrites the cache and ends with one line, so
    its restart reads the unit as PI30 (what a container's restart policy does)."""
    port = free_port()
    pi18 = start_tcp_sim(wait_for, "--protocol", "pi18", port=port)
    url = f"auto+tcp://127.0.0.1:{port}?name=inv1"
    rec = Recorder(mosquitto).start()
    reader = start_reader(mosquitto, pi18, tmp_path, wait_for, INVERTER_DEVICES=url, INVERTER_TIMEOUT="1")
    try:
        wait_for(lambda: rec.last("solarstack/inv1/state"), 15, what="a PI18 state")
        stop(pi18.proc)
        pi30 = start_tcp_sim(wait_for, port=port)
        try:
            wait_for(lambda: reader.proc.poll() is not None, 30, what="the reader to end on the new family")
            assert reader.proc.returncode != 0
            assert "now answers as pi30, not pi18" in reader.output()
            (cached,) = (tmp_path / "state" / "detect").glob("*.json")
            assert json.loads(cached.read_text())["family"] == "pi30"
            # its restart reads the unit as PI30
            again = start_reader(mosquitto, pi30, tmp_path, wait_for, INVERTER_DEVICES=url)
            try:
                wait_for(
                    lambda: (
                        (c := rec.last("solarstack/inv1/catalog")) and catalog.parse(c).device["protocol"] == "pi30"
                    ),
                    15,
                    what="the PI30 catalogue",
                )
            finally:
                stop(again.proc)
        finally:
            stop(pi30.proc)
    finally:
        stop(reader.proc)

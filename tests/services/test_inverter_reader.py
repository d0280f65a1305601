"""The inverter reader end to end: simulator over a real pty, a real Mosquitto, the
real `solarstack run inverter` process — state, discovery, availability, settings
written and read back, a broker outage that loses nothing, and injected device faults
that show as retries, availability changes and exact error counters."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

from reader_support import (
    POLL,
    Broker,
    BrokerFactory,
    Recorder,
    Sim,
    WaitFor,
    last_state,
    start_reader,
)


def test_publishes_state_discovery_and_availability(
    mosquitto: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    reader = start_reader(mosquitto, sim, tmp_path, wait_for)
    try:
        wait_for(lambda: rec.last("solarstack/inv1/availability") == b"online", 10, what="online")
        # counters join the state once the reader knows the last published ones (its floor)
        want = ("output_source_priority", "mode", "pv_energy")
        state = wait_for(lambda: (s := last_state(rec)) and all(k in s for k in want) and s, 10)
        assert state["ts"].endswith("Z")
        assert 40 < state["battery_voltage"] < 60
        assert state["mode"] in {"line", "battery"}
        assert isinstance(state["load_on"], bool)
        assert state["pv_energy"] >= 0 and state["load_energy"] >= 0  # energy counters merged in

        config = json.loads(wait_for(lambda: rec.last("homeassistant/device/inv1/config"), 10))
        cmps = config["cmps"]
        assert config["dev"]["ids"] == ["solarstack_inv1"]
        assert config["avty_t"] == "solarstack/inv1/availability"
        assert cmps["battery_voltage"]["uniq_id"] == "solarstack_inv1_battery_voltage"
        assert cmps["battery_voltage"]["dev_cla"] == "voltage"
        assert cmps["load_energy"]["stat_cla"] == "total_increasing"
        assert cmps["set_output_source_priority"]["p"] == "select"
        assert cmps["set_output_source_priority"]["cmd_t"] == "solarstack/inv1/set/output_source_priority"
    finally:
        out = reader.output()
        rec.stop()
    # SIGTERM: clean exit, and `offline` published last
    assert reader.proc.returncode == 0, out
    assert rec.last("solarstack/inv1/availability") == b"offline"


def test_setting_reaches_the_inverter_and_is_read_back(
    mosquitto: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    reader = start_reader(mosquitto, sim, tmp_path, wait_for)
    try:
        before = wait_for(lambda: last_state(rec).get("output_source_priority"), 10)
        target = "utility" if before != "utility" else "sbu"
        rec.publish("solarstack/inv1/set/output_source_priority", target)
        result = json.loads(wait_for(lambda: rec.last("solarstack/inv1/set/output_source_priority/result"), 10))
        assert result == {"ok": True, "value": target, "error": None}
        # the simulator itself now reports it: ask it through the query topic (a fresh QPIRI)
        rec.publish("solarstack/inv1/query", "QPIRI")
        answer = json.loads(wait_for(lambda: rec.last("solarstack/inv1/query/result"), 10))
        assert answer["ok"] and answer["fields"]["output_source_priority"] == target

        # out of range for a 48 V unit: refused before it reaches the device
        rec.publish("solarstack/inv1/set/battery_float_voltage", "70.0")
        refused = json.loads(wait_for(lambda: rec.last("solarstack/inv1/set/battery_float_voltage/result"), 10))
        assert refused["ok"] is False and refused["error"]
        # a setter is not a query: the query topic refuses it
        rec.publish("solarstack/inv1/query", "POP02")
        wait_for(lambda: len(rec.on("solarstack/inv1/query/result")) == 2, 10)
        assert json.loads(rec.on("solarstack/inv1/query/result")[-1])["ok"] is False
    finally:
        out = reader.output()
        rec.stop()
    assert "write inv1.output_source_priority" in out  # audit log


def test_broker_outage_loses_no_reading(
    mosquitto_factory: BrokerFactory, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    broker = mosquitto_factory(persistence=True)
    rec = Recorder(broker).start()
    reader = start_reader(broker, sim, tmp_path, wait_for)
    try:
        wait_for(lambda: len(rec.on("solarstack/inv1/state")) >= 3, 10, what="first states")
        broker.stop()
        down_at = time.time()
        # the reader keeps polling and spools: wait until several cycles are on disk
        wait_for(lambda: reader.metric("solarstack_spool_depth") >= 9, 15, what="spooled states")
        broker.start()
        up_at = time.time()
        wait_for(lambda: reader.metric("solarstack_spool_depth") == 0, 15, what="spool replayed")
        wait_for(lambda: _ts(rec.on("solarstack/inv1/state")[-1]) > up_at, 10, what="live states after replay")
    finally:
        reader.output()
        rec.stop()
    # QoS 1 is at-least-once: a message in flight when the broker died comes again after
    # the restart. Duplicates are allowed; loss and reordering are not.
    stamps = list(dict.fromkeys(_ts(p) for t, p in rec.live if t == "solarstack/inv1/state"))
    # in order, with their original timestamps ...
    assert stamps == sorted(stamps)
    during = [t for t in stamps if down_at < t < up_at]
    assert len(during) >= 6  # the spool held >= 9; a few were stamped before down_at was read
    # ... and no hole: a poll cycle every POLL seconds, so no gap is much longer than that
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert max(gaps) < POLL * 4, max(gaps)


def _ts(payload: bytes) -> float:
    from datetime import datetime

    return datetime.fromisoformat(json.loads(payload)["ts"].replace("Z", "+00:00")).timestamp()


def test_device_faults_give_retries_availability_and_exact_counters(
    mosquitto: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    reader = start_reader(
        mosquitto, sim, tmp_path, wait_for, INVERTER_BREAKER_FAILURES="2", INVERTER_BREAKER_RESET_SECONDS="1"
    )
    try:
        wait_for(lambda: rec.last("solarstack/inv1/availability") == b"online", 10)
        # three corrupt replies: one poll uses its 1 + 2 retries and fails; the next succeeds
        assert sim.control("fault crc 3").startswith("ok")
        wait_for(lambda: reader.metric("solarstack_poll_errors_total", kind="crc") == 3, 10, what="3 crc errors")
        assert sim.control("fault nak 1").startswith("ok")
        wait_for(lambda: reader.metric("solarstack_poll_errors_total", kind="nak") == 1, 10, what="1 nak")
        # let the NAKed poll's retry finish (a success publishes state) before the next fault
        seen = len(rec.on("solarstack/inv1/state"))
        wait_for(lambda: len(rec.on("solarstack/inv1/state")) > seen + 1, 10, what="polls succeed again")
        assert rec.last("solarstack/inv1/availability") == b"online"  # retries hid both

        # a silent device: each attempt takes the whole 0.4 s timeout, so no retry fits before the
        # next 0.5 s slot; two failed polls in a row open the breaker -> offline
        assert sim.control("fault silence").startswith("ok")
        wait_for(lambda: rec.last("solarstack/inv1/availability") == b"offline", 20, what="offline")
        assert reader.metric("solarstack_device_up", device="inv1") == 0
        assert reader.metric("solarstack_poll_errors_total", kind="timeout") >= 2  # + probes since
        assert sim.control("clear").startswith("ok")
        wait_for(lambda: rec.last("solarstack/inv1/availability") == b"online", 20, what="online again")
        assert reader.metric("solarstack_device_up", device="inv1") == 1
        # the pty was closed after the silent polls and reopened for the first good one
        assert reader.metric("solarstack_reconnects_total", device="inv1") >= 1
        # the crc and nak counts did not move
        assert reader.metric("solarstack_poll_errors_total", kind="crc") == 3
        assert reader.metric("solarstack_poll_errors_total", kind="nak") == 1
    finally:
        reader.output()
        rec.stop()


def test_entities_gone_since_the_last_run_are_removed(
    mosquitto: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    """Discovery retained by an earlier run that polled QPIGS2 loses the PV2 entities when the
    reader comes back without it: Home Assistant is told to remove them ({"p": platform})."""
    rec = Recorder(mosquitto).start()
    topic = "homeassistant/device/inv1/config"
    try:
        first = start_reader(mosquitto, sim, tmp_path, wait_for, INVERTER_COMMANDS="QPIGS:0.5,QPIGS2:0.5")
        wait_for(lambda: "pv2_input_power" in json.loads(rec.last(topic) or b"{}").get("cmps", {}), 10)
        first.output()
        second = start_reader(mosquitto, sim, tmp_path, wait_for, INVERTER_COMMANDS="QPIGS:0.5")
        try:
            cmps = wait_for(
                lambda: (
                    (c := json.loads(rec.last(topic) or b"{}").get("cmps", {})).get("pv2_input_power")
                    == {"p": "sensor"}
                    and c
                ),
                10,
                what="PV2 entities removed",
            )
        finally:
            second.output()
    finally:
        rec.stop()
    assert cmps["pv2_input_voltage"] == {"p": "sensor"}
    assert cmps["pv_input_power"]["p"] == "sensor" and "uniq_id" in cmps["pv_input_power"]  # still there

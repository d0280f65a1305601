"""Commands that must never run, counters that must never go down (issue 8: 1, 2, 5, 6, 7, 11).

Everything goes through the SHIPPED broker config and ACL (the reader logs in as
`inverter`, commands come from `homeassistant`), the real `solarstack run inverter`
process and the simulator over a real pty.

"Nothing ran" is proven by ordering, never by waiting and hoping: commands run one at a
time in the order they arrive, so once a later command's result is in, an earlier
command's result would have been too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from reader_support import Recorder, Sim, WaitFor, last_state, ready, start_reader, stop

from solarstack.core.command import envelope

DEVICE = "inverter"  # a device the shipped ACL grants the `inverter` user
TOPIC = f"solarstack/{DEVICE}"
COUNTERS = ("pv_energy", "load_energy", "battery_charge_energy", "battery_discharge_energy", "grid_import_energy")


def _reader(shipped_broker: Any, sim: Sim, tmp_path: Path, wait_for: WaitFor, **extra: str) -> Any:
    return start_reader(
        shipped_broker,
        sim,
        tmp_path,
        wait_for,
        device=DEVICE,
        MQTT_USERNAME="inverter",
        MQTT_PASSWORD=shipped_broker.passwords["inverter"],
        **extra,
    )


def _commander(shipped_broker: Any, name: str) -> Recorder:
    return Recorder(
        shipped_broker, client_id=name, username="homeassistant", password=shipped_broker.passwords["homeassistant"]
    ).start()


def _results(rec: Recorder, setting: str) -> list[dict[str, Any]]:
    return [json.loads(p) for p in rec.on(f"{TOPIC}/set/{setting}/result")]


def _query_results(rec: Recorder) -> list[dict[str, Any]]:
    return [json.loads(p) for p in rec.on(f"{TOPIC}/query/result")]


def _barrier(rec: Recorder, wait_for: WaitFor) -> None:
    """Send a query and wait for its result: every command sent before it has been answered."""
    before = len(_query_results(rec))
    rec.publish(f"{TOPIC}/query", "QMOD")
    wait_for(lambda: len(_query_results(rec)) > before, 15, what="the barrier query's result")


@pytest.fixture(autouse=True)
def _no_retained_leftovers(shipped_broker: Any) -> Any:
    """The shipped broker lives for the module: clear what a test left retained."""
    yield
    cleaner = Recorder(
        shipped_broker, client_id="cleaner", username="inverter", password=shipped_broker.passwords["inverter"]
    ).start()
    for topic in (f"{TOPIC}/state", f"{TOPIC}/availability"):
        cleaner.publish(topic, b"", retain=True)
    cleaner.stop()
    ha = _commander(shipped_broker, "cleaner-ha")
    ha.publish(f"{TOPIC}/set/output_source_priority", b"", retain=True)
    ha.stop()


def test_an_action_fires_only_on_press(shipped_broker: Any, sim: Sim, tmp_path: Path, wait_for: WaitFor) -> None:
    """1: `NO`, an empty payload or `press` never presses a button (and nothing says ok)."""
    rec = _commander(shipped_broker, "t-press")
    reader = _reader(shipped_broker, sim, tmp_path, wait_for, INVERTER_ALLOW_DESTRUCTIVE="true")
    try:
        for payload in ("NO", "", "press", "PRESS please"):
            rec.publish(f"{TOPIC}/set/restore_defaults", payload)
        results = wait_for(lambda: len(r := _results(rec, "restore_defaults")) == 4 and r, 15, what="4 results")
        assert all(r["ok"] is False for r in results), results
        assert all(r["error"] for r in results), results
    finally:
        rec.stop()
        stop(reader.proc)


def test_a_retained_command_never_replays(shipped_broker: Any, sim: Sim, tmp_path: Path, wait_for: WaitFor) -> None:
    """2: a set/… left retained does not run at start, nor when the retained copy is cleared."""
    rec = _commander(shipped_broker, "t-retained")
    rec.publish(f"{TOPIC}/set/output_source_priority", "SBU", retain=True)
    reader = _reader(shipped_broker, sim, tmp_path, wait_for)
    try:
        wait_for(lambda: last_state(rec, DEVICE).get("output_source_priority"), 15, what="QPIRI in state")
        before = last_state(rec, DEVICE)["output_source_priority"]
        assert before != "Solar-Battery-Utility", "the simulator must start elsewhere for this test to mean anything"
        _barrier(rec, wait_for)
        rec.publish(f"{TOPIC}/set/output_source_priority", b"", retain=True)  # clearing it: a live empty message
        _barrier(rec, wait_for)
        results = _results(rec, "output_source_priority")
        assert all(r["ok"] is False for r in results), results  # the clear, if answered at all, is refused
        # the retained copy itself got no answer (it was never taken as a command)
        assert len(results) <= 1, results
    finally:
        rec.stop()
        stop(reader.proc)


def test_stale_and_oversized_commands_are_refused_without_echo(
    shipped_broker: Any, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    """3 (reader side) and 11: an envelope that waited too long, and a huge payload."""
    rec = _commander(shipped_broker, "t-stale")
    reader = _reader(shipped_broker, sim, tmp_path, wait_for)
    try:
        old = datetime.now(UTC) - timedelta(seconds=40)
        rec.publish(f"{TOPIC}/set/output_source_priority", envelope("SBU", old))
        stale = wait_for(lambda: _results(rec, "output_source_priority"), 15, what="the stale command's result")
        assert stale[0]["ok"] is False and "stale" in stale[0]["error"], stale

        huge = "9" * (4 * 1024 * 1024)
        rec.publish(f"{TOPIC}/set/max_charging_current", huge)
        raw = wait_for(lambda: rec.on(f"{TOPIC}/set/max_charging_current/result"), 15, what="the result")
        assert len(raw[0]) < 400, f"the result echoed {len(raw[0])} bytes"
        assert json.loads(raw[0])["ok"] is False

        fresh = datetime.now(UTC)
        rec.publish(f"{TOPIC}/set/output_source_priority", envelope("SBU", fresh))
        done = wait_for(lambda: len(r := _results(rec, "output_source_priority")) == 2 and r[1], 15)
        assert done["ok"] is True, done
        output = reader.output()
        assert max(len(line) for line in output.splitlines()) < 1000, "a log line carried the payload"
    finally:
        rec.stop()
        stop(reader.proc)


def test_the_poll_schedule_refuses_setters(shipped_broker: Any, sim: Sim, tmp_path: Path) -> None:
    """6: INVERTER_COMMANDS=PF:2 would factory-reset on every poll: refused at start, one line."""
    env = {
        **os.environ,
        "MQTT_HOST": "127.0.0.1",
        "MQTT_PORT": str(shipped_broker.port),
        "STATE_DIR": str(tmp_path / "state"),
        "INVERTER_DEVICES": f"pi30+serial://{sim.pty}?name={DEVICE}",
        "INVERTER_COMMANDS": "QPIGS:5,PF:2",
        "METRICS_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "solarstack.cli", "run", "inverter"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "'PF' is not a read-only query" in done.stderr, done.stderr


def test_a_burst_of_settings_never_stops_the_polls(
    shipped_broker: Any, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    """7: 1,000 set/ messages in a second at 2400 baud: most are refused as busy at once, the
    rest run, and the state keeps coming at its cadence throughout."""
    assert sim.control("pace 2400") == "ok"
    rec = _commander(shipped_broker, "t-burst")
    reader = _reader(shipped_broker, sim, tmp_path, wait_for, INVERTER_TIMEOUT="2", INVERTER_POLL_SECONDS="1")
    try:
        wait_for(lambda: last_state(rec, DEVICE).get("ts"), 15, what="a first state")
        began = time.monotonic()
        for i in range(1000):
            rec.client.publish(f"{TOPIC}/set/max_charging_current", "10" if i % 2 else "20", qos=1)
        burst_seconds = time.monotonic() - began
        results = wait_for(lambda: len(r := _results(rec, "max_charging_current")) >= 1000 and r, 60)
        busy = [r for r in results if r["error"] and r["error"].startswith("busy")]
        assert len(busy) >= 950, f"only {len(busy)} of 1000 refused as busy (burst took {burst_seconds:.1f} s)"

        # the polls kept their cadence: fresh state (ts) within a few poll intervals, twice over
        def polled_since(moment: datetime) -> bool:
            return datetime.fromisoformat(last_state(rec, DEVICE)["ts"].replace("Z", "+00:00")) > moment

        for _ in range(2):
            after = datetime.now(UTC)
            wait_for(lambda: polled_since(after), 8, what="a state polled after the burst")  # noqa: B023
        assert ready(reader.metrics_port)
    finally:
        rec.stop()
        stop(reader.proc)


def test_energy_counters_never_go_down_after_a_crash(
    shipped_broker: Any, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    """5: kill -9 before the first checkpoint; the next run publishes no counter lower."""
    rec = _commander(shipped_broker, "t-counters")
    reader = _reader(shipped_broker, sim, tmp_path, wait_for)

    def counters() -> dict[str, float]:
        s = last_state(rec, DEVICE)
        return {k: s[k] for k in COUNTERS if k in s}

    try:
        wait_for(lambda: counters().get("load_energy", 0) > 0.0005, 30, what="some load energy counted")
        reader.proc.send_signal(signal.SIGKILL)
        reader.proc.wait(10)
        assert not list((tmp_path / "state").glob("energy-*.json")), "a checkpoint was written: nothing to prove"
        peak = counters()
        seen = len(rec.on(f"{TOPIC}/state"))
        reader = _reader(shipped_broker, sim, tmp_path, wait_for)
        wait_for(
            lambda: any(k in json.loads(p) for p in rec.on(f"{TOPIC}/state")[seen:] for k in COUNTERS),
            20,
            what="counters published by the new run",
        )
        for payload in rec.on(f"{TOPIC}/state")[seen:]:
            state = json.loads(payload) if payload else {}
            for key, value in peak.items():
                if key in state:
                    assert state[key] >= value, f"{key} went down from {value} to {state[key]}"
    finally:
        rec.stop()
        stop(reader.proc)

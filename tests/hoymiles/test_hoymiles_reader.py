"""`solarstack run hoymiles` as a process against the simulated DTU over real TCP and a real
Mosquitto: the DTU and one device per microinverter (state, catalogue, discovery, totals that
are the sums of the ports); one connection at a time, never closer than the DTU's minimum
interval (the simulator's connection log); a poll dropped mid-way is retried and the counters
stay the DTU's exactly; a dip of the DTU's daily counter does not lower ours; the power limit
is written, read back and rate-limited; a DTU dark at night goes offline with one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hoymiles_support import DTUSim, Reader, start_reader, start_sim

from support import MqttRecorder, wait_for

pytestmark = pytest.mark.slow

DTU = "roof"
MIN_INTERVAL = 1.0


@pytest.fixture
def sim() -> Iterator[DTUSim]:
    s = start_sim("--inverters", "2", "--start", "12:00", "--min-interval", str(MIN_INTERVAL))
    yield s
    s.stop()


@pytest.fixture
def rec(mosquitto: Any) -> Iterator[MqttRecorder]:
    r = MqttRecorder(mosquitto)
    r.subscribed.wait(5)
    yield r
    r.close()


@pytest.fixture
def reader(mosquitto: Any, sim: DTUSim, tmp_path: Path, rec: MqttRecorder) -> Iterator[Reader]:
    r = start_reader(mosquitto, sim.url(DTU), tmp_path)
    yield r
    assert r.stop() == 0, r.output()
    assert "Traceback" not in r.output(), r.output()


def units_of(rec: MqttRecorder) -> list[str]:
    cat = wait_for(lambda: (c := rec.json(f"solarstack/{DTU}/catalog")) and c["device"].get("units") and c, 15)
    units: list[str] = cat["device"]["units"]
    return units


def state(rec: MqttRecorder, device: str) -> dict[str, Any]:
    return rec.json(f"solarstack/{device}/state") or {}


def states(rec: MqttRecorder, device: str) -> list[dict[str, Any]]:
    return [json.loads(p) for p in rec.payloads(f"solarstack/{device}/state") if p]


def ports_of(values: dict[str, Any]) -> list[int]:
    return sorted(int(k[2:-6]) for k in values if k.startswith("pv") and k.endswith("_power") and k[2:-6].isdigit())


def test_the_dtu_its_inverters_and_their_ports_are_published(
    sim: DTUSim, reader: Reader, rec: MqttRecorder, tmp_path: Path
) -> None:
    units = units_of(rec)
    assert len(units) == 2 and all(u.startswith(f"{DTU}_") for u in units)
    serials = [u.removeprefix(f"{DTU}_") for u in units]
    # every inverter a device of its own, via the DTU, with its serial and model from the library's tables
    for unit, serial in zip(units, serials, strict=True):
        cat = wait_for(lambda u=unit: rec.json(f"solarstack/{u}/catalog"), 10)
        assert cat["device"]["via_device"] == DTU and cat["device"]["kind"] == "microinverter"
        assert cat["device"]["serial_number"] == serial and cat["device"]["model"].startswith("HMS-")
        keys = {f["key"]: f for f in cat["fields"]}
        assert {"ac_power", "grid_voltage", "grid_frequency", "temperature", "power_limit"} <= set(keys)
        now = wait_for(lambda u=unit: state(rec, u).get("pv1_power") is not None and state(rec, u), 10)
        ports = ports_of(now)
        assert ports == ([1, 2] if serial.startswith("1144") else [1, 2, 3, 4])
        for n in ports:
            for suffix in ("voltage", "current", "power", "energy", "energy_today"):
                assert f"pv{n}_{suffix}" in keys and f"pv{n}_{suffix}" in now
            assert keys[f"pv{n}_energy"]["state_class"] == "total_increasing" and keys[f"pv{n}_energy"]["unit"] == "kWh"
        # no flow role on a unit: the DTU's totals carry them (a site counts its PV once)
        assert not any(f["role"] in ("pv_power", "pv_energy", "pv_energy_today") for f in cat["fields"])
        disc = wait_for(lambda u=unit: rec.json(f"homeassistant/device/{u}/config"), 10)
        assert disc["dev"]["via_device"] == f"solarstack_{DTU}"
        assert f"solarstack_{unit}_pv1_power" in {c["uniq_id"] for c in disc["cmps"].values()}
    # the DTU: its identity, totals with the site's roles, and a power-limit number per inverter
    cat = rec.json(f"solarstack/{DTU}/catalog")
    assert cat["device"]["kind"] == "dtu" and cat["device"]["serial_number"]
    roles = {f["role"]: f["key"] for f in cat["fields"] if f["role"]}
    assert roles["pv_power"] == "pv_power" and roles["pv_energy_today"] == "pv_energy_today"
    assert {s["key"] for s in cat["settings"]} == {f"power_limit_{s}" for s in serials}
    assert all(s["type"] == "number" and s["min"] == 2 and s["max"] == 100 for s in cat["settings"])
    disc = wait_for(lambda: rec.json(f"homeassistant/device/{DTU}/config"), 10)
    assert {c["p"] for c in disc["cmps"].values()} >= {"sensor", "number"}

    # the DTU's totals are the sums of the ports, reading by reading (same ts)
    def consistent() -> bool:
        dtu = state(rec, DTU)
        parts = [state(rec, u) for u in units]
        if not dtu.get("pv_power") or any(p.get("ts") != dtu.get("ts") for p in parts):
            return False
        port_w = sum(p[f"pv{n}_power"] for p in parts for n in ports_of(p))
        port_today = sum(p[f"pv{n}_energy_today"] for p in parts for n in ports_of(p))
        port_life = sum(p[f"pv{n}_energy"] for p in parts for n in ports_of(p))
        assert dtu["pv_power"] == pytest.approx(port_w, abs=0.11)
        assert dtu["pv_energy_today"] == pytest.approx(port_today, abs=0.002)
        assert dtu["pv_energy"] == pytest.approx(port_life, abs=0.002)
        assert dtu["dtu_power"] == pytest.approx(port_w, abs=0.11)  # the DTU says the same
        return True

    wait_for(consistent, 15, interval=0.05, what="a DTU state with its units of the same answer")
    # the DTU's own counters, held: equal to what it said on the wire (Wh -> kWh)
    answered = json.loads(sim.control("answered")[3:])
    wait_for(lambda: state(rec, units[0])["ts"] == state(rec, DTU)["ts"], 5)

    # below 35 s the reader warns, once
    assert reader.output().count("may stop its own upload") == 1
    assert answered  # the simulator answered what the reader published

    # one connection at a time, never within the DTU's minimum interval; nothing refused
    wait_for(lambda: sum(e["event"] == "answer" for e in sim.events()) >= 4, 20, what="four answered polls")
    events = sim.events()
    assert not [e for e in events if e["event"] in ("busy", "too_soon", "dropped")], events
    opened: dict[int, float] = {}
    last_close: float | None = None
    for e in events:
        if e["event"] == "open":
            assert not opened, f"connection {e['conn']} opened while {list(opened)} was open"
            if last_close is not None:
                assert e["t"] - last_close >= MIN_INTERVAL, events
            opened[e["conn"]] = e["t"]
        elif e["event"] == "close":
            opened.pop(e["conn"])
            last_close = e["t"]


def test_a_second_client_meets_the_single_connection_quirk(sim: DTUSim) -> None:
    """The simulator's side of the quirk, so the reader's test above means something."""
    import socket

    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as first:
        wait_for(lambda: any(e["event"] == "open" for e in sim.events()), 5)
        with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as second:
            assert second.recv(10) == b""  # closed at once, unanswered
        first.close()
    events = sim.events()
    assert [e["event"] for e in events][:3] == ["open", "busy", "close"]
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as third:
        assert third.recv(10) == b""  # right after the close: too soon
    assert sim.events()[-1]["event"] == "too_soon"


def test_a_poll_dropped_mid_way_is_retried_and_counters_stay_exact(
    sim: DTUSim, reader: Reader, rec: MqttRecorder
) -> None:
    units = units_of(rec)
    wait_for(lambda: all(state(rec, u).get("pv1_energy") for u in units), 10)
    before = len(states(rec, DTU))
    assert sim.control("fault drop 1") == "ok"
    wait_for(lambda: any(e["event"] == "dropped" for e in sim.events()), 15, what="a dropped poll")
    wait_for(lambda: len(states(rec, DTU)) >= before + 2, 20, what="polls after the drop")
    # retried, never offline
    assert [p for p in rec.payloads(f"solarstack/{DTU}/availability") if p == b"offline"] == []
    events = [e["event"] for e in sim.events()]
    dropped = events.index("dropped")
    assert "answer" in events[dropped:], events
    # counters exact: every port's lifetime kWh is what the DTU last said, to the Wh
    answered = json.loads(sim.control("answered")[3:])
    wait_for(lambda: state(rec, DTU)["ts"] == state(rec, units[0])["ts"] == state(rec, units[1])["ts"], 5)

    def exact() -> bool:
        answered.update(json.loads(sim.control("answered")[3:]))
        for unit in units:
            now = state(rec, unit)
            serial = unit.removeprefix(f"{DTU}_")
            for n in ports_of(now):
                if now[f"pv{n}_energy"] != pytest.approx(answered[serial][str(n)]["energy_total"] / 1000, abs=1e-6):
                    return False
        return True

    wait_for(exact, 10, interval=0.2, what="published lifetime counters equal to the DTU's")
    assert "stopped answering" not in reader.output()  # a dropped poll is not a silent DTU


def test_a_dip_of_the_dtus_daily_counter_does_not_lower_ours(sim: DTUSim, reader: Reader, rec: MqttRecorder) -> None:
    units = units_of(rec)
    # some energy today first (the simulated DTU started counting at its own start)
    wait_for(lambda: state(rec, DTU).get("pv_energy_today", 0) > 0.001, 30, what="energy today")
    seen = len(states(rec, DTU))
    assert sim.control("dip") == "ok"
    wait_for(lambda: len(states(rec, DTU)) >= seen + 3, 20, what="polls after the dip")
    answered = json.loads(sim.control("answered")[3:])
    dtu_daily = sum(port["energy_daily"] for ports in answered.values() for port in ports.values()) / 1000
    history = [s["pv_energy_today"] for s in states(rec, DTU) if "pv_energy_today" in s]
    assert history == sorted(history), history  # never down within the day
    assert history[-1] > dtu_daily + 0.001  # the DTU's own daily figure did go down
    for unit in units:
        for n in ports_of(state(rec, unit)):
            series = [s[f"pv{n}_energy_today"] for s in states(rec, unit) if f"pv{n}_energy_today" in s]
            assert series == sorted(series), (unit, n, series)


def test_power_limit_is_read_back_and_a_seventh_write_in_the_hour_is_refused(
    sim: DTUSim, reader: Reader, rec: MqttRecorder, mosquitto: Any, tmp_path: Path
) -> None:
    units = units_of(rec)
    serial = units[0].removeprefix(f"{DTU}_")
    setting = f"power_limit_{serial}"
    topic = f"solarstack/{DTU}/set/{setting}"
    results: list[dict[str, Any]] = []

    def write(value: str) -> dict[str, Any]:
        rec.publish(topic, value)
        n = len(results)
        out = wait_for(lambda: len(rec.payloads(f"{topic}/result")) > n and rec.payloads(f"{topic}/result"), 20)
        results.append(json.loads(out[-1]))
        return results[-1]

    first = write("50")
    assert first == {"ok": True, "value": 50, "error": None}, first
    assert sim.control(f"limit {serial}") == "ok 50"
    wait_for(lambda: state(rec, DTU).get(setting) == 50.0, 5, what="the read-back in the DTU's state")
    wait_for(lambda: state(rec, units[0]).get("power_limit") == 50.0, 10, what="the inverter's own power limit")
    # out of range and not a number: refused before the DTU, not counted
    assert write("1")["ok"] is False and "outside 2..100" in results[-1]["error"]
    assert write("abc")["ok"] is False
    for value in ("60", "70", "80", "90", "100"):
        assert write(value)["ok"] is True, results[-1]
    assert sim.control(f"limit {serial}") == "ok 100"
    seventh = write("55")
    assert seventh["ok"] is False and "rate limit" in seventh["error"] and "6 times" in seventh["error"], seventh
    assert sim.control(f"limit {serial}") == "ok 100"  # never reached the DTU
    out = reader.output()
    assert out.count(f"write {DTU}.{setting}") == 6 and "refused" in out
    # a restart does not reset the count (STATE_DIR keeps the hour's writes)
    assert reader.stop() == 0
    (tmp_path / "again").mkdir()
    again = start_reader(mosquitto, sim.url(DTU), tmp_path / "again", STATE_DIR=str(tmp_path / "state"))
    try:
        wait_for(lambda: len(states(rec, units[0])) and any(s.get("ts") for s in states(rec, units[0])), 10)
        wait_for(lambda: "power_limit" in json.dumps(rec.json(f"solarstack/{DTU}/catalog") or {}), 10)
        assert sim.control(f"limit {serial}") == "ok 100"

        def refused_again() -> dict[str, Any] | None:
            rec.publish(topic, "65")
            n = len(results)
            got = wait_for(lambda: len(rec.payloads(f"{topic}/result")) > n and rec.payloads(f"{topic}/result"), 20)
            results.append(json.loads(got[-1]))
            # right after the start the DTU may not have answered yet: "unknown setting" until it has
            return results[-1] if "unknown setting" not in str(results[-1]["error"]) else None

        eighth = wait_for(refused_again, 30, interval=1.0, what="a result after the restart")
        assert eighth["ok"] is False and "rate limit" in eighth["error"], eighth
        assert sim.control(f"limit {serial}") == "ok 100"
    finally:
        assert again.stop() == 0, again.output()


def test_a_dtu_dark_at_night_is_offline_with_one_line_not_a_storm(
    sim: DTUSim, reader: Reader, rec: MqttRecorder
) -> None:
    units = units_of(rec)
    wait_for(lambda: all(state(rec, u) for u in units), 10)
    assert sim.control("dark on") == "ok"  # dusk: the last answers are dark
    wait_for(lambda: state(rec, DTU).get("pv_power") == 0, 15, what="a dark answer")
    assert sim.control("night on") == "ok"
    wait_for(lambda: rec.text(f"solarstack/{DTU}/availability") == "offline", 30, what="the DTU offline")
    for unit in units:
        assert rec.text(f"solarstack/{unit}/availability") == "offline"
    out = reader.output()
    assert out.count("stopped answering after its panels went dark: expected at night") == 1, out
    assert out.count("failed after") <= 2, out  # the breaker's threshold, then quiet


def test_a_dtu_silent_in_daylight_is_a_warning(sim: DTUSim, reader: Reader, rec: MqttRecorder) -> None:
    wait_for(lambda: state(rec, DTU).get("pv_power", 0) > 20, 15, what="a sunny answer")
    assert sim.control("night on") == "ok"
    wait_for(lambda: rec.text(f"solarstack/{DTU}/availability") == "offline", 30, what="the DTU offline")
    out = reader.output()
    assert "WARNING" in out and "stopped answering while its inverters made" in out, out
    assert "expected at night" not in out

"""A parallel system end to end: `solarstack sim inverter --units 3` over real TCP, the real
`solarstack run inverter` process with `pi30+tcp://…?units=3&name=inv1`, a real Mosquitto;
the same for PI18 (`--protocol pi18`, PGSn instead of QPGSn).

Three unit devices (`inv1_unit1` … `inv1_unit3`, `via_device` the system) and the system
device `inv1` come out in the catalogue, Home Assistant discovery, state and /metrics; the
system's totals are the sums of the units' values of the same round, and each unit has
energy counters of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reader_support import Broker, Recorder, Sim, WaitFor, start_reader, tcp_sim

from solarstack.core import catalog

UNITS = ("inv1_unit1", "inv1_unit2", "inv1_unit3")
#: system total -> the unit key it sums
TOTALS = {"pv_power": "pv_power", "load_power": "ac_output_active_power", "grid_power": "grid_power"}
TOTALS |= {"battery_power": "battery_power"}
#: roles a consumer adds up over devices: only the system may carry them
FLOW_ROLES = (*TOTALS, "battery_charge_current", "battery_discharge_current", "pv_energy", "pv_energy_today")
FLOW_ROLES += ("load_energy", "grid_import_energy", "battery_charge_energy", "battery_discharge_energy")


#: family -> (its per-unit query, whether that query reports the unit's serial number)
FAMILIES = {"pi30": ("QPGS{n}", True), "pi18": ("PGS{n}", False)}


@pytest.fixture(params=sorted(FAMILIES))
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def parallel_sim(protocol: str, wait_for: WaitFor) -> Iterator[Sim]:
    """Three units of `protocol` at local noon (real PV on every unit), on a free TCP port."""
    yield from tcp_sim(wait_for, "--protocol", protocol, "--units", "3", "--start", "2026-06-01T12:00:00")


def _json(raw: bytes | None) -> dict[str, Any]:
    return json.loads(raw) if raw else {}


def _rounds(rec: Recorder) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each system state the totals came with (stamped as the last unit's reading), and the
    units' states published just before it (one session, QoS 1: the broker keeps the order)."""
    with rec.lock:
        messages = list(rec.messages)
    units: dict[str, dict[str, Any]] = {}
    rounds = []
    for topic, payload in messages:
        device = topic.split("/")[1] if topic.startswith("solarstack/") and topic.endswith("/state") else None
        if device in UNITS:
            units[device] = _json(payload)
        elif device == "inv1":
            state = _json(payload)
            complete = len(units) == 3 and all("pv_power" in u for u in units.values())
            if complete and "pv_power" in state and state["ts"] == units[UNITS[-1]]["ts"]:
                rounds.append((state, [units[u] for u in UNITS]))
    return rounds


def test_units_and_system_in_catalogue_discovery_state_and_metrics(
    mosquitto: Broker, protocol: str, parallel_sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    unit_query, has_serial = FAMILIES[protocol]
    device = f"{protocol}+{parallel_sim.pty}?name=inv1&units=3"
    reader = start_reader(mosquitto, parallel_sim, tmp_path, wait_for, INVERTER_DEVICES=device)
    try:
        # -- catalogue: the system and its three units, each unit through the system
        system = catalog.parse(wait_for(lambda: rec.last("solarstack/inv1/catalog"), 10, what="system catalogue"))
        assert system.device["via_device"] is None
        # it names its units and which unit field each total sums (the web's per-unit card reads it)
        assert system.units == UNITS
        assert system.totals == TOTALS
        assert {unit_query.format(n=n) for n in range(3)} <= set(system.queries)
        # the totals carry the flow roles; the master's own QPIGS figures (one unit's share) do not
        for key in TOTALS:
            assert system.fields[key].role == key and system.fields[key].unit == "W"
        assert system.fields["pv_input_power"].role is None
        assert system.fields["battery_charging_current"].role is None
        assert "total_ac_output_active_power" not in system.fields  # QPGSn rows are the units'
        assert system.fields["pv_energy"].role == "pv_energy"

        def unit_catalogues() -> list[catalog.Catalog] | None:
            raws = [rec.last(f"solarstack/{u}/catalog") for u in UNITS]
            cats = [catalog.parse(r) for r in raws if r]
            # the serial number comes with the unit's first reading: wait for the catalogue that has it
            return cats if len(cats) == 3 and all(c.device["serial_number"] or not has_serial for c in cats) else None

        cats = wait_for(unit_catalogues, 15, what="three unit catalogues (with serial numbers where reported)")
        assert [c.device["id"] for c in cats] == list(UNITS)
        assert {c.device["via_device"] for c in cats} == {"inv1"}
        assert {c.kind for c in cats} == {"inverter"}
        if has_serial:
            assert len({c.device["serial_number"] for c in cats}) == 3  # three units, not one thrice
        for c in cats:
            assert {"pv_power", "pv_energy", "load_energy", "grid_import_energy"} <= set(c.fields)
            assert not c.settings and c.fields["battery_capacity"].role == "soc"
            # consumers sum a flow's role over devices (the dashboard's PV, the energy table):
            # the system says each flow once, so a unit's share carries none of them
            assert not {f.role for f in c.fields.values()} & set(FLOW_ROLES)

        # -- Home Assistant: one device per unit, linked to the system device
        for unit in UNITS:
            disc = _json(
                wait_for(lambda u=unit: rec.last(f"homeassistant/device/{u}/config"), 10, what=f"{unit} discovery")
            )
            assert disc["dev"]["via_device"] == "solarstack_inv1"
            # available while the unit and its system both are (the system's will covers the unit)
            assert [a["t"] for a in disc["avty"]] == [f"solarstack/{unit}/availability", "solarstack/inv1/availability"]
            assert disc["avty_mode"] == "all" and "avty_t" not in disc
            ids = {c["uniq_id"] for c in disc["cmps"].values()}
            assert {f"solarstack_{unit}_pv_power", f"solarstack_{unit}_pv_energy"} <= ids
            assert not any("_set_" in i for i in ids)
        system_disc = _json(rec.last("homeassistant/device/inv1/config"))
        assert "via_device" not in system_disc["dev"]
        assert "solarstack_inv1_pv_power" in {c["uniq_id"] for c in system_disc["cmps"].values()}
        for unit in UNITS:
            wait_for(lambda u=unit: rec.last(f"solarstack/{u}/availability") == b"online", 10, what=f"{unit} online")

        # -- state: the totals are the sums of the units' values of the same round
        rounds = wait_for(lambda: _rounds(rec)[1:] or None, 20, what="two rounds with totals")
        for state, units in rounds:
            for total, source in TOTALS.items():
                assert state[total] == pytest.approx(sum(u[source] for u in units), abs=0.05), total
        state, units = rounds[-1]
        assert len({u["pv_power"] for u in units}) > 1  # real shares: the arrays differ
        assert state["pv_power"] > 500 and state["load_power"] > 0

        # -- energy: every unit integrates its own power, the system its totals
        def counting() -> bool:
            last = [_json(rec.last(f"solarstack/{d}/state")) for d in ("inv1", *UNITS)]
            return all(s.get("pv_energy", 0) > 0 for s in last)

        wait_for(counting, 20, what="pv_energy counting on the system and every unit")

        # -- metrics: a series per unit, and the system's total
        for unit in UNITS:
            assert reader.metric("solarstack_pv_power_watts", device=unit) > 0
        assert reader.metric("solarstack_pv_power_watts", device="inv1") > 0
    finally:
        out = reader.output()
        rec.stop()
    assert "Traceback" not in out, out


def test_unit_counters_never_go_down_across_a_restart(
    mosquitto: Broker, protocol: str, parallel_sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    """The second run has no state files (a new STATE_DIR): only the retained unit states on
    the broker can keep each unit's counters from starting again at zero."""
    rec = Recorder(mosquitto).start()
    device = f"{protocol}+{parallel_sim.pty}?name=inv1&units=3"

    def energies(since: int, *, first: bool) -> dict[str, float] | None:
        """Each unit's first (or last) pv_energy published after message `since`; None until
        every unit has one above zero (the first run) or any at all (the second)."""
        with rec.lock:
            later = rec.messages[since:]
        found: dict[str, float] = {}
        for topic, payload in later:
            unit, value = topic.split("/")[1], _json(payload).get("pv_energy") if topic.endswith("/state") else None
            if unit in UNITS and isinstance(value, float | int) and not (first and unit in found):
                found[unit] = float(value)
        enough = len(found) == 3 and (first or all(v > 0 for v in found.values()))
        return found if enough else None

    first = start_reader(mosquitto, parallel_sim, tmp_path, wait_for, INVERTER_DEVICES=device)
    try:
        wait_for(lambda: energies(0, first=False), 20, what="every unit counting")
    finally:
        first.output()
    for unit in UNITS:  # a clean stop takes the units offline with the system
        wait_for(lambda u=unit: rec.last(f"solarstack/{u}/availability") == b"offline", 5, what=f"{unit} offline")
    with rec.lock:
        mark = len(rec.messages)
    before = {u: _json(rec.last(f"solarstack/{u}/state"))["pv_energy"] for u in UNITS}
    second = start_reader(
        mosquitto, parallel_sim, tmp_path, wait_for, INVERTER_DEVICES=device, STATE_DIR=str(tmp_path / "fresh")
    )
    try:
        after = wait_for(lambda: energies(mark, first=True), 20, what="every unit counting again")
        for unit in UNITS:  # the first value published: no interval to catch up in
            assert before[unit] > 0 and after[unit] >= before[unit], unit
    finally:
        out = second.output()
        rec.stop()
    assert "Traceback" not in out, out

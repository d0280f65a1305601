"""What a reader tells consumers (issue 9): the device catalogue, whatever HA_DISCOVERY says,
and the refresh topics. Real `solarstack run inverter`, simulator on a pty, real Mosquitto."""

from __future__ import annotations

import json
from pathlib import Path

from reader_support import Broker, Recorder, Sim, WaitFor, start_reader, stop

from solarstack.core import catalog


def test_the_catalogue_is_published_with_ha_discovery_off(
    mosquitto: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    reader = start_reader(mosquitto, sim, tmp_path, wait_for, HA_DISCOVERY="off")
    try:
        raw = wait_for(lambda: rec.last("solarstack/inv1/catalog"), 10, what="the catalogue")
        cat = catalog.parse(raw)
        assert (cat.kind, cat.device["protocol"], cat.device["manufacturer"]) == ("inverter", "pi30", "Voltronic Power")
        assert cat.device["serial_number"]  # asked once at start (QID)
        assert cat.fields["battery_voltage"].role == "battery_voltage"
        (grid,) = cat.by_role("grid_power")  # derived by the reader, not measured by PI30
        assert grid.metric == "solarstack_grid_power_watts"
        assert cat.fields["pv_energy"].metric == "solarstack_pv_energy_joules_total"
        assert "output_source_priority" in cat.settings and "restore_defaults" not in cat.settings
        assert {"QPIGS", "QPIRI", "QMOD"} <= set(cat.queries)
        # the state carries the derived field too, and nothing went to Home Assistant
        wait_for(lambda: "grid_power" in json.loads(rec.last("solarstack/inv1/state") or b"{}"), 10)
        assert not [t for t, _ in rec.messages if t.startswith("homeassistant/")]
    finally:
        rec.stop()
        stop(reader.proc)


def test_refresh_polls_every_scheduled_command_now(
    mosquitto: Broker, sim: Sim, tmp_path: Path, wait_for: WaitFor
) -> None:
    rec = Recorder(mosquitto).start()
    reader = start_reader(mosquitto, sim, tmp_path, wait_for, INVERTER_SLOW_POLL_SECONDS="3600")
    try:
        for topic in ("solarstack/inv1/refresh", "solarstack/refresh"):
            before = len(rec.on("solarstack/inv1/refresh/result"))
            rec.publish(topic, "")
            results = wait_for(lambda b=before: rec.on("solarstack/inv1/refresh/result")[b:], 15, what=topic)
            result = json.loads(results[0])
            assert result["ok"] is True, result
            assert set(result["polled"]) == {"QPIGS", "QMOD", "QPIWS", "QPIRI", "QFLAG"}
    finally:
        rec.stop()
        stop(reader.proc)

"""The collector writes what readers publish, exactly: into VictoriaMetrics through the v2 write
path and into Debian's InfluxDB 1.6 through /write (v1); values as published,
integers as floats, arrays flattened `<key>_01`…, the payload's `ts` as the point's time, the
measurement from the device's catalogue."""

from __future__ import annotations

import json
from typing import Any

from collector_support import CollectorFactory, SiteFactory, ns_of, state
from sinks import InfluxDB1, VictoriaMetrics

from support import wait_for

Broker = Any


def mqtt_env(broker: Broker) -> dict[str, str]:
    return {"MQTT_HOST": broker.host, "MQTT_PORT": str(broker.port)}


def test_v2_write_into_victoria_metrics_reads_back_exactly(
    mosquitto: Broker,
    victoria_metrics: VictoriaMetrics,
    collector_factory: CollectorFactory,
    site_factory: SiteFactory,
) -> None:
    env = {**mqtt_env(mosquitto), "INFLUX_URL": victoria_metrics.url, "INFLUX_API": "v2", "INFLUX_BUCKET": "solar"}
    collector = collector_factory(env)
    site = site_factory(mosquitto)
    site.catalog("inverter", "inverter")
    for i in range(5):
        site.state("inverter", state(i))

    def series(name: str) -> dict[str, Any] | None:
        found = victoria_metrics.export(f'{name}{{device="inverter"}}')
        return found[0] if found and len(found[0]["values"]) == 5 else None

    pv = wait_for(lambda: series("inverter_pv_input_power"), 10, interval=0.1, what="5 PV samples in VictoriaMetrics")
    # VictoriaMetrics 1.79 ignores the v2 bucket: no `db` label (its /write path would add one)
    assert pv["metric"] == {"__name__": "inverter_pv_input_power", "device": "inverter"}
    assert pv["values"] == [1000.0 + i for i in range(5)]
    assert pv["timestamps"] == [ns_of(i) // 1_000_000 for i in range(5)]  # ts kept (VM keeps ms)
    cells = [series(f"inverter_cell_voltage_{c:02d}") for c in range(1, 5)]
    for c, cell in enumerate(cells):
        assert cell is not None
        assert cell["values"] == [state(i)["cell_voltage"][c] for i in range(5)]
    voltage = series("inverter_battery_voltage")
    assert voltage is not None and voltage["values"] == [state(i)["battery_voltage"] for i in range(5)]
    assert not victoria_metrics.export('{__name__=~"inverter_missing.*"}')
    assert not victoria_metrics.export('{__name__=~"inverter_cell_voltage"}')  # only its elements
    metrics = collector.metrics()
    assert metrics["solarstack_collector_points_written_total"] >= 5
    assert metrics["solarstack_collector_lag_seconds"] > 0  # the states are from March 2026
    assert metrics["solarstack_collector_spool_points"] == 0
    assert metrics['solarstack_collector_write_errors_total{kind="connection"}'] == 0


def test_v1_write_into_influxdb_1_6_keeps_types_time_and_strings(
    mosquitto: Broker,
    influxdb1: InfluxDB1,
    collector_factory: CollectorFactory,
    site_factory: SiteFactory,
) -> None:
    influxdb1.create_database("solar")
    env = {**mqtt_env(mosquitto), "INFLUX_URL": influxdb1.url, "INFLUX_API": "v1", "INFLUX_DATABASE": "solar"}
    collector_factory(env)
    site = site_factory(mosquitto)
    site.catalog("pack1", "battery")
    for i in range(3):
        site.state("pack1", state(i, cells=12))

    rows = wait_for(
        lambda: len(r := influxdb1.rows("SELECT * FROM battery", "solar")) == 3 and r,
        10,
        interval=0.1,
        what="3 points in InfluxDB 1.6",
    )
    assert [r["time"] for r in rows] == [ns_of(i) for i in range(3)]  # ns exact
    for i, row in enumerate(rows):
        expected = state(i, cells=12)
        assert row["device"] == "pack1"
        assert row["seq"] == float(i) and row["pv_input_power"] == 1000.0 + i
        assert row["battery_voltage"] == expected["battery_voltage"]
        assert row["charging"] is expected["charging"]
        assert row["mode"] == expected["mode"]
        assert [row[f"cell_voltage_{c:02d}"] for c in range(1, 13)] == expected["cell_voltage"]
        assert "missing" not in row and "cell_voltage" not in row
    types = {k: t for k, t in influxdb1.query("SHOW FIELD KEYS FROM battery", "solar")[0]["values"]}
    assert types["seq"] == "float" and types["charging"] == "boolean" and types["mode"] == "string"


def test_state_before_its_catalogue_waits_for_the_kind(
    mosquitto: Broker,
    influxdb1: InfluxDB1,
    collector_factory: CollectorFactory,
    site_factory: SiteFactory,
) -> None:
    """A state that comes before its device's catalogue is held (not acknowledged) until the
    catalogue says what the device is, then written under that kind — not under `device`."""
    influxdb1.create_database("solar")
    env = {**mqtt_env(mosquitto), "INFLUX_URL": influxdb1.url, "INFLUX_API": "v1", "INFLUX_DATABASE": "solar"}
    collector = collector_factory(env)
    site = site_factory(mosquitto)
    site.state("house", {"ts": "2026-03-01T12:00:00Z", "temperature": 21.5})
    site.state("house", b"not json")  # refused, counted, and acknowledged (never redelivered)
    # a device with a catalogue, published after: once its point is in, the house states were seen
    site.catalog("probe", "weather")
    site.state("probe", {"ts": "2026-03-01T12:00:00Z", "x": 1})
    wait_for(lambda: influxdb1.rows("SELECT * FROM weather", "solar"), 10, what="probe point")
    assert influxdb1.query("SHOW MEASUREMENTS", "solar")[0]["values"] == [["weather"]]  # no house yet
    site.catalog("house", "house")
    rows = wait_for(lambda: influxdb1.rows("SELECT * FROM house", "solar"), 10, what="house point")
    assert rows == [{"time": 1772366400 * 10**9, "device": "house", "temperature": 21.5}]
    assert influxdb1.query("SHOW MEASUREMENTS", "solar")[0]["values"] == [["house"], ["weather"]]
    metrics = collector.metrics()
    assert metrics['solarstack_collector_write_errors_total{kind="invalid"}'] == 1  # the JSON-less one
    kinds = json.loads((collector.workdir / "state" / "collector" / "kinds.json").read_text())
    assert kinds == {"house": "house", "probe": "weather"}  # kept for the next start

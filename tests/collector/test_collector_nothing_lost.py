"""Nothing lost, nothing doubled: while a site publishes a numbered run of states, the collector
is killed with SIGKILL and restarted, the sink goes away for a minute, the broker restarts —
and afterwards every published state is in InfluxDB 1.6 exactly once, at its own `ts`.

The broker keeps the collector's session (persistence on, as the shipped config has); the site
publishes through the readers' own MQTT client, which spools while the broker is down."""

from __future__ import annotations

import signal
import time
from typing import Any

from collector_support import CollectorFactory, CollectorProcess, Publisher, SiteFactory, ns_of
from sinks import InfluxDB1

from support import wait_for

Broker = Any
N = 400
RATE = 100.0  # states per second: 4 s of publishing
OUTAGE_RATE = 5.0  # states per second while the sink is away: 80 s of publishing
OUTAGE_SECONDS = 60.0


def start(broker: Broker, influxdb1: InfluxDB1, collector_factory: CollectorFactory) -> CollectorProcess:
    influxdb1.create_database("solar")
    env = {
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.port),
        "INFLUX_URL": influxdb1.url,
        "INFLUX_API": "v1",
        "INFLUX_DATABASE": "solar",
        "COLLECTOR_CLIENT_ID": "collector-under-test",
    }
    return collector_factory(env)


def stored(influxdb1: InfluxDB1) -> int:
    series = influxdb1.query("SELECT count(seq) FROM inverter", "solar")
    return int(series[0]["values"][0][1]) if series else 0


def assert_every_state_once(influxdb1: InfluxDB1) -> None:
    wait_for(lambda: stored(influxdb1) >= N, 30, interval=0.2, what=f"{N} states in InfluxDB")
    rows = influxdb1.rows("SELECT seq FROM inverter", "solar")
    assert len(rows) == N
    assert [r["time"] for r in rows] == [ns_of(i) for i in range(N)]
    assert [r["seq"] for r in rows] == [float(i) for i in range(N)]


def test_sigkill_mid_stream_loses_nothing(
    mosquitto_factory: Any, influxdb1: InfluxDB1, collector_factory: CollectorFactory, site_factory: SiteFactory
) -> None:
    """Killed while a write hangs (the sink frozen with SIGSTOP): the messages it had received
    but not stored were never acknowledged, so its session gets them again after the restart."""
    broker = mosquitto_factory(persistence=True)
    collector = start(broker, influxdb1, collector_factory)
    site = site_factory(broker)
    site.catalog("inverter", "inverter")
    publisher = Publisher(site, "inverter", N, RATE).start()
    wait_for(lambda: stored(influxdb1) >= 50, 10, interval=0.05, what="a first part written")
    assert influxdb1.proc is not None
    influxdb1.proc.send_signal(signal.SIGSTOP)
    try:
        frozen_at = publisher.published
        wait_for(lambda: publisher.published >= frozen_at + 100, 10, what="states received while the write hangs")
        collector.kill()
    finally:
        influxdb1.proc.send_signal(signal.SIGCONT)
    assert publisher.published < N, "the kill must come while states are still being published"
    collector.start()
    publisher.join()
    assert_every_state_once(influxdb1)


def test_sink_outage_spools_to_disk_and_replays_in_order(
    mosquitto_factory: Any, influxdb1: InfluxDB1, collector_factory: CollectorFactory, site_factory: SiteFactory
) -> None:
    broker = mosquitto_factory(persistence=True)
    collector = start(broker, influxdb1, collector_factory)
    site = site_factory(broker)
    site.catalog("inverter", "inverter")
    # States keep coming all through a one-minute outage of the sink (400 at 5 per second).
    publisher = Publisher(site, "inverter", N, OUTAGE_RATE).start()
    wait_for(lambda: stored(influxdb1) >= 25, 10, interval=0.05, what="a first part written")
    influxdb1.stop()
    back_at = time.monotonic() + OUTAGE_SECONDS
    spooled = wait_for(
        lambda: collector.metrics()["solarstack_collector_spool_points"], 10, interval=0.05, what="points spooled"
    )
    assert spooled > 0 and collector.ready()  # the sink being away does not make it unready
    # killed while it holds a spool: the spool is on disk and the next start replays it
    wait_for(lambda: collector.metrics()["solarstack_collector_spool_points"] >= 100, 40, what="a larger spool")
    metrics = collector.metrics()
    # refused once it is gone; a write caught by its shutdown may end as a reset, timeout or 5xx first
    failed = sum(
        metrics[f'solarstack_collector_write_errors_total{{kind="{k}"}}'] for k in ("connection", "timeout", "server")
    )
    assert failed >= 1 and metrics['solarstack_collector_write_errors_total{kind="rejected"}'] == 0
    collector.kill()
    collector.start()
    time.sleep(max(0.0, back_at - time.monotonic()))  # the outage's length is the scenario, not a wait
    assert collector.metrics()["solarstack_collector_spool_points"] >= 250  # a minute of states held on disk
    influxdb1.start()
    publisher.join(60)
    assert_every_state_once(influxdb1)
    wait_for(lambda: collector.metrics()["solarstack_collector_spool_points"] == 0, 10, what="spool drained")


def test_broker_restart_loses_nothing(
    mosquitto_factory: Any, influxdb1: InfluxDB1, collector_factory: CollectorFactory, site_factory: SiteFactory
) -> None:
    broker = mosquitto_factory(persistence=True)
    start(broker, influxdb1, collector_factory)
    site = site_factory(broker)
    site.catalog("inverter", "inverter")
    publisher = Publisher(site, "inverter", N, RATE).start()
    wait_for(lambda: stored(influxdb1) >= 50, 10, interval=0.05, what="a first part written")
    broker.stop()
    stopped_at = publisher.published
    assert stopped_at < N
    wait_for(lambda: publisher.published >= stopped_at + 50, 10, what="states spooled by the site meanwhile")
    broker.start()
    publisher.join()
    assert_every_state_once(influxdb1)

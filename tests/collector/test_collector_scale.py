"""Scale-out and several sites: two collectors in a shared-subscription group split the states
and lose nothing when one is killed; the shipped bridge example (mosquitto/bridge.example.conf)
carries a site broker's states to a central broker, across a central outage, into the sink."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from collector_support import CollectorFactory, Publisher, SiteFactory, ns_of, state
from sinks import InfluxDB1

from support import wait_for

Broker = Any
ROOT = Path(__file__).resolve().parents[2]
WRITTEN = "solarstack_collector_points_written_total"


def stored(influxdb1: InfluxDB1) -> int:
    series = influxdb1.query("SELECT count(seq) FROM inverter", "solar")
    return int(series[0]["values"][0][1]) if series else 0


def every_state_once(influxdb1: InfluxDB1, n: int) -> None:
    wait_for(lambda: stored(influxdb1) >= n, 30, interval=0.2, what=f"{n} states in InfluxDB")
    rows = influxdb1.rows("SELECT seq FROM inverter", "solar")
    assert [(r["time"], r["seq"]) for r in rows] == [(ns_of(i), float(i)) for i in range(n)]


def test_shared_group_splits_the_load_and_survives_losing_members(
    shipped_broker: Any, influxdb1: InfluxDB1, collector_factory: CollectorFactory, site_factory: SiteFactory
) -> None:
    """Two collectors split the states; one killed with SIGKILL gets its share back from its
    session when it restarts; one stopped gracefully leaves the group, so the other gets
    everything after. Against the shipped broker config and ACL (`$share/<group>/…` allowed)."""
    influxdb1.create_database("solar")
    n = 600

    def env(client_id: str) -> dict[str, str]:
        return {
            "MQTT_HOST": shipped_broker.host,
            "MQTT_PORT": str(shipped_broker.port),
            "MQTT_USERNAME": "collector",
            "MQTT_PASSWORD": shipped_broker.passwords["collector"],
            "INFLUX_URL": influxdb1.url,
            "INFLUX_API": "v1",
            "INFLUX_DATABASE": "solar",
            "COLLECTOR_SHARED_GROUP": "writers",
            "COLLECTOR_CLIENT_ID": client_id,
        }

    first, second = collector_factory(env("collector-a")), collector_factory(env("collector-b"))
    # the shipped ACL lets only the `inverter` user publish the inverter's topics
    site = site_factory(shipped_broker, client_id="inverter-site", username="inverter")
    site.catalog("inverter", "inverter")
    publisher = Publisher(site, "inverter", n, 100.0).start()
    wait_for(lambda: first.metrics()[WRITTEN] >= 20 and second.metrics()[WRITTEN] >= 20, 10, what="both writing")
    second.kill()
    killed_at = stored(influxdb1)
    wait_for(lambda: stored(influxdb1) >= killed_at + 100, 10, what="the survivor writing on")
    assert publisher.published < n, "the kill must come while states are still being published"
    second.start()
    # its share, queued at the broker while it was dead, and new states: the restarted one writes
    wait_for(lambda: second.metrics()[WRITTEN] >= 50, 10, what="the restarted member writing")
    # a graceful stop leaves the group: the other takes the whole load, the stopped one never returns
    assert first.stop() == 0
    assert publisher.published < n, "the stop must come while states are still being published"
    publisher.join()
    every_state_once(influxdb1, n)


def bridge_config(central: Broker, username: str, password: str) -> str:
    """The shipped example with its CHANGE_ME lines filled in, as a user would."""
    text = (ROOT / "mosquitto" / "bridge.example.conf").read_text()
    assert len(re.findall(r"(?m)^[a-z_]+ .*CHANGE_ME", text)) == 3  # address, remote_username, remote_password
    text = re.sub(r"(?m)^address .*$", f"address {central.host}:{central.port}", text)
    text = re.sub(r"(?m)^remote_username .*$", f"remote_username {username}", text)
    text = re.sub(r"(?m)^remote_password .*$", f"remote_password {password}", text)
    return "\n" + text


def test_bridge_carries_a_site_into_the_sink_across_a_central_outage(
    mosquitto_factory: Any, influxdb1: InfluxDB1, collector_factory: CollectorFactory, site_factory: SiteFactory
) -> None:
    influxdb1.create_database("solar")
    central = mosquitto_factory(
        users={"site1": "pw-site1", "collector": "pw-collector"},
        acl="user site1\ntopic write solarstack/#\n\nuser collector\ntopic read solarstack/#\n",
        persistence=True,
    )
    site_broker = mosquitto_factory(persistence=True, extra_config=bridge_config(central, "site1", "pw-site1"))
    wait_for(lambda: "site1" in central.log_text(), 10, what="the bridge connected to the central broker")
    collector_factory(
        {
            "MQTT_HOST": central.host,
            "MQTT_PORT": str(central.port),
            "MQTT_USERNAME": "collector",
            "MQTT_PASSWORD": "pw-collector",
            "INFLUX_URL": influxdb1.url,
            "INFLUX_API": "v1",
            "INFLUX_DATABASE": "solar",
        }
    )
    site = site_factory(site_broker)
    site.catalog("inverter", "inverter")
    for i in range(20):
        site.state("inverter", state(i))
    wait_for(lambda: stored(influxdb1) >= 20, 10, interval=0.05, what="the site's first states centrally")
    central.stop()
    for i in range(20, 50):
        site.state("inverter", state(i))
    wait_for(site.idle, 5, what="the site broker took them (queued for the bridge)")
    central.start()
    every_state_once(influxdb1, 50)

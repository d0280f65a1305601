"""Services layer: `solarstack run collector` — every reader's state from MQTT into InfluxDB.

Wiring only: the settings (settings.py) pick the sink (sink.py); the MQTT link
(subscriber.py) holds a persistent session subscribed to `<prefix>/+/catalog`,
`<prefix>/+/availability` and `<prefix>/+/state` — the last through
`$share/<COLLECTOR_SHARED_GROUP>/…` when a group is set, so several collectors split the
states (each still reads every catalogue: retained messages are never sent to a shared
subscription); the pipeline (pipeline.py) turns messages into points and acknowledges them
once stored; /health, /ready and /metrics come from core/health.py.

It names no protocol and no device: what a device is comes from its catalogue.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry

from solarstack.core.health import HealthServer, Readiness
from solarstack.core.runtime import run_from_env
from solarstack.core.topics import Topics
from solarstack.services.collector.backlog import Backlog
from solarstack.services.collector.kinds import DeviceKinds
from solarstack.services.collector.metrics import CollectorMetrics
from solarstack.services.collector.pipeline import Pipeline
from solarstack.services.collector.settings import CollectorSettings
from solarstack.services.collector.sink import open_sink
from solarstack.services.collector.subscriber import AckingMqttClient

log = logging.getLogger(__name__)

#: seconds a stopping member of a shared group waits for the broker to confirm it left
LEAVE_TIMEOUT = 3.0

HELP = """Write every reader's state from MQTT into InfluxDB (or VictoriaMetrics), nothing lost:
a persistent MQTT session acknowledged only after each point is stored, a disk spool while the
sink is unreachable, idempotent writes on (device, ts).

Configured from the environment (see .env.example and docs/collector.md): INFLUX_URL,
INFLUX_API (v2 | v1); v2: INFLUX_TOKEN, INFLUX_ORG, INFLUX_BUCKET; v1: INFLUX_DATABASE,
INFLUX_USERNAME, INFLUX_PASSWORD; COLLECTOR_SHARED_GROUP, COLLECTOR_CLIENT_ID,
COLLECTOR_SPOOL_MB, COLLECTOR_BATCH_POINTS, and the shared MQTT_*, STATE_DIR, METRICS_PORT,
LOG_*."""


def filters(settings: CollectorSettings) -> list[str]:
    """The subscriptions, catalogues first (so retained kinds arrive before retained states)."""
    topics = Topics(settings.mqtt_prefix)
    state = topics.state("+")
    if settings.collector_shared_group:
        state = f"$share/{settings.collector_shared_group}/{state}"
    return [topics.catalog("+"), topics.availability("+"), state]


async def serve(settings: CollectorSettings, stop: asyncio.Event) -> None:
    home = settings.state_dir / "collector"
    client_id = settings.client_id()
    backlog = Backlog(home / f"{client_id}.sqlite3", settings.spool_bytes)
    metrics = CollectorMetrics(CollectorRegistry(), lambda: backlog.points)
    sink = open_sink(settings)
    pipeline = Pipeline(
        Topics(settings.mqtt_prefix),
        DeviceKinds(home / "kinds.json"),
        sink,
        backlog,
        metrics,
        batch_points=settings.collector_batch_points,
    )
    mqtt = AckingMqttClient(settings, client_id, pipeline.on_message)
    pipeline.ack = mqtt.ack

    def ready() -> Readiness:
        if not mqtt.connected:
            return Readiness(False, f"not connected to MQTT broker {settings.mqtt_host}:{settings.mqtt_port}")
        return Readiness(True)

    health = HealthServer(
        metrics.registry, ready, service="collector", host=settings.metrics_host, port=settings.metrics_port
    )
    if settings.metrics_port:
        await health.start()
    if backlog:
        log.info("spool holds %d point(s) from an earlier run; replaying them first", backlog.points)
    subscriptions = filters(settings)

    def leave_group() -> None:
        # a graceful stop leaves the shared group: the others take our share meanwhile
        if settings.collector_shared_group and not mqtt.leave(subscriptions[-1], LEAVE_TIMEOUT):
            log.warning("could not leave shared group %s; its share waits for us", settings.collector_shared_group)

    writer = asyncio.ensure_future(pipeline.run(stop, leave_group))
    mqtt.subscribe_all(subscriptions)
    mqtt.start()
    log.info(
        "collector %s: %s -> %s (%s)%s",
        client_id,
        settings.mqtt_host,
        settings.influx_url,
        settings.influx_api,
        f", shared group {settings.collector_shared_group}" if settings.collector_shared_group else "",
    )
    try:
        await writer
    finally:
        writer.cancel()
        mqtt.stop()
        sink.close()
        backlog.close()
        await health.stop()


def run(argv: list[str]) -> int:
    """Entry point of `solarstack run collector` (configuration from the environment)."""
    return run_from_env(argv, prog="solarstack run collector", description=HELP, model=CollectorSettings, serve=serve)

"""Services layer: `solarstack run house` — indoor climate sensors, polled and published.

Builds everything once from HouseSettings (environment) and hands the sensors to the shared
reader wiring (services/wiring.py): one DeviceReader per sensor (state, catalogue, Home
Assistant discovery, metrics), one /health /ready /metrics server. It names no protocol: the
device registry opens whatever a URL names (a BME280 on I2C, a legacy MQTT sensor).

Devices that are fed rather than polled (a legacy sensor publishing plain floats on its old
`house/<sensor>/<quantity>` topics) say so with `subscriptions()` and `feed(topic, payload)`:
their reader's own MQTT session subscribes to those topics (live messages only, never a
retained copy) and hands each message to the device; the poll then publishes what came in as
a device of ours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from solarstack.core.device_url import DeviceURL
from solarstack.core.metrics import ServiceMetrics
from solarstack.core.poller import Schedule
from solarstack.core.runtime import run_from_env
from solarstack.devices import registry
from solarstack.devices.base import Device
from solarstack.services.house.settings import KINDS, HouseSettings
from solarstack.services.reader import DeviceReader
from solarstack.services.wiring import Plan, serve_readers

HELP = """Read indoor climate sensors (BME280 / BMP280 on I2C; legacy house/<sensor> MQTT topics) and publish them.

Configured from the environment (see .env.example): HOUSE_DEVICES (required), e.g.
bme280+i2c://1/0x76?name=living_room&title=Living room&offset=-1.5&altitude=350,
bme280+i2c://1/0x77?name=attic, legacy+mqtt://house/kitchen?name=kitchen (an ESP8266 that
publishes house/kitchen/temperature -> 21.5). HOUSE_POLL_SECONDS (60), HOUSE_ALTITUDE (metres,
for sea-level pressure), HOUSE_RETRIES, and the shared MQTT_*, HA_DISCOVERY*, STATE_DIR,
METRICS_PORT, LOG_LEVEL, LOG_FORMAT."""


def feeds(readers: list[DeviceReader], metrics: ServiceMetrics) -> Sequence[Awaitable[None]]:
    """Subscribe fed devices' topics on their reader's session (before the readers start)."""
    for reader in readers:
        device = reader.device
        topics: Callable[[], tuple[str, ...]] | None = getattr(device, "subscriptions", None)
        for topic in topics() if topics else ():
            reader.mqtt.subscribe(topic, device.feed, retained=False)  # type: ignore[attr-defined]
    return ()


async def serve(settings: HouseSettings, stop: asyncio.Event) -> None:
    urls = settings.urls()
    for url in urls:
        registry.check_kind(url, KINDS)
    devices = [(url, registry.open_device(url)) for url in urls]

    def plan(url: DeviceURL, device: Device) -> Plan:
        pairs = device.schedule(settings.house_poll_seconds, settings.house_poll_seconds)
        return Plan(schedules=[Schedule(c, s) for c, s in pairs], allow_settings=False, retries=settings.house_retries)

    await serve_readers("house", settings, devices, plan, stop, extra=feeds)


def run(argv: list[str]) -> int:
    """Entry point of `solarstack run house` (configuration from the environment)."""
    return run_from_env(argv, prog="solarstack run house", description=HELP, model=HouseSettings, serve=serve)

"""Services layer: `solarstack run inverter` — poll PI30 inverters, publish to MQTT and HA.

Builds everything once from InverterSettings (environment), then runs one
DeviceReader per configured device on one asyncio loop, plus the health/metrics
server. Protocol knowledge stays in devices/ and protocols/; this module wires.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry

from solarstack.core.device_url import DeviceURL, parse_device_list
from solarstack.core.discovery import DeviceInfo
from solarstack.core.errors import SolarstackError
from solarstack.core.health import HealthServer
from solarstack.core.metrics import ServiceMetrics
from solarstack.core.poller import CircuitBreaker, Schedule
from solarstack.core.runtime import run_from_env
from solarstack.devices.pi30 import Pi30Device, open_device
from solarstack.services.inverter.energy import PI30_COUNTERS
from solarstack.services.inverter.settings import InverterSettings
from solarstack.services.reader import DeviceReader, readiness

log = logging.getLogger(__name__)

HELP = """Poll MPP-Solar / Voltronic (PI30) inverters and publish to MQTT and Home Assistant.

Configured from the environment (see .env.example): INVERTER_DEVICES (required, e.g.
pi30+serial:///dev/ttyUSB0?name=inverter1 or pi30+hidraw://?vid=0665&pid=5161),
INVERTER_POLL_SECONDS, INVERTER_SLOW_POLL_SECONDS, INVERTER_COMMANDS, INVERTER_TIMEOUT,
INVERTER_RETRIES, INVERTER_ALLOW_SETTINGS, INVERTER_ALLOW_DESTRUCTIVE (factory reset; off by
default), and the shared MQTT_*, HA_DISCOVERY*,
STATE_DIR, METRICS_PORT, LOG_LEVEL, LOG_FORMAT."""


def identify(device: Pi30Device, url: DeviceURL) -> DeviceInfo:
    """Best effort: serial number, firmware and model for HA's device page."""
    found: dict[str, str] = {}
    for command in ("QID", "QVFW", "QMN"):
        try:
            found.update({k: str(v) for k, v in device.query(command).values.items()})
        except SolarstackError as exc:
            log.debug("%s: %s not answered (%s)", device.id, command, exc)
    try:
        device.context()  # ratings: HA number entities get this unit's own bounds
    except SolarstackError as exc:
        log.info("%s: ratings not read yet (%s); settings use 48 V bounds until then", device.id, exc)
    return DeviceInfo(
        id=device.id,
        name=url.option("title") or device.id.replace("_", " ").title(),
        manufacturer="Voltronic Power",
        model=found.get("model_name") or "PI30 inverter",
        hw_version="PI30",  # the protocol: the web picks its allow-list and range checks by it
        sw_version=found.get("main_cpu_firmware"),
        serial_number=found.get("serial_number"),
    )


async def serve(settings: InverterSettings, stop: asyncio.Event) -> None:
    urls = parse_device_list(settings.inverter_devices)  # checked by InverterSettings: pi30+… URLs only
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "inverter")
    schedules = [Schedule(command, every) for command, every in settings.schedule()]
    readers: list[DeviceReader] = []
    for url in urls:
        device = open_device(
            url, timeout=settings.inverter_timeout, allow_destructive=settings.inverter_allow_destructive
        )
        for s in schedules:
            device.table(s.command)  # unknown commands in INVERTER_COMMANDS fail here, at start
        info = await asyncio.to_thread(identify, device, url)
        reader = DeviceReader(
            settings,
            device,
            schedules,
            info=info,
            metrics=metrics,
            counters=PI30_COUNTERS,
            energy_command="QPIGS",
            allow_settings=settings.inverter_allow_settings,
            retries=settings.inverter_retries,
            breaker=CircuitBreaker(settings.inverter_breaker_failures, settings.inverter_breaker_reset_seconds),
        )
        metrics.bind_mqtt(reader.mqtt)
        readers.append(reader)

    health = HealthServer(
        registry, lambda: readiness(readers), service="inverter", host=settings.metrics_host, port=settings.metrics_port
    )
    if settings.metrics_port:
        await health.start()
    try:
        await asyncio.gather(*(r.run(stop) for r in readers))
    finally:
        await health.stop()


def run(argv: list[str]) -> int:
    """Entry point of `solarstack run inverter` (configuration from the environment)."""
    return run_from_env(argv, prog="solarstack run inverter", description=HELP, model=InverterSettings, serve=serve)

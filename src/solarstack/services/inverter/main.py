"""Services layer: `solarstack run inverter` — poll inverters, publish to MQTT and HA.

Builds everything once from InverterSettings (environment) and hands the devices to
the shared reader wiring (services/wiring.py): one DeviceReader per device on one
asyncio loop, plus the health/metrics server. It names no protocol: the device
registry opens whatever inverter family a URL names, and the device says what to
poll, who made it and which energy counters it feeds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from solarstack.core.device_url import DeviceURL
from solarstack.core.poller import CircuitBreaker, Schedule
from solarstack.core.runtime import run_from_env
from solarstack.devices.base import Device
from solarstack.services.inverter.settings import KINDS, InverterSettings
from solarstack.services.wiring import Plan, open_devices, serve_readers

HELP = """Poll MPP-Solar / Voltronic inverters and publish to MQTT and Home Assistant.

Configured from the environment (see .env.example): INVERTER_DEVICES (required, e.g.
pi30+serial:///dev/ttyUSB0?name=inverter1, pi18+…, pi17+…, pi16+…, or auto+serial:///dev/ttyUSB0
to probe the family once and cache it: docs/inverter-protocols.md, docs/detect.md),
INVERTER_POLL_SECONDS, INVERTER_SLOW_POLL_SECONDS, INVERTER_COMMANDS (read-only queries),
INVERTER_TIMEOUT, INVERTER_RETRIES, INVERTER_ALLOW_SETTINGS, INVERTER_ALLOW_DESTRUCTIVE
(factory reset; off by default), and the shared MQTT_*, HA_DISCOVERY*, STATE_DIR,
METRICS_PORT, LOG_LEVEL, LOG_FORMAT."""


async def serve(settings: InverterSettings, stop: asyncio.Event) -> None:
    # In a worker thread: an `auto+` URL with no cached verdict probes its link (seconds).
    devices = await asyncio.to_thread(
        open_devices,
        settings.inverter_devices,
        KINDS,
        timeout=settings.inverter_timeout,
        allow_destructive=settings.inverter_allow_destructive,
        state_dir=Path(settings.state_dir),
    )

    def plan(url: DeviceURL, device: Device) -> Plan:
        pairs = settings.schedule() or device.schedule(
            settings.inverter_poll_seconds, settings.inverter_slow_poll_seconds
        )
        schedules = [Schedule(command, every) for command, every in pairs]
        failures, reset = settings.inverter_breaker_failures, settings.inverter_breaker_reset_seconds
        return Plan(
            schedules=schedules,
            allow_settings=settings.inverter_allow_settings,
            retries=settings.inverter_retries,
            breaker=CircuitBreaker(failures, reset)
            if reset is not None
            else CircuitBreaker.per_poll(min(s.every for s in schedules), failures),
        )

    await serve_readers("inverter", settings, devices, plan, stop)


def run(argv: list[str]) -> int:
    """Entry point of `solarstack run inverter` (configuration from the environment)."""
    return run_from_env(argv, prog="solarstack run inverter", description=HELP, model=InverterSettings, serve=serve)

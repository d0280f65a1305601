"""Services layer: `solarstack run hoymiles` — Hoymiles DTUs and their microinverters to MQTT.

Each DTU of HOYMILES_DEVICES is one device of the shared reader wiring (services/wiring.py),
polled every HOYMILES_INTERVAL_SECONDS (default 60; below 35 s the reader warns once that the
DTU's own cloud upload may stop). The DTU's answer carries every microinverter: the reader
publishes the DTU with its totals and one device per microinverter, `via_device` the DTU
(devices/hoymiles.py, devices/parallel.py). One connection per DTU at a time (the device's
lock and the library's one request per connection); retries with backoff; the circuit breaker
opens after two failed polls and probes again after one interval, then ever less often up to
every five minutes: a DTU back after a short outage is read at once, one dark at night is shown
offline and probed every few minutes, with one line in the log rather than a line per poll. The power limit of each
inverter is a setting (percent, 2..100) through the same allow-list, range check, write,
read-back and audit path as an inverter's, at most HOYMILES_LIMIT_WRITES_PER_HOUR writes per
inverter in any hour.

It names no protocol: what a DTU reports comes from its field tables.
"""

from __future__ import annotations

import asyncio
import logging

from solarstack.core.device_url import DeviceURL
from solarstack.core.poller import CircuitBreaker, Schedule
from solarstack.core.runtime import run_from_env
from solarstack.devices import registry
from solarstack.devices.base import Device
from solarstack.services.hoymiles.settings import CLOUD_SAFE_SECONDS, KINDS, HoymilesSettings
from solarstack.services.wiring import Plan, serve_readers

log = logging.getLogger(__name__)

HELP = """Read Hoymiles microinverters through their DTU (DTU-Pro, DTU-Lite-S, HMS-W) and publish them.

Configured from the environment (see .env.example): HOYMILES_DEVICES (required), e.g.
hoymiles+tcp://192.168.1.60?name=roof (port 10081 unless given), HOYMILES_INTERVAL_SECONDS
(60; below 35 the DTU's cloud upload may stop), HOYMILES_TIMEOUT, HOYMILES_RETRIES,
HOYMILES_LIMIT_WRITES_PER_HOUR (6), and the shared MQTT_*, HA_DISCOVERY*, STATE_DIR,
METRICS_PORT, LOG_LEVEL, LOG_FORMAT."""

#: The longest a silent DTU is left alone before one probe (at night: a probe, not a storm).
NIGHT_PROBE_SECONDS = 300.0
#: How long into an outage the DTU is still probed at every poll, before probes thin out.
STEADY_PROBE_SECONDS = 600.0


def plan_for(settings: HoymilesSettings) -> Plan:
    every = settings.hoymiles_interval_seconds
    return Plan(
        schedules=[Schedule("realdata", every)],
        retries=settings.hoymiles_retries,
        # probed at every poll for the first minutes of an outage (a WiFi drop, a DTU
        # rebooting), then less and less often, up to every 5 minutes (dark at night)
        breaker=CircuitBreaker.per_poll(
            every, 2, max_reset_timeout=max(NIGHT_PROBE_SECONDS, every), steady_for=STEADY_PROBE_SECONDS
        ),
    )


async def serve(settings: HoymilesSettings, stop: asyncio.Event) -> None:
    if settings.hoymiles_interval_seconds < CLOUD_SAFE_SECONDS:
        log.warning(
            "HOYMILES_INTERVAL_SECONDS=%g: polling a DTU more often than every %g s may stop its own upload"
            " to the Hoymiles cloud (S-Miles app)",
            settings.hoymiles_interval_seconds,
            CLOUD_SAFE_SECONDS,
        )
    urls = settings.urls()
    for url in urls:
        registry.check_kind(url, KINDS)
    devices = [(url, registry.open_device(url)) for url in urls]
    for url, device in devices:  # the power-limit writes of the last hour survive a restart
        keep = getattr(device, "keep_writes_in", None)
        if keep is not None:
            keep(settings.state_dir / f"hoymiles-limit-writes-{url.name}.json")

    def plan(url: DeviceURL, device: Device) -> Plan:
        every = settings.hoymiles_interval_seconds
        return plan_for(settings)._replace(schedules=[Schedule(c, s) for c, s in device.schedule(every, every)])

    await serve_readers("hoymiles", settings, devices, plan, stop)


def run(argv: list[str]) -> int:
    """Entry point of `solarstack run hoymiles` (configuration from the environment)."""
    return run_from_env(argv, prog="solarstack run hoymiles", description=HELP, model=HoymilesSettings, serve=serve)

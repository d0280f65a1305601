"""Services layer: `solarstack run weather` — Open-Meteo to MQTT, and a PV forecast that learns.

The weather device (found through devices/registry.py, like any reader's) is polled by the
shared wiring (services/wiring.py) every WEATHER_INTERVAL_SECONDS. Around it:

- **stale**: a fetch that fails (HTTP error, 429, timeout, malformed JSON — the poller
  retries with backoff and logs one line) leaves the last good state published, re-sent
  with `stale: true` by the shared reader (`Plan.mark_stale`); the next good answer clears
  it. Discovery carries `expire_after`.
- **learning** (services/weather/learning.py): the inverters' PV energy today, found by
  catalogue role `pv_energy_today` on `<prefix>/+/catalog` and read from their state, is
  compared each evening with the day's model forecast; the per-hour correction and the
  recent MAPE (core/pvforecast.py) go back into the forecast and are persisted in STATE_DIR.

It names no protocol: what a weather device reports comes from its field table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence

from solarstack.core.device_url import DeviceURL
from solarstack.core.metrics import ServiceMetrics
from solarstack.core.poller import CircuitBreaker, Schedule
from solarstack.core.runtime import run_from_env
from solarstack.devices import registry
from solarstack.devices.base import Device
from solarstack.services.reader import DeviceReader
from solarstack.services.weather.learning import SiteLearning
from solarstack.services.weather.settings import KINDS, WeatherSettings
from solarstack.services.wiring import Plan, serve_readers

log = logging.getLogger(__name__)

HELP = """Fetch the weather and a 48-hour forecast from Open-Meteo, forecast PV power for your
arrays and learn a per-hour correction from your inverter's own PV energy.

Configured from the environment (see .env.example): WEATHER_DEVICES (optional, e.g.
openmeteo+https://api.open-meteo.com?name=weather), WEATHER_BASE_URL, WEATHER_LATITUDE,
WEATHER_LONGITUDE, WEATHER_TIMEZONE, WEATHER_INTERVAL_SECONDS (600), WEATHER_PV_ARRAYS
(east:5.2:30:90:14,west:4.8:30:270:14), WEATHER_LEARN_HOUR, WEATHER_TIMEOUT,
WEATHER_RETRIES, and the shared MQTT_*, HA_DISCOVERY*, STATE_DIR, METRICS_PORT, LOG_*."""

#: How often the evening learning is looked at, seconds.
TICK_SECONDS = 1.0


async def watch(reader: DeviceReader, learning: SiteLearning, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            learning.evening(reader.state)
        except Exception:  # a bug in the learning must not take the weather down with it
            log.exception("PV forecast learning failed; the forecast goes on with its last correction")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TICK_SECONDS)


async def serve(settings: WeatherSettings, stop: asyncio.Event) -> None:
    url = settings.device_url()
    registry.check_kind(url, KINDS)
    device = registry.open_device(url, timeout=settings.weather_timeout)
    learning = SiteLearning(settings.state_dir, settings.mqtt_prefix, settings.weather_learn_hour, url.name)
    correct_with = getattr(device, "correct_with", None)
    if correct_with is not None:
        correct_with(learning.correction)

    def plan(url: DeviceURL, device: Device) -> Plan:
        every = settings.weather_interval_seconds
        return Plan(
            schedules=[Schedule(command, s) for command, s in device.schedule(every, every)],
            retries=settings.weather_retries,
            # a fetch at every poll for the first ten minutes of an outage, then less and less
            # often (an API down for hours)
            breaker=CircuitBreaker.per_poll(every, 5, max_reset_timeout=max(600.0, every), steady_for=600.0),
            mark_stale=True,
        )

    def extra(readers: list[DeviceReader], metrics: ServiceMetrics) -> Sequence[Awaitable[None]]:
        reader = readers[0]
        learning.attach(reader.mqtt, asyncio.get_running_loop())
        return [watch(reader, learning, stop)]

    await serve_readers("weather", settings, [(url, device)], plan, stop, extra=extra)


def run(argv: list[str]) -> int:
    """Entry point of `solarstack run weather` (configuration from the environment)."""
    return run_from_env(argv, prog="solarstack run weather", description=HELP, model=WeatherSettings, serve=serve)

"""Services layer: the one wiring every reader service shares.

`serve_readers()` turns a service's device URLs into running `DeviceReader`s: each
URL opened through the device registry (the service names kinds, never a protocol),
its schedule and options from the service (`plan`), one metrics registry, one
/health /ready /metrics server, and any extra tasks (a battery group). A new reader
service is a settings model, a `plan` and a call of this.

It must not know any protocol: identity, schedules and energy counters come from the
device (devices/base.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from prometheus_client import CollectorRegistry

from solarstack import __version__
from solarstack.core.device_url import DeviceURL, parse_device_list
from solarstack.core.errors import ConfigError
from solarstack.core.health import HealthServer
from solarstack.core.metrics import ServiceMetrics
from solarstack.core.poller import CircuitBreaker, Schedule
from solarstack.core.settings import CommonSettings
from solarstack.devices import registry
from solarstack.devices.base import Device
from solarstack.services.reader import DeviceReader, readiness

log = logging.getLogger(__name__)


class Plan(NamedTuple):
    """How one device is read: what the service decided for it."""

    schedules: Sequence[Schedule]
    allow_settings: bool = True
    retries: int = 3
    breaker: CircuitBreaker | None = None
    poll_timeout: float | None = None
    mark_stale: bool = False  # see DeviceReader


def open_devices(
    devices: str,
    kinds: tuple[str, ...],
    *,
    timeout: float | None = None,
    allow_destructive: bool = False,
    state_dir: Path | None = None,
) -> list[tuple[DeviceURL, Device]]:
    """Every URL of a service's `<SERVICE>_DEVICES`, checked for the service's kinds and opened
    (transports open on first use: nothing touches hardware here, except an `auto+` URL's
    probes when no verdict is cached under `state_dir`)."""
    urls = parse_device_list(devices)
    for url in urls:
        registry.check_kind(url, kinds)
    return [
        (url, registry.open_device(url, timeout=timeout, allow_destructive=allow_destructive, state_dir=state_dir))
        for url in urls
    ]


def build_readers(
    settings: CommonSettings,
    devices: Sequence[tuple[DeviceURL, Device]],
    plan: Callable[[DeviceURL, Device], Plan],
    metrics: ServiceMetrics | None,
) -> list[DeviceReader]:
    readers: list[DeviceReader] = []
    for url, device in devices:
        p = plan(url, device)
        for s in p.schedules:
            device.table(s.command)  # an unknown command in a schedule fails here, at start
        reader = DeviceReader(
            settings,
            device,
            p.schedules,
            name=url.option("title"),
            metrics=metrics,
            allow_settings=p.allow_settings,
            retries=p.retries,
            breaker=p.breaker,
            poll_timeout=p.poll_timeout,
            mark_stale=p.mark_stale,
        )
        if metrics is not None:
            metrics.bind_mqtt(reader.mqtt)
        readers.append(reader)
    return readers


async def serve_readers(
    service: str,
    settings: CommonSettings,
    devices: Sequence[tuple[DeviceURL, Device]],
    plan: Callable[[DeviceURL, Device], Plan],
    stop: asyncio.Event,
    *,
    extra: Callable[[list[DeviceReader], ServiceMetrics], Sequence[Awaitable[None]]] | None = None,
) -> None:
    """Run one reader per device until `stop`, with the health server (see module doc)."""
    if not devices:
        raise ConfigError(f"{service.upper()}_DEVICES: no device configured")
    metrics = ServiceMetrics(CollectorRegistry(), service, __version__)
    readers = build_readers(settings, devices, plan, metrics)
    health = HealthServer(
        metrics.registry,
        lambda: readiness(readers),
        service=service,
        host=settings.metrics_host,
        port=settings.metrics_port,
    )
    if settings.metrics_port:
        await health.start()
    log.info("%s reader: %s", service, ", ".join(r.device.id for r in readers))
    try:
        await asyncio.gather(*(r.run(stop) for r in readers), *(extra(readers, metrics) if extra else ()))
    finally:
        await health.stop()

"""Services layer: the one wiring every reader service shares.

`serve_readers()` turns a service's device URLs into running `DeviceReader`s: each
URL opened through the device registry (the service names kinds, never a protocol),
its schedule and options from the service (`plan`), what the user shaped from its URL
options (core/shaping.py: include, exclude, rename, scale, exclude_devices, device_titles),
one metrics registry, one /health /ready /metrics server, and any extra tasks (a battery
group). A new reader service is a settings model, a `plan` and a call of this.

With `settings.dry_run` (`solarstack run <reader> --dry-run`, core/runtime.py) it instead polls
each device once through the same reader, on a scratch STATE_DIR, and prints every topic and
payload it would publish (the last payload per topic, in first-published order) to stdout:
no broker, no metrics port, no extra tasks.

It must not know any protocol: identity, schedules and energy counters come from the
device (devices/base.py).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from prometheus_client import CollectorRegistry

from solarstack import __version__
from solarstack.core.device_url import DeviceURL, parse_device_list
from solarstack.core.errors import ConfigError, SolarstackError
from solarstack.core.health import HealthServer
from solarstack.core.metrics import ServiceMetrics
from solarstack.core.poller import CircuitBreaker, Schedule
from solarstack.core.runtime import DryRunFailed
from solarstack.core.settings import CommonSettings
from solarstack.core.shaping import from_options
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
            shape=from_options(f"device URL {url.raw!r}", url.options),
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
    if settings.dry_run:
        await dry_run(settings, devices, plan)
        return
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


class _Printer:
    """The MQTT client of a dry run: keeps what would be published, connects nowhere."""

    def __init__(self) -> None:
        self.messages: dict[str, tuple[str, bool]] = {}  # topic -> last payload, retained

    def publish(self, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False) -> None:
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        self.messages[topic] = (text, retain)


async def dry_run(
    settings: CommonSettings,
    devices: Sequence[tuple[DeviceURL, Device]],
    plan: Callable[[DeviceURL, Device], Plan],
) -> None:
    """Poll each device once and print what would be published (see module doc); DryRunFailed
    names every device that did not answer, after what the others would publish is printed."""
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="solarstack-dry-run-") as scratch:
        # energy counters and the spool start empty here: the real STATE_DIR is not touched
        scratch_settings = settings.model_copy(update={"state_dir": Path(scratch)})
        for reader in build_readers(scratch_settings, devices, plan, None):
            printer = _Printer()
            try:
                silent = await reader.once(printer)
            except SolarstackError as exc:
                silent, error = [], str(exc)
            else:
                error = f"no answer to {', '.join(silent)}" if silent else ""
            if error:
                failed.append(f"{reader.device.id}: {error}")
            for topic, (payload, retain) in printer.messages.items():
                print(f"{topic} {payload}" if retain else f"{topic} (not retained) {payload}")
            sys.stdout.flush()
    if failed:
        raise DryRunFailed("; ".join(failed))

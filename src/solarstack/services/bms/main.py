"""Services layer: `solarstack run bms` — every pack in BMS_DEVICES polled and published.

One asyncio loop, one generic `DeviceReader` (services/reader.py) per pack: its poll
schedule, its own MQTT session with its own LWT (`solarstack/<pack>/availability`),
retained JSON state, Home Assistant discovery (per-cell sensors from the cell array,
binary sensors for the alarms), battery energy charged / discharged counters (kWh,
persisted in STATE_DIR) and Prometheus metrics, all from the codecs' field tables.
Stream packs (jkserial, daly, vedirect) poll in worker threads; JK over Bluetooth runs
on this loop (bleak is asyncio). /health /ready /metrics on METRICS_PORT.

Packs with `?group=<id>` are also published summed as one system device (group.py).

Must not know any wire protocol: devices come from the device layer by URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace

from prometheus_client import CollectorRegistry

from solarstack import __version__
from solarstack.core.device_url import DEVICE_ID_RE, DeviceURL, parse_device_list
from solarstack.core.discovery import DeviceInfo
from solarstack.core.energy import Counter, Term
from solarstack.core.errors import ConfigError
from solarstack.core.health import HealthServer
from solarstack.core.metrics import ServiceMetrics
from solarstack.core.poller import Schedule
from solarstack.core.runtime import run_from_env
from solarstack.devices.bms import BmsDevice
from solarstack.devices.bms import open_device as open_stream_pack
from solarstack.services.bms.group import BatteryGroup
from solarstack.services.bms.settings import BmsSettings
from solarstack.services.reader import DeviceReader, readiness

log = logging.getLogger("solarstack.bms")

DEFAULT_POLL_SECONDS = 5.0
MANUFACTURERS: Mapping[str, str] = {
    "jk02": "Jikong (JK BMS)",
    "jkserial": "Jikong (JK BMS)",
    "daly": "Daly",
    "vedirect": "Victron Energy",
}
#: battery energy from the pack's own voltage and current (current > 0 while charging)
COUNTERS = (
    Counter("battery_energy_charged", "Battery energy charged", (Term(("voltage", "current")),)),
    Counter("battery_energy_discharged", "Battery energy discharged", (Term(("voltage", "current"), -1.0),)),
)


def open_pack(url: DeviceURL) -> BmsDevice:
    """The device for one BMS URL (stream packs or JK over BLE)."""
    if url.protocol == "jk02":
        if url.transport != "ble":
            raise ConfigError(f"device URL {url.raw!r}: jk02 speaks over Bluetooth: jk02+ble://<MAC>")
        from solarstack.devices.bms_ble import open_device as open_ble

        return open_ble(url)
    if url.protocol not in MANUFACTURERS:
        raise ConfigError(
            f"device URL {url.raw!r}: protocol {url.protocol!r} is not a BMS; use one of {', '.join(MANUFACTURERS)}"
        )
    return open_stream_pack(url)


def build_readers(settings: BmsSettings, metrics: ServiceMetrics | None) -> list[DeviceReader]:
    readers = []
    for url in parse_device_list(settings.bms_devices):
        device = open_pack(url)
        every = url.float_option("poll", DEFAULT_POLL_SECONDS)
        if every <= 0:
            raise ConfigError(f"device URL {url.raw!r}: poll={every:g} must be positive seconds")
        retries = url.int_option("retries", 3)
        if not 0 <= retries <= 10:
            raise ConfigError(f"device URL {url.raw!r}: retries={retries} must be 0..10")
        command = device.default_commands()[0]
        info = DeviceInfo(id=device.id, name=device.id, manufacturer=MANUFACTURERS[url.protocol], model=url.protocol)
        readers.append(
            DeviceReader(
                settings,
                device,
                [Schedule(command, every)],
                info=info,
                metrics=metrics,
                counters=COUNTERS,
                energy_command=command,
                allow_settings=False,
                retries=retries,
                poll_timeout=max(device.poll_budget(command), every * 2),
            )
        )
    return readers


def build_groups(settings: BmsSettings, readers: list[DeviceReader]) -> list[BatteryGroup]:
    """One BatteryGroup per distinct `group=` option among the packs."""
    by_id = {r.device.id: r for r in readers}
    members: dict[str, list[tuple[DeviceReader, float]]] = {}
    for url in parse_device_list(settings.bms_devices):
        group = url.option("group")
        if not group:
            continue
        if not DEVICE_ID_RE.match(group) or group in by_id:
            raise ConfigError(
                f"device URL {url.raw!r}: group={group!r} must match [a-z0-9_]+ and differ from pack names"
            )
        members.setdefault(group, []).append((by_id[url.name], url.float_option("poll", DEFAULT_POLL_SECONDS)))
    return [
        BatteryGroup(settings, gid, [r for r, _ in items], every=min(every for _, every in items))
        for gid, items in members.items()
    ]


async def _cells_discovery(reader: DeviceReader, stop: asyncio.Event) -> None:
    """Re-send discovery once the first reading told the cell count (and firmware, serial, model).

    Discovery goes out on connect, before any poll; per-cell sensors need the array's
    length, which only the first reading knows.
    """
    done = asyncio.ensure_future(reader.ready.wait())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({done, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for task in (done, stopped):
        task.cancel()
    if reader.ready.is_set() and not stop.is_set():
        reader.info = identified(reader.info, {**getattr(reader.device, "device_info", {}), **reader.state})
        reader.publish_discovery()


def identified(info: DeviceInfo, values: Mapping[str, object]) -> DeviceInfo:
    """HA's device page: firmware, serial and model where the pack reported them."""

    def first(*keys: str) -> str | None:
        found = next((values[k] for k in keys if values.get(k) not in (None, "")), None)
        return str(found) if found is not None else None

    return replace(
        info,
        sw_version=first("software_version", "firmware") or info.sw_version,
        hw_version=first("hardware_version") or info.hw_version,
        serial_number=first("serial_number", "device_id") or info.serial_number,
        model=first("model", "product_id") or info.model,
    )


async def serve(settings: BmsSettings, stop: asyncio.Event) -> None:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "bms", __version__)
    readers = build_readers(settings, metrics)
    groups = build_groups(settings, readers)
    for r in readers:
        metrics.bind_mqtt(r.mqtt)
    for g in groups:
        metrics.bind_mqtt(g.mqtt)

    health = HealthServer(
        registry, lambda: readiness(readers), service="bms", host=settings.metrics_host, port=settings.metrics_port
    )
    if settings.metrics_port:
        await health.start()
    log.info("bms reader: %s", ", ".join(r.device.id for r in readers))
    try:
        await asyncio.gather(
            *(r.run(stop) for r in readers),
            *(_cells_discovery(r, stop) for r in readers),
            *(g.run(stop) for g in groups),
        )
    finally:
        await health.stop()


HELP = """Poll battery packs (JK over Bluetooth or RS485, Daly, Victron VE.Direct) and publish them.

Configured from the environment (see .env.example): BMS_DEVICES (required), e.g.
jk02+ble://C8:47:8C:12:34:56?name=pack1,jkserial+serial:///dev/ttyUSB1?name=pack2,
daly+serial:///dev/ttyUSB2?name=pack3,vedirect+serial:///dev/ttyUSB3?name=shunt.
Per device URL: poll=<seconds> (5), timeout=<seconds>, retries=<n> (3), baud=<n>,
keepalive=0 (BLE: free the BMS for the phone app between polls), layout=24|32 (JK BLE),
charge_positive=1 and address=80 (Daly). Shared: MQTT_*, HA_DISCOVERY*, STATE_DIR,
METRICS_PORT, LOG_LEVEL, LOG_FORMAT."""


def run(argv: list[str]) -> int:
    """Entry point of `solarstack run bms` (configuration from the environment)."""
    return run_from_env(argv, prog="solarstack run bms", description=HELP, model=BmsSettings, serve=serve)

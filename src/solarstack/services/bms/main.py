"""Services layer: `solarstack run bms` — every pack in BMS_DEVICES polled and published.

The shared reader wiring (services/wiring.py): one asyncio loop, one generic
`DeviceReader` (services/reader.py) per pack: its poll
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
from collections.abc import Awaitable, Sequence

from solarstack.core.device_url import DEVICE_ID_RE, DeviceURL, parse_device_list
from solarstack.core.errors import ConfigError
from solarstack.core.metrics import ServiceMetrics
from solarstack.core.poller import Schedule
from solarstack.core.runtime import run_from_env
from solarstack.devices.base import Device
from solarstack.services.bms.group import BatteryGroup
from solarstack.services.bms.settings import KINDS, BmsSettings
from solarstack.services.reader import DeviceReader
from solarstack.services.wiring import Plan, open_devices, serve_readers

log = logging.getLogger("solarstack.bms")

DEFAULT_POLL_SECONDS = 5.0


def plan(url: DeviceURL, device: Device) -> Plan:
    """Per pack, from its URL: poll=<seconds>, retries=<n>; the command is the pack's own."""
    every = url.float_option("poll", DEFAULT_POLL_SECONDS)
    retries = url.int_option("retries", 3)
    if not 0 <= retries <= 10:
        raise ConfigError(f"device URL {url.raw!r}: retries={retries} must be 0..10")
    pairs = device.schedule(every, every)
    budget = getattr(device, "poll_budget", None)
    longest = max(budget(c) for c, _ in pairs) if budget is not None else 0.0
    return Plan(
        schedules=[Schedule(command, seconds) for command, seconds in pairs],
        allow_settings=False,
        retries=retries,
        poll_timeout=max(longest, every * 2),
    )


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


async def serve(settings: BmsSettings, stop: asyncio.Event) -> None:
    devices = open_devices(settings.bms_devices, KINDS)

    def groups(readers: list[DeviceReader], metrics: ServiceMetrics) -> Sequence[Awaitable[None]]:
        built = build_groups(settings, readers)
        for g in built:
            metrics.bind_mqtt(g.mqtt)
        return [g.run(stop) for g in built]

    await serve_readers("bms", settings, devices, plan, stop, extra=groups)


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

"""Services layer: a battery group — packs in parallel shown as one system device.

Packs whose device URL says `group=<id>` are also published together as device `<id>`:
currents, powers, capacities and energy counters summed, voltage averaged, SOC
weighted by each pack's full capacity, the lowest and highest cell across all packs,
the hottest temperature, and `alarm` when any pack raises one. Only packs that are
available and whose state is fresh (younger than `stale_after` seconds) count;
`packs_online` says how many did. The group has its own MQTT session and LWT.

`aggregate()` is pure (tests feed it states); `BatteryGroup` only schedules and publishes.
Must not know any wire protocol: it reads the packs' published state by field key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from solarstack import __version__
from solarstack.core import catalog, discovery
from solarstack.core.fields import Field, FieldTable, Kind, Value
from solarstack.core.mqtt import MqttClient, reconnect_delay_for
from solarstack.core.settings import CommonSettings
from solarstack.core.topics import Topics
from solarstack.services.reader import DeviceReader, iso

# Precision follows aggregate(): sums and means kept to 3 decimals, SOC to 1, power in whole watts.
GROUP_FIELDS: FieldTable = (
    Field("pack_count", kind=Kind.INT, diagnostic=True, group="status"),
    Field("packs_online", kind=Kind.INT, group="status"),
    Field("voltage", kind=Kind.FLOAT, unit="V", role="battery_voltage", group="battery", precision=3),
    Field("current", kind=Kind.FLOAT, unit="A", role="battery_current", group="battery", precision=3),
    Field("power", kind=Kind.FLOAT, unit="W", role="battery_power", group="battery", precision=0),
    Field("soc", kind=Kind.FLOAT, unit="%", device_class="battery", role="soc", group="battery", precision=1),
    Field("remaining_capacity", kind=Kind.FLOAT, unit="Ah", group="battery", precision=3),
    Field("full_capacity", kind=Kind.FLOAT, unit="Ah", group="battery", precision=3),
    Field("min_cell_voltage", kind=Kind.FLOAT, unit="V", group="cells", precision=3),
    Field("max_cell_voltage", kind=Kind.FLOAT, unit="V", group="cells", precision=3),
    Field("delta_cell_voltage", kind=Kind.FLOAT, unit="V", group="cells", precision=3),
    # the hottest sensor of any pack; packs report 0.1 °C at best
    Field("max_temperature", kind=Kind.FLOAT, unit="°C", role="temperature", group="temperature", precision=1),
    Field("alarm", kind=Kind.BOOL, device_class="problem", role="warning", group="warnings"),
    Field(
        "battery_energy_charged",
        kind=Kind.FLOAT,
        unit="kWh",
        state_class="total_increasing",
        role="battery_charge_energy",
        group="energy",
        precision=3,
    ),
    Field(
        "battery_energy_discharged",
        kind=Kind.FLOAT,
        unit="kWh",
        state_class="total_increasing",
        role="battery_discharge_energy",
        group="energy",
        precision=3,
    ),
)


def _num(v: Value) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _nums(states: Sequence[Mapping[str, Value]], key: str) -> list[float]:
    return [x for s in states if (x := _num(s.get(key))) is not None]


def aggregate(states: Sequence[Mapping[str, Value]], pack_count: int) -> dict[str, Value]:
    """One group state from the fresh states of its available packs."""
    out: dict[str, Value] = {"pack_count": pack_count, "packs_online": len(states)}
    if not states:
        return out
    for key in ("current", "power", "remaining_capacity", "full_capacity"):
        values = _nums(states, key)
        if values:
            out[key] = round(sum(values), 3)
    volts = _nums(states, "voltage")
    if volts:
        out["voltage"] = round(sum(volts) / len(volts), 3)
    pairs = [(_num(s.get("soc")), _num(s.get("full_capacity"))) for s in states]
    weighted = [(soc, cap) for soc, cap in pairs if soc is not None and cap]
    if weighted and len(weighted) == len(states):
        out["soc"] = round(sum(soc * cap for soc, cap in weighted) / sum(cap for _, cap in weighted), 1)
    else:
        socs = _nums(states, "soc")
        if socs:
            out["soc"] = round(sum(socs) / len(socs), 1)
    lows, highs = _nums(states, "min_cell_voltage"), _nums(states, "max_cell_voltage")
    if lows and highs:
        out["min_cell_voltage"], out["max_cell_voltage"] = min(lows), max(highs)
        out["delta_cell_voltage"] = round(max(highs) - min(lows), 3)
    temps = [
        x
        for s in states
        for k, v in s.items()
        if k.startswith(("temperature", "max_temperature")) and (x := _num(v)) is not None
    ]
    if temps:
        out["max_temperature"] = max(temps)
    out["alarm"] = any(v is True for s in states for k, v in s.items() if k.startswith("alarm"))
    for key in ("battery_energy_charged", "battery_energy_discharged"):
        values = _nums(states, key)
        if len(values) == len(states):  # a missing member would make the total drop: skip instead
            out[key] = round(sum(values), 4)
    return out


class BatteryGroup:
    """Publishes one group from its member readers every `every` seconds."""

    def __init__(
        self, settings: CommonSettings, group_id: str, members: Sequence[DeviceReader], *, every: float
    ) -> None:
        self.settings = settings
        self.id = group_id
        self.members = tuple(members)
        self.every = every
        self.stale_after = every * 3 + 5.0
        self.prefix = settings.mqtt_prefix
        self.topics = Topics(settings.mqtt_prefix, settings.ha_discovery_prefix)
        self.info = discovery.DeviceInfo(id=group_id, name=group_id, manufacturer="solarstack", model="battery group")
        self.mqtt = MqttClient(
            settings,
            f"solarstack-{group_id}",
            will_topic=self.topics.availability(group_id),
            spool_dir=Path(settings.state_dir) / "spool",
            on_connect=self._on_connect,
            reconnect_max_delay=reconnect_delay_for(every),
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last: dict[str, Value] = {}

    def _on_connect(self) -> None:  # paho thread
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.publish_discovery)

    def publish_discovery(self) -> None:
        """The group's catalogue (what the web reads) and its HA discovery, from GROUP_FIELDS."""
        identity = {"id": self.id, "name": self.info.name, "kind": "battery_group", "protocol": None}
        identity |= {"manufacturer": self.info.manufacturer, "model": self.info.model}
        self.mqtt.publish(self.topics.catalog(self.id), catalog.build(identity, GROUP_FIELDS), 1, True)
        messages = discovery.build_discovery(
            self.settings.ha_discovery,
            self.prefix,
            self.settings.ha_discovery_prefix,
            self.info,
            GROUP_FIELDS,
            (),
            origin_version=__version__,
        )
        for topic, payload in messages:
            self.mqtt.publish(topic, payload, qos=1, retain=True)

    def fresh_states(self, now: datetime) -> list[Mapping[str, Value]]:
        states: list[Mapping[str, Value]] = []
        for r in self.members:
            ts = r.state.get("ts")
            if r.poller.available is not True or not isinstance(ts, str):
                continue
            age = (now - datetime.fromisoformat(ts.replace("Z", "+00:00"))).total_seconds()
            if age <= self.stale_after:
                states.append(dict(r.state))
        return states

    def publish(self) -> None:
        now = datetime.now(UTC)
        state = aggregate(self.fresh_states(now), len(self.members))
        state["ts"] = iso(now)
        self.last = state
        self.mqtt.publish(self.topics.state(self.id), json.dumps(state, separators=(",", ":")), 1, True)
        up = "online" if state["packs_online"] else "offline"
        self.mqtt.publish(self.topics.availability(self.id), up, 1, True)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        birth_topic, birth_handler = discovery.on_ha_birth(self.settings.ha_discovery_prefix, self._on_connect)
        self.mqtt.subscribe(birth_topic, birth_handler)
        self.mqtt.start()
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.every)
                if not stop.is_set():
                    self.publish()
        finally:
            await asyncio.to_thread(self.mqtt.stop)

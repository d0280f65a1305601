"""Core layer: Prometheus metrics of a service — link health and readings.

`ServiceMetrics(registry, service)` registers on the CollectorRegistry it is given
(never the global default one, so tests and several services in one process do not
collide):

- link health, updated by the poller (it implements `poller.PollObserver`) and the
  device layer: `solarstack_polls_total{device,command}`,
  `solarstack_poll_errors_total{device,kind}` (kind = error.kind: crc, nak, frame,
  protocol, timeout, disconnect, internal), `solarstack_poll_duration_seconds{device}`,
  `solarstack_reconnects_total{device}`, `solarstack_device_up{device}`;
- MQTT clients bound with `bind_mqtt()`, read at scrape time:
  `solarstack_mqtt_connected{client}`, `solarstack_spool_depth{client}`,
  `solarstack_spool_dropped_total{client}`, `solarstack_mqtt_messages_total{client,path}`
  (path = direct, spooled, replayed), `solarstack_mqtt_reconnects_total{client}`;
- readings, through `export_reading()`, from the field table (one rule for every
  device, no per-field code):

  | field                                   | metric                                                |
  |-----------------------------------------|-------------------------------------------------------|
  | FLOAT/INT with unit U                   | gauge `solarstack_<key>_<UNITS[U].metric_suffix>`, value * to_base |
  | FLOAT/INT without unit                  | gauge `solarstack_<key>`                              |
  | a gauge name ending `_count` `_sum` `_bucket` `_total` `_created` `_info` | + `_value` |
  | state_class total_increasing (energy)   | counter `solarstack_<key>_<suffix>_total` (kWh -> `_joules_total`) |
  | ARRAY                                   | as above, one sample per element, label `cell="01"`…  |
  | BOOL                                    | gauge `solarstack_<key>` 0/1                          |
  | ENUM, TEXT                              | gauge `solarstack_<key>_info{value="<label>"} 1`       |

  Values are kept per (device, field) and rendered by a custom collector at scrape
  time, so a counter's value can be set from the persisted energy total.

Must not do I/O or serve HTTP (core.health does).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from solarstack.core.fields import UNITS, Field, Kind, Reading, Value

PREFIX = "solarstack"
_INVALID = re.compile(r"[^a-zA-Z0-9_]")
#: Suffixes Prometheus gives to histogram, summary, counter and info series; a gauge named
#: like that gets `_value` appended (promtool rejects a gauge `..._count`).
_RESERVED_SUFFIXES = ("_count", "_sum", "_bucket", "_total", "_created", "_info")

#: Poll duration buckets: serial PI30 answers take 0.1 to 1.5 s, BLE up to several seconds.
POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class MqttStatus(Protocol):
    """What `bind_mqtt` reads (core.mqtt.MqttClient has it)."""

    client_id: str

    @property
    def connected(self) -> bool: ...

    def counters(self) -> _MqttCounters: ...


class _MqttCounters(Protocol):
    @property
    def published(self) -> int: ...
    @property
    def spooled(self) -> int: ...
    @property
    def replayed(self) -> int: ...
    @property
    def reconnects(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def spool_depth(self) -> int: ...


@dataclass(frozen=True, slots=True)
class _Sample:
    name: str  # without `_total` for counters
    counter: bool
    help: str
    labels: dict[str, str]
    value: float


def metric_name(field: Field) -> str:
    """The metric a field becomes (without a counter's `_total`)."""
    base = f"{PREFIX}_{_INVALID.sub('_', field.key)}"
    if field.kind in (Kind.ENUM, Kind.TEXT):
        return f"{base}_info"
    name = base
    if field.kind is not Kind.BOOL and field.unit is not None:
        suffix = UNITS[field.unit].metric_suffix
        if suffix and not base.endswith(f"_{suffix}"):
            name = f"{base}_{suffix}"
    if not is_counter(field) and name.endswith(_RESERVED_SUFFIXES):
        # `cell_count` as a gauge would read as a histogram's or counter's series
        name += "_value"
    return name


def is_counter(field: Field) -> bool:
    return field.state_class == "total_increasing" and field.kind in (Kind.FLOAT, Kind.INT)


def _scaled(field: Field, value: float) -> float:
    return float(value) * (UNITS[field.unit].to_base if field.unit else 1.0)


def reading_samples(reading: Reading) -> list[_Sample]:
    """The samples one reading exports (see the table in the module doc)."""
    samples: list[_Sample] = []
    values = reading.values
    for field in reading.fields:
        value: Value = values.get(field.key)
        if value is None:
            continue
        name = metric_name(field)
        labels = {"device": reading.device}
        help_text = field.title + (f" ({field.unit})" if field.unit else "")
        if field.kind is Kind.ARRAY:
            if not isinstance(value, list):
                continue
            for i, item in enumerate(value, start=1):
                if isinstance(item, int | float) and not isinstance(item, bool):
                    sample_labels = {**labels, "cell": f"{i:02d}"}
                    samples.append(_Sample(name, False, help_text, sample_labels, _scaled(field, item)))
        elif field.kind is Kind.BOOL:
            samples.append(_Sample(name, False, help_text, labels, 1.0 if value else 0.0))
        elif field.kind in (Kind.ENUM, Kind.TEXT):
            samples.append(_Sample(name, False, help_text, {**labels, "value": str(value)}, 1.0))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            samples.append(_Sample(name, is_counter(field), help_text, labels, _scaled(field, value)))
    return samples


class ReadingCollector(Collector):
    """Latest samples per device, rendered at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_device: dict[str, list[_Sample]] = {}

    def update(self, reading: Reading) -> None:
        samples = reading_samples(reading)
        with self._lock:
            # merge: a device answers several commands, each reading carries some fields
            current = {(s.name, tuple(sorted(s.labels.items()))): s for s in self._by_device.get(reading.device, [])}
            for s in samples:
                current[(s.name, tuple(sorted(s.labels.items())))] = s
            self._by_device[reading.device] = list(current.values())

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            samples = [s for per_device in self._by_device.values() for s in per_device]
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for s in sorted(samples, key=lambda s: s.name):
            family = families.get(s.name)
            if family is None:
                cls = CounterMetricFamily if s.counter else GaugeMetricFamily
                family = cls(s.name, s.help, labels=sorted(s.labels))
                families[s.name] = family
            family.add_metric([s.labels[k] for k in sorted(s.labels)], s.value)
        return list(families.values())


class _MqttCollector(Collector):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: list[MqttStatus] = []

    def add(self, client: MqttStatus) -> None:
        with self._lock:
            self._clients.append(client)

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            clients = list(self._clients)
        connected = GaugeMetricFamily(f"{PREFIX}_mqtt_connected", "1 while connected to the broker", labels=["client"])
        depth = GaugeMetricFamily(f"{PREFIX}_spool_depth", "Messages waiting in the disk spool", labels=["client"])
        dropped = CounterMetricFamily(
            f"{PREFIX}_spool_dropped", "Oldest spooled messages dropped at the bound", labels=["client"]
        )
        messages = CounterMetricFamily(
            f"{PREFIX}_mqtt_messages", "Messages by path: direct, spooled, replayed", labels=["client", "path"]
        )
        reconnects = CounterMetricFamily(f"{PREFIX}_mqtt_reconnects", "Broker reconnects", labels=["client"])
        for client in clients:
            c = client.counters()
            cid = client.client_id
            connected.add_metric([cid], 1.0 if client.connected else 0.0)
            depth.add_metric([cid], c.spool_depth)
            dropped.add_metric([cid], c.dropped)
            messages.add_metric([cid, "direct"], c.published)
            messages.add_metric([cid, "spooled"], c.spooled)
            messages.add_metric([cid, "replayed"], c.replayed)
            reconnects.add_metric([cid], c.reconnects)
        return [connected, depth, dropped, messages, reconnects]


class ServiceMetrics:
    """All metrics of one service on `registry` (see module doc)."""

    def __init__(self, registry: CollectorRegistry, service: str, version: str = "") -> None:
        self.registry = registry
        self.service = service
        info = Gauge(f"{PREFIX}_service_info", "Service identity", ["service", "version"], registry=registry)
        info.labels(service, version).set(1)
        self.polls = Counter(f"{PREFIX}_polls", "Polls sent to devices", ["device", "command"], registry=registry)
        self.poll_errors = Counter(
            f"{PREFIX}_poll_errors", "Failed poll attempts by kind", ["device", "kind"], registry=registry
        )
        self.poll_duration = Histogram(
            f"{PREFIX}_poll_duration_seconds",
            "Time from request to decoded answer, retries included",
            ["device"],
            buckets=POLL_BUCKETS,
            registry=registry,
        )
        self.reconnects = Counter(f"{PREFIX}_reconnects", "Device link reopened", ["device"], registry=registry)
        self.up = Gauge(f"{PREFIX}_device_up", "1 while the device answers", ["device"], registry=registry)
        self._readings = ReadingCollector()
        self._mqtt = _MqttCollector()
        registry.register(self._readings)
        registry.register(self._mqtt)

    # PollObserver
    def poll_done(self, device: str, command: str, seconds: float) -> None:
        self.polls.labels(device, command).inc()
        self.poll_duration.labels(device).observe(seconds)

    def poll_error(self, device: str, kind: str) -> None:
        self.poll_errors.labels(device, kind).inc()

    def device_up(self, device: str, up: bool) -> None:
        self.up.labels(device).set(1 if up else 0)

    def reconnect(self, device: str) -> None:
        self.reconnects.labels(device).inc()

    def bind_mqtt(self, client: MqttStatus) -> None:
        self._mqtt.add(client)

    def export_reading(self, reading: Reading) -> None:
        self._readings.update(reading)

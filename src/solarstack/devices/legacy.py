"""Devices layer: a legacy house sensor that publishes plain floats on MQTT (the migration path).

Sensors of the old setup (an ESP8266 with a BME280 or DHT22, a Tasmota plug) publish one float
per message on `house/<sensor>/<quantity>`. A URL in HOUSE_DEVICES makes one of them a device of
ours, with its own state, catalogue and Home Assistant discovery:

    legacy+mqtt://house/livingroom?name=livingroom&title=Living room&quantities=temperature+humidity

The address is the sensor's topic; `<address>/<quantity>` messages are taken in, where quantity
is `temperature` (°C; also `temp`), `humidity` (%RH; also `hum`, `rh`) or `pressure` (hPa; also
`press`). `quantities` (`+`-separated, default temperature+humidity) says which fields the catalogue lists;
derived fields (dew point, absolute humidity, sea-level pressure with `altitude=`) come from the
same codec rows as a BME280's (protocols/bme280.py). A value is used for `stale=<s>` (default
600) after it arrived; with nothing fresh a read fails like a silent device (DeviceTimeout) and
the sensor goes offline. Readings are stamped when the latest value arrived.

The device is fed, not polled over a link: the house service subscribes `subscriptions()` on the
reader's MQTT session and calls `feed(topic, payload)` from paho's thread (hence the lock); the
broker's ACL lets the house user read `<address>/+` (mosquitto/entrypoint.sh). Non-numeric
payloads are logged once per topic and ignored.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ConfigError, DeviceTimeout
from solarstack.core.fields import FieldTable, Reading, Value
from solarstack.devices.base import Identity, OneCommand
from solarstack.protocols import bme280 as codec

log = logging.getLogger(__name__)

COMMAND = "read"
QUANTITIES = {
    "temperature": "temperature",
    "temp": "temperature",
    "humidity": "humidity",
    "hum": "humidity",
    "rh": "humidity",
    "pressure": "pressure",
    "press": "pressure",
}
DEFAULT_STALE = 600.0


class LegacySensor(OneCommand):
    protocol = "legacy"
    command = COMMAND
    kind = "house"
    energy_command: str | None = None

    def __init__(
        self,
        device_id: str,
        topic: str,
        quantities: tuple[str, ...] = ("temperature", "humidity"),
        *,
        altitude: float | None = None,
        stale: float = DEFAULT_STALE,
    ) -> None:
        self.id = device_id
        self.topic = topic
        self.quantities = quantities
        self.altitude = altitude
        self.stale = stale
        self._latest: dict[str, tuple[float, float, datetime]] = {}  # quantity -> value, monotonic, ts
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def subscriptions(self) -> tuple[str, ...]:
        return (f"{self.topic}/+",)

    def feed(self, topic: str, payload: bytes) -> None:
        """One message from the sensor's topic (paho's thread)."""
        quantity = QUANTITIES.get(topic.rsplit("/", 1)[-1].lower())
        if quantity is None:
            return
        try:
            value = float(payload.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            if topic not in self._warned:
                self._warned.add(topic)
                log.warning("%s: %s sent %r, not a number: ignored", self.id, topic, payload[:40])
            return
        with self._lock:
            self._latest[quantity] = (value, time.monotonic(), datetime.now(UTC))

    def query(self, command: str) -> Reading:
        self.check_command(command)
        now = time.monotonic()
        with self._lock:
            fresh = {q: (v, ts) for q, (v, at, ts) in self._latest.items() if now - at <= self.stale}
        if not fresh:
            raise DeviceTimeout(f"{self.id}: nothing on {self.topic}/+ for {self.stale:g} s")
        t, rh, hpa = (fresh.get(q, (None, None))[0] for q in ("temperature", "humidity", "pressure"))
        if t is not None:
            values = codec.values(t, hpa, rh, altitude=self.altitude)
        else:
            values = {k: v for k, v in (("humidity", rh), ("pressure", hpa)) if v is not None}
        fields = self.table(command)
        keys = {f.key for f in fields}
        stamp = max(ts for _, ts in fresh.values())
        return Reading(self.id, stamp, {k: v for k, v in values.items() if k in keys}, fields)

    def table(self, command: str) -> FieldTable:
        self.check_command(command)
        q = self.quantities
        rows = [codec.TEMPERATURE] if "temperature" in q else []
        if "humidity" in q:
            rows += [codec.HUMIDITY, *((codec.DEW_POINT, codec.ABSOLUTE_HUMIDITY) if "temperature" in q else ())]
        if "pressure" in q:
            reducible = self.altitude is not None and "temperature" in q
            rows += [codec.PRESSURE, *((codec.SEA_LEVEL_PRESSURE,) if reducible else ())]
        return tuple(rows)

    # -- the Device face ------------------------------------------------------------------------

    def identify(self, values: Mapping[str, Value]) -> Identity:
        return Identity(model=f"MQTT {self.topic}/+")

    def close(self) -> None:
        pass


def open_device(url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False) -> LegacySensor:
    """A legacy sensor from `legacy+mqtt://<topic>?…` (see module doc)."""
    from solarstack.devices.bme280 import number_option

    example = "e.g. legacy+mqtt://house/livingroom?name=livingroom"
    if url.transport != "mqtt":
        raise ConfigError(f"device URL {url.raw!r}: legacy sensors come over mqtt, {example}")
    topic = url.address.strip("/")
    if not topic or any(c in topic for c in "+#") or "//" in topic:
        raise ConfigError(f"device URL {url.raw!r}: give the sensor's topic without wildcards, {example}")
    # `+` (a space once decoded) separates them: a comma would end the URL in HOUSE_DEVICES
    listed = (url.option("quantities") or "temperature humidity").replace("+", " ").replace(";", " ").split()
    quantities = tuple(listed)
    unknown = [q for q in quantities if q not in ("temperature", "humidity", "pressure")]
    if unknown or not quantities:
        raise ConfigError(
            f"device URL {url.raw!r}: quantities={'+'.join(unknown)!r}: use temperature, humidity, pressure"
            " (+-separated)"
        )
    return LegacySensor(
        url.name,
        topic,
        quantities,
        altitude=number_option(url, "altitude"),
        stale=url.float_option("stale", DEFAULT_STALE),
    )

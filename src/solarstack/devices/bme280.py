"""Devices layer: a Bosch BME280 (or BMP280) house sensor on I2C.

Joins the I2C transport (transports/i2c.py) to the codec (protocols/bme280.py) with the
same face as every device (devices/base.py): one read-only command, `read`, a forced-mode
measurement through PyPI's RPi.bme280 (module `bme280`: `load_calibration_params`,
`sample`) over the smbus2 bus object, oversampling x1 for temperature, pressure and humidity
with the filter off — the data sheet's setting for weather monitoring (BST-BME280-DS002 3.5.1;
`?oversampling=2|4|8|16` for less noise at more self-heating). The library's arithmetic is
the data sheet's double-precision one (tests/house/test_bme280_codec.py holds it to ours).

The chip id (0xD0) is read before the calibration: 0x60 BME280 → temperature, humidity,
pressure; 0x56-0x58 BMP280 → temperature and pressure, with one log line that the chip has
no humidity; anything else is a retryable ProtocolError naming bus and address, no answer a
TransportError — retried and counted like any other device's failure. After a failure the
chip is identified again (a re-seated sensor may be another one).

URL options: `name`, `title` (the reader's), `offset=<°C>` added to the temperature (a
board's self-heating; the humidity is re-expressed at the corrected temperature),
`altitude=<m>` (else the service's default) for the sea-level pressure, `oversampling`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ConfigError, FrameError, ProtocolError, SolarstackError
from solarstack.core.fields import FieldTable, Reading, Value
from solarstack.devices.base import Identity, OneCommand
from solarstack.protocols import bme280 as codec
from solarstack.transports.i2c import I2CDevice, open_i2c

log = logging.getLogger(__name__)

COMMAND = "read"
MANUFACTURER = "Bosch Sensortec"
#: RPi.bme280's oversampling codes (osrs_x register values) by factor
OVERSAMPLING = {1: 1, 2: 2, 4: 3, 8: 4, 16: 5}


class Bme280Device(OneCommand):
    protocol = "bme280"
    command = COMMAND
    kind = "house"
    energy_command: str | None = None

    def __init__(
        self,
        device_id: str,
        i2c: I2CDevice,
        *,
        offset: float = 0.0,
        altitude: float | None = None,
        oversampling: int = 1,
    ) -> None:
        self.id = device_id
        self.i2c = i2c
        self.offset = offset
        self.altitude = altitude
        self.oversampling = OVERSAMPLING[oversampling]
        self.model: str | None = None  # "BME280" / "BMP280" once the chip said so
        self._params: Any = None  # the library's calibration (a dict of dig_*)
        self._told_no_humidity = False
        self._lock = threading.Lock()  # identify() and query() may come from two threads

    # -- the chip -----------------------------------------------------------------------------

    def _detect(self) -> str:
        """Read the chip id and the calibration once (again after a failure)."""
        if self.model is not None and self._params is not None:
            return self.model
        import bme280 as library  # RPi.bme280

        chip = self.i2c.read(codec.REG_CHIP_ID, 1)[0]
        model = codec.chip_model(chip)
        if model is None:
            self.i2c.close()
            raise ProtocolError(
                f"{self.id}: {self.i2c.where} answers with chip id {chip:#04x}, not a BME280 (0x60) or"
                " BMP280 (0x56-0x58): check the address (0x76 or 0x77) and what is wired there"
            )
        if model == "BMP280" and not self._told_no_humidity:
            log.warning(
                "%s: %s is a BMP280 (chip id %#04x), often sold as a BME280: it has no humidity sensor;"
                " publishing temperature and pressure only",
                self.id,
                self.i2c.where,
                chip,
            )
            self._told_no_humidity = True
        try:
            self._params = library.load_calibration_params(self.i2c.open(), self.i2c.address)
        except OSError as exc:
            raise self.i2c.failed(exc) from None
        self.model = model
        return model

    def _forget(self) -> None:
        self.model, self._params = None, None

    def identify(self, values: Mapping[str, Value]) -> Identity:
        """Maker and model (BME280 / BMP280), asked of the chip once; never raises."""
        with self._lock:
            try:
                self._detect()
            except SolarstackError:
                self._forget()
        return Identity(manufacturer=MANUFACTURER, model=self.model)

    def query(self, command: str) -> Reading:
        self.check_command(command)
        import bme280 as library  # RPi.bme280

        with self._lock:
            try:
                model = self._detect()
                sample = library.sample(self.i2c.open(), self.i2c.address, self._params, self.oversampling)
            except OSError as exc:
                self._forget()
                raise self.i2c.failed(exc) from None
            except SolarstackError:
                self._forget()
                raise
        ts = datetime.now(UTC)
        raw = sample.uncompensated
        if raw.temperature == codec.SKIPPED_20:
            self._forget()  # a chip reset under us (measurements off): set it up again
            raise FrameError(f"{self.id}: {self.i2c.where} skipped the temperature measurement (0x80000)")
        humid = model == "BME280"
        rh = float(sample.humidity) if humid and raw.humidity != codec.SKIPPED_16 else None
        hpa = float(sample.pressure) if raw.pressure != codec.SKIPPED_20 else None
        values = codec.values(float(sample.temperature), hpa, rh, offset=self.offset, altitude=self.altitude)
        return Reading(self.id, ts, values, self.table(command))

    # -- the Device face ------------------------------------------------------------------------

    def table(self, command: str) -> FieldTable:
        self.check_command(command)
        return codec.table(humidity=self.model != "BMP280", altitude=self.altitude is not None)

    def close(self) -> None:
        with self._lock:
            self.i2c.close()


def number_option(url: DeviceURL, key: str) -> float | None:
    """A finite number from the URL (any sign), or None when absent; ConfigError otherwise."""
    raw = url.option(key)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"device URL {url.raw!r}: {key}={raw!r} is not a number")
    return value


def open_device(url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False) -> Bme280Device:
    """A BME280 from `bme280+i2c://<bus>/<address>?…` (nothing is touched until the first read;
    an I2C exchange is bounded by the kernel's own timeout, so `timeout` has nothing to set)."""
    if url.transport != "i2c":
        raise ConfigError(f"device URL {url.raw!r}: bme280 is read over i2c, e.g. bme280+i2c://1/0x76")
    offset = number_option(url, "offset") or 0.0
    if abs(offset) > 20:
        raise ConfigError(f"device URL {url.raw!r}: offset={offset:g} °C is more than ±20: give the correction in °C")
    height = number_option(url, "altitude")
    if height is not None and not -500 <= height <= 9000:
        raise ConfigError(f"device URL {url.raw!r}: altitude={height:g} m is not between -500 and 9000")
    factor = url.int_option("oversampling", 1)
    if factor not in OVERSAMPLING:
        raise ConfigError(f"device URL {url.raw!r}: oversampling={factor} must be one of 1, 2, 4, 8, 16")
    return Bme280Device(url.name, open_i2c(url), offset=offset, altitude=height, oversampling=factor)

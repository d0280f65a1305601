"""Protocols layer: Bosch BME280 / BMP280 register map and compensation, pure codec.

Facts: the Bosch BME280 data sheet (BST-BME280-DS002, rev. 1.6) and PROTOCOLS.md "Bosch
BME280". No I/O, no logging: the device layer (devices/bme280.py) reads the chip.

Registers (data sheet 5.3 "Memory map", 5.4 "Register description")::

    0x88 .. 0xA1  calib00..calib25  dig_T1..dig_P9 (u16/s16 little-endian), 0xA1 dig_H1 (u8)
    0xD0          id                0x60 BME280; 0x56, 0x57 (samples), 0x58 BMP280 (5.4.1)
    0xE0          reset             write 0xB6 = power-on reset (5.4.2)
    0xE1 .. 0xE7  calib26..calib32  dig_H2 s16, dig_H3 u8, dig_H4 / dig_H5 s12 sharing 0xE5, dig_H6 s8
    0xF2          ctrl_hum          osrs_h[2:0], takes effect after a write to ctrl_meas (5.4.3)
    0xF3          status            bit 3 measuring, bit 0 im_update (NVM copy) (5.4.4)
    0xF4          ctrl_meas         osrs_t[7:5] osrs_p[4:2] mode[1:0], 01 = forced (5.4.5)
    0xF5          config            t_sb, filter, spi3w_en (5.4.6)
    0xF7 .. 0xFE  data              press 20 bit, temp 20 bit, hum 16 bit, MSB first (5.4.7-5.4.9)

Trimming parameters: data sheet 4.2.2, Table 16 (dig_H4 = 0xE4 << 4 | 0xE5[3:0], dig_H5 =
0xE6 << 4 | 0xE5[7:4], both signed 12 bit). Compensation: the double-precision formulas of
data sheet 8.1 (appendix A), including the cast of t_fine to a 32-bit integer that the
pressure and humidity formulas then use. A skipped measurement reads 0x80000 (pressure,
temperature) or 0x8000 (humidity) and gives no value.

A dump for `solarstack decode --protocol bme280 --hex …` is the registers read in three
bursts and joined: 0x88-0xA1 (26 bytes), 0xE1-0xE7 (7), 0xF7-0xFE (8) = 41 bytes; a BMP280,
which has no humidity block, gives 26 + 8 = 34 bytes. `--command altitude=<m>` adds the
sea-level pressure the reader publishes when told its altitude.

Derived fields (computed once here, published as fields of their own): dew point and
absolute humidity from the Magnus formula over water with Sonntag's constants (a = 17.62,
b = 243.12 °C, 6.112 hPa), sea-level pressure by the barometric formula with the station
temperature (0.0065 K/m lapse rate, exponent 5.257). A temperature offset (self-heating of a
board) corrects the temperature and re-expresses the relative humidity at the corrected
temperature (same vapour pressure), so dew point and absolute humidity do not move with it.
"""

from __future__ import annotations

import math
import struct
from typing import NamedTuple

from solarstack.core.errors import ConfigError, FrameError
from solarstack.core.fields import Field, FieldTable, Kind, Value

REG_CALIB_TP = 0x88
CALIB_TP_LEN = 26
REG_CHIP_ID = 0xD0
REG_RESET = 0xE0
RESET_WORD = 0xB6
REG_CALIB_H = 0xE1
CALIB_H_LEN = 7
REG_CTRL_HUM = 0xF2
REG_STATUS = 0xF3
REG_CTRL_MEAS = 0xF4
REG_CONFIG = 0xF5
REG_DATA = 0xF7
DATA_LEN = 8
STATUS_MEASURING = 0x08
STATUS_IM_UPDATE = 0x01

CHIP_BME280 = 0x60
#: BMP280: 0x56 / 0x57 engineering samples, 0x58 mass production (BMP280 data sheet 4.3.1)
CHIP_BMP280 = (0x56, 0x57, 0x58)
SKIPPED_20 = 0x80000
SKIPPED_16 = 0x8000

BME280_DUMP = CALIB_TP_LEN + CALIB_H_LEN + DATA_LEN  # 41
BMP280_DUMP = CALIB_TP_LEN + DATA_LEN  # 34


def chip_model(chip_id: int) -> str | None:
    """ "BME280", "BMP280" or None (not a chip of this family)."""
    if chip_id == CHIP_BME280:
        return "BME280"
    return "BMP280" if chip_id in CHIP_BMP280 else None


class Calibration(NamedTuple):
    """The trimming parameters (data sheet 4.2.2, Table 16); H* are 0 on a BMP280."""

    T1: int
    T2: int
    T3: int
    P1: int
    P2: int
    P3: int
    P4: int
    P5: int
    P6: int
    P7: int
    P8: int
    P9: int
    H1: int = 0
    H2: int = 0
    H3: int = 0
    H4: int = 0
    H5: int = 0
    H6: int = 0


def parse_calibration(tp: bytes, h: bytes | None = None) -> Calibration:
    """Calibration from the 0x88-0xA1 block (26 bytes) and, on a BME280, 0xE1-0xE7 (7)."""
    if len(tp) != CALIB_TP_LEN:
        raise FrameError(f"calibration block 0x88-0xA1 is {CALIB_TP_LEN} bytes, got {len(tp)}")
    t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9 = struct.unpack("<HhhHhhhhhhhh", tp[:24])
    if h is None:
        return Calibration(t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9)
    if len(h) != CALIB_H_LEN:
        raise FrameError(f"calibration block 0xE1-0xE7 is {CALIB_H_LEN} bytes, got {len(h)}")
    h2, h3, e4, e5, e6, h6 = struct.unpack("<hBbBbb", h)
    # dig_H4 / dig_H5: 12-bit signed values sharing register 0xE5 (the MSB bytes carry the sign)
    h4 = (e4 << 4) | (e5 & 0x0F)
    h5 = (e6 << 4) | (e5 >> 4)
    return Calibration(t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9, tp[25], h2, h3, h4, h5, h6)


def calibration_bytes(cal: Calibration) -> tuple[bytes, bytes]:
    """The two register blocks a chip with `cal` holds (the inverse of parse_calibration)."""
    tp = struct.pack("<HhhHhhhhhhhh", *cal[:12]) + bytes((0, cal.H1 & 0xFF))
    e5 = ((cal.H5 & 0x0F) << 4) | (cal.H4 & 0x0F)
    h = struct.pack("<hBbBbb", cal.H2, cal.H3, cal.H4 >> 4, e5, cal.H5 >> 4, cal.H6)
    return tp, h


class Adc(NamedTuple):
    """Raw measurements from 0xF7-0xFE; None where the measurement was skipped."""

    pressure: int | None
    temperature: int | None
    humidity: int | None


def parse_adc(block: bytes) -> Adc:
    """The 8 data registers 0xF7-0xFE: press_msb/lsb/xlsb[7:4], temp the same, hum_msb/lsb."""
    if len(block) != DATA_LEN:
        raise FrameError(f"data block 0xF7-0xFE is {DATA_LEN} bytes, got {len(block)}")
    p = (block[0] << 12) | (block[1] << 4) | (block[2] >> 4)
    t = (block[3] << 12) | (block[4] << 4) | (block[5] >> 4)
    h = (block[6] << 8) | block[7]
    return Adc(None if p == SKIPPED_20 else p, None if t == SKIPPED_20 else t, None if h == SKIPPED_16 else h)


def adc_bytes(adc: Adc) -> bytes:
    """The data registers holding `adc` (skipped measurements as the chip shows them)."""
    p = SKIPPED_20 if adc.pressure is None else adc.pressure
    t = SKIPPED_20 if adc.temperature is None else adc.temperature
    h = SKIPPED_16 if adc.humidity is None else adc.humidity
    return bytes((p >> 12, (p >> 4) & 0xFF, (p & 0x0F) << 4, t >> 12, (t >> 4) & 0xFF, (t & 0x0F) << 4)) + bytes(
        (h >> 8, h & 0xFF)
    )


# --- compensation: data sheet 8.1, double precision -------------------------------------------


def compensate_temperature(cal: Calibration, adc_t: int) -> tuple[float, int]:
    """(°C, t_fine). t_fine is truncated to an integer, as the data sheet's BME280_S32_t cast."""
    var1 = (adc_t / 16384.0 - cal.T1 / 1024.0) * cal.T2
    var2 = (adc_t / 131072.0 - cal.T1 / 8192.0) ** 2 * cal.T3
    return (var1 + var2) / 5120.0, int(var1 + var2)


def compensate_pressure(cal: Calibration, adc_p: int, t_fine: int) -> float:
    """hPa (the data sheet's Pa / 100); 0.0 where the formula would divide by zero."""
    var1 = t_fine / 2.0 - 64000.0
    var2 = var1 * var1 * cal.P6 / 32768.0
    var2 = var2 + var1 * cal.P5 * 2.0
    var2 = var2 / 4.0 + cal.P4 * 65536.0
    var1 = (cal.P3 * var1 * var1 / 524288.0 + cal.P2 * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * cal.P1
    if var1 == 0.0:
        return 0.0
    p = 1048576.0 - adc_p
    p = (p - var2 / 4096.0) * 6250.0 / var1
    var1 = cal.P9 * p * p / 2147483648.0
    var2 = p * cal.P8 / 32768.0
    return (p + (var1 + var2 + cal.P7) / 16.0) / 100.0


def compensate_humidity(cal: Calibration, adc_h: int, t_fine: int) -> float:
    """%RH, clamped to 0..100 as the data sheet does."""
    h = t_fine - 76800.0
    h = (adc_h - (cal.H4 * 64.0 + cal.H5 / 16384.0 * h)) * (
        cal.H2 / 65536.0 * (1.0 + cal.H6 / 67108864.0 * h * (1.0 + cal.H3 / 67108864.0 * h))
    )
    h = h * (1.0 - cal.H1 * h / 524288.0)
    return min(100.0, max(0.0, h))


# --- derived quantities -----------------------------------------------------------------------

_MAGNUS_A = 17.62
_MAGNUS_B = 243.12  # °C
_MAGNUS_E0 = 6.112  # hPa


def vapour_pressure_saturated(celsius: float) -> float:
    """hPa over water (Magnus, Sonntag 1990 constants)."""
    return _MAGNUS_E0 * math.exp(_MAGNUS_A * celsius / (_MAGNUS_B + celsius))


def dew_point(celsius: float, rh: float) -> float | None:
    """°C; None at 0 %RH (no dew point)."""
    if rh <= 0.0:
        return None
    gamma = math.log(rh / 100.0) + _MAGNUS_A * celsius / (_MAGNUS_B + celsius)
    return _MAGNUS_B * gamma / (_MAGNUS_A - gamma)


def absolute_humidity(celsius: float, rh: float) -> float:
    """g/m³ of water vapour: e / (R_v T), R_v = 461.5 J/(kg K)."""
    e_pa = rh / 100.0 * vapour_pressure_saturated(celsius) * 100.0
    return e_pa / (461.5 * (celsius + 273.15)) * 1000.0


def sea_level_pressure(hpa: float, celsius: float, altitude_m: float) -> float:
    """hPa reduced to sea level from the station pressure, temperature and altitude."""
    factor: float = (1.0 - 0.0065 * altitude_m / (celsius + 0.0065 * altitude_m + 273.15)) ** -5.257
    return hpa * factor


def station_pressure(sea_level_hpa: float, celsius: float, altitude_m: float) -> float:
    """The inverse of sea_level_pressure (the simulator turns a weather pressure into a reading)."""
    factor: float = (1.0 - 0.0065 * altitude_m / (celsius + 0.0065 * altitude_m + 273.15)) ** -5.257
    return sea_level_hpa / factor


# --- the field table --------------------------------------------------------------------------


def _f(key: str, unit: str, role: str | None = None, precision: int = 1, **kw: object) -> Field:
    return Field(key, 0, Kind.FLOAT, unit, group="climate", role=role, precision=precision, **kw)  # type: ignore[arg-type]


TEMPERATURE = _f("temperature", "°C", "indoor_temperature", 2)
HUMIDITY = _f("humidity", "%", "humidity", 1, device_class="humidity")
PRESSURE = _f("pressure", "hPa", "pressure", 2)
DEW_POINT = _f("dew_point", "°C", None, 1)
ABSOLUTE_HUMIDITY = _f("absolute_humidity", "g/m³", None, 2)
SEA_LEVEL_PRESSURE = _f("sea_level_pressure", "hPa", None, 1, label="Sea-level pressure")

#: What one reading publishes, by chip and by whether the altitude is known.
BME280_FIELDS: FieldTable = (TEMPERATURE, HUMIDITY, PRESSURE, DEW_POINT, ABSOLUTE_HUMIDITY)
BMP280_FIELDS: FieldTable = (TEMPERATURE, PRESSURE)


def table(*, humidity: bool = True, altitude: bool = False) -> FieldTable:
    """The fields of a BME280 (`humidity`) or a BMP280, with sea-level pressure when an altitude is set."""
    return (BME280_FIELDS if humidity else BMP280_FIELDS) + ((SEA_LEVEL_PRESSURE,) if altitude else ())


def values(
    celsius: float,
    hpa: float | None,
    rh: float | None,
    *,
    offset: float = 0.0,
    altitude: float | None = None,
) -> dict[str, Value]:
    """The published values from compensated ones (see the module doc for the offset rule).
    `rh` None: a BMP280 (no humidity fields at all)."""
    t = celsius + offset
    out: dict[str, Value] = {"temperature": round(t, 2)}
    if rh is not None:
        # same vapour pressure, expressed relative to the corrected temperature
        corrected = min(100.0, rh * vapour_pressure_saturated(celsius) / vapour_pressure_saturated(t))
        dp = dew_point(t, corrected)
        out["humidity"] = round(corrected, 2)
        out["dew_point"] = None if dp is None else round(dp, 2)
        out["absolute_humidity"] = round(absolute_humidity(t, corrected), 3)
    if hpa is not None:
        out["pressure"] = round(hpa, 3)
        if altitude is not None:
            out["sea_level_pressure"] = round(sea_level_pressure(hpa, t, altitude), 2)
    return out


def decode(dump: bytes, *, altitude: float | None = None, offset: float = 0.0) -> tuple[dict[str, Value], FieldTable]:
    """A register dump (41 bytes BME280, 34 bytes BMP280; see the module doc) -> values, fields."""
    if len(dump) == BME280_DUMP:
        cal = parse_calibration(dump[:CALIB_TP_LEN], dump[CALIB_TP_LEN : CALIB_TP_LEN + CALIB_H_LEN])
        humid = True
    elif len(dump) == BMP280_DUMP:
        cal, humid = parse_calibration(dump[:CALIB_TP_LEN]), False
    else:
        raise FrameError(
            f"a BME280 dump is {BME280_DUMP} bytes (0x88-0xA1, 0xE1-0xE7, 0xF7-0xFE), a BMP280 one"
            f" {BMP280_DUMP} (no 0xE1-0xE7); got {len(dump)}"
        )
    adc = parse_adc(dump[-DATA_LEN:])
    if adc.temperature is None:
        raise FrameError("temperature measurement skipped (0x80000): nothing can be compensated without it")
    celsius, t_fine = compensate_temperature(cal, adc.temperature)
    hpa = None if adc.pressure is None else compensate_pressure(cal, adc.pressure, t_fine)
    rh = None if not humid or adc.humidity is None else compensate_humidity(cal, adc.humidity, t_fine)
    fields = table(humidity=humid, altitude=altitude is not None)
    return values(celsius, hpa, rh, offset=offset, altitude=altitude), fields


class Codec:
    """The CLI's face of this codec (protocols/catalog.py): decode a register dump."""

    def encode(self, command: str) -> bytes:
        raise ConfigError("bme280 is read register by register over I2C: there is no request frame to encode")

    def decode(self, frame: bytes, command: str | None) -> tuple[dict[str, Value], FieldTable]:
        altitude = None
        if command:
            key, _, raw = command.partition("=")
            try:
                if key.strip().lower() != "altitude":
                    raise ValueError
                altitude = float(raw)
            except ValueError:
                raise ConfigError(f"--command {command!r}: bme280 takes altitude=<metres>, e.g. altitude=350") from None
        return decode(frame, altitude=altitude)

    def describe(self) -> list[tuple[str, str, str]]:
        return [
            (
                "query",
                "read",
                "forced-mode measurement: temperature, humidity (BME280), pressure, derived values"
                " (decode --command altitude=<m> adds the sea-level pressure)",
            )
        ]

"""Simulators: a fake I2C bus with a BME280 (or BMP280) on it, at the smbus2 level.

There is no i2c-stub here, so the fake sits at the lowest layer: an object with the smbus2
`SMBus` methods RPi.bme280 calls (read_byte_data, read_word_data, read_i2c_block_data,
write_byte_data, close) that answers like the chip's register map (BST-BME280-DS002 5.3):
chip id 0xD0, both calibration blocks (0x88-0xA1, 0xE1-0xE7), soft reset 0xE0 ← 0xB6,
ctrl_hum 0xF2 latched by a write to ctrl_meas 0xF4, status 0xF3, config 0xF5, and the data
registers 0xF7-0xFE. A write of forced (01) or normal (11) mode to ctrl_meas measures: the
plant model's indoor temperature, humidity and (sea-level) pressure, brought to the
configured altitude, are turned into the ADC counts the calibration maps back to them
(bisection on the codec's data-sheet formulas), so the library and everything above it run
unchanged. A measurement with oversampling 0 is skipped (0x80000 / 0x8000), as on the chip.

Device URL options (transports/i2c.py hands them here): `fake=plant` (calibration of a real
chip, DEFAULT_DUMP) or `fake=<file>` (a register dump: hex bytes in the decode layout,
0x88-0xA1 + 0xE1-0xE7 + 0xF7-0xFE, 41 bytes; 34 without 0xE1-0xE7 for a BMP280; `#` starts a
comment), `fake_chip=<id>` (0x60; 0x58 BMP280; anything else to test a wrong chip),
`fake_absent=1` (nothing answers: every transfer fails with EREMOTEIO, as a missing sensor),
`altitude=<m>` (the station's height, as the reader is told), `fake_seed`, `fake_speed`.
For `solarstack dev` / `make demo` and tests only.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from pathlib import Path

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ConfigError
from solarstack.protocols import bme280 as codec
from solarstack.sim.plant import Plant

#: A real chip's trimming parameters, as hard-coded with a logged raw reading
#: (`2016-01-29_02:56:47,274239,527824,29244`: adc_P, adc_T, adc_H) in a public C test program
#: of BME280 compensation; tests/house/dumps/ holds them as a register dump.
DEFAULT_CALIBRATION = codec.Calibration(
    T1=28224, T2=26110, T3=50,
    P1=37298, P2=-10829, P3=3024, P4=11341, P5=-10, P6=-7, P7=9900, P8=-10230, P9=4285,
    H1=75, H2=357, H3=0, H4=322, H5=0, H6=30,
)  # fmt: skip

#: (°C, %RH, hPa at the sensor) a measurement reports
Climate = Callable[[], tuple[float, float, float]]


def parse_dump(text: str) -> bytes:
    """Hex bytes of a register dump file (whitespace, `0x`, `:` and `#` comments allowed)."""
    cleaned = " ".join(line.split("#", 1)[0] for line in text.splitlines())
    return bytes.fromhex(cleaned.replace("0x", " ").replace(":", " ").replace(",", " "))


def _search(lo: int, hi: int, value: Callable[[int], float], target: float) -> int:
    """The count in [lo, hi] whose value is nearest `target` (value monotonic in the count)."""
    rising = value(hi) > value(lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (value(mid) < target) == rising:
            lo = mid
        else:
            hi = mid
    return lo if abs(value(lo) - target) <= abs(value(hi) - target) else hi


def adc_for(cal: codec.Calibration, celsius: float, rh: float, hpa: float) -> codec.Adc:
    """The raw counts a chip with `cal` reads at these conditions (data sheet 8.1 inverted)."""
    adc_t = _search(0, 0xFFFFF - 1, lambda n: codec.compensate_temperature(cal, n)[0], celsius)
    t_fine = codec.compensate_temperature(cal, adc_t)[1]
    adc_p = _search(0, 0xFFFFF - 1, lambda n: codec.compensate_pressure(cal, n, t_fine), hpa)
    adc_h = _search(0, 0xFFFF - 1, lambda n: codec.compensate_humidity(cal, n, t_fine), rh) if cal.H2 else 0
    return codec.Adc(adc_p, adc_t, adc_h)


class FakeChip:
    """The register map of one BME280 / BMP280 (see module doc)."""

    def __init__(self, cal: codec.Calibration, climate: Climate, *, chip_id: int = codec.CHIP_BME280) -> None:
        self.cal = cal
        self.chip_id = chip_id
        self.climate = climate
        self.humid = chip_id == codec.CHIP_BME280
        self.regs = bytearray(256)
        self.measurements = 0
        self._ctrl_hum_latched = 0
        self.reset()

    def reset(self) -> None:
        """Power-on reset: calibration and id as from the NVM, control 0, data 'skipped'."""
        tp, h = codec.calibration_bytes(self.cal)
        self.regs[:] = bytes(256)
        self.regs[codec.REG_CALIB_TP : codec.REG_CALIB_TP + codec.CALIB_TP_LEN] = tp
        if self.humid:
            self.regs[codec.REG_CALIB_H : codec.REG_CALIB_H + codec.CALIB_H_LEN] = h
        self.regs[codec.REG_CHIP_ID] = self.chip_id
        self.regs[codec.REG_DATA : codec.REG_DATA + codec.DATA_LEN] = codec.adc_bytes(codec.Adc(None, None, None))
        self._ctrl_hum_latched = 0

    def write(self, register: int, value: int) -> None:
        if register == codec.REG_RESET:
            if value == codec.RESET_WORD:
                self.reset()
            return
        if register in (codec.REG_CTRL_HUM, codec.REG_CONFIG):
            self.regs[register] = value & 0xFF
        elif register == codec.REG_CTRL_MEAS:
            self.regs[register] = value & 0xFF
            self._ctrl_hum_latched = self.regs[codec.REG_CTRL_HUM] & 0x07  # 5.4.3: effective now
            if value & 0x03:
                self.measure()
        # other registers are read-only: the chip ignores writes to them

    def measure(self) -> None:
        meas = self.regs[codec.REG_CTRL_MEAS]
        osrs_t, osrs_p = meas >> 5, (meas >> 2) & 0x07
        celsius, rh, hpa = self.climate()
        adc = adc_for(self.cal if self.humid else self.cal._replace(H2=0), celsius, rh, hpa)
        self.regs[codec.REG_DATA : codec.REG_DATA + codec.DATA_LEN] = codec.adc_bytes(
            codec.Adc(
                adc.pressure if osrs_p else None,
                adc.temperature if osrs_t else None,
                adc.humidity if self.humid and self._ctrl_hum_latched else None,
            )
        )
        self.measurements += 1
        if meas & 0x03 == 0x01:  # forced mode: back to sleep once the measurement is done
            self.regs[codec.REG_CTRL_MEAS] = meas & ~0x03


class FakeBus:
    """An smbus2 `SMBus` stand-in with chips at addresses; a missing address does not ACK."""

    def __init__(self, chips: dict[int, FakeChip] | None = None) -> None:
        self.chips = dict(chips or {})
        self._lock = threading.Lock()
        self.closed = False

    def _chip(self, address: int) -> FakeChip:
        chip = self.chips.get(address)
        if chip is None or self.closed:
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        return chip

    def read_byte_data(self, i2c_addr: int, register: int) -> int:
        with self._lock:
            return self._chip(i2c_addr).regs[register & 0xFF]

    def read_word_data(self, i2c_addr: int, register: int) -> int:
        with self._lock:
            regs = self._chip(i2c_addr).regs
            return regs[register & 0xFF] | regs[(register + 1) & 0xFF] << 8

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        with self._lock:
            regs = self._chip(i2c_addr).regs
            return [regs[(register + i) & 0xFF] for i in range(length)]

    def write_byte_data(self, i2c_addr: int, register: int, value: int) -> None:
        with self._lock:
            self._chip(i2c_addr).write(register & 0xFF, value)

    def close(self) -> None:
        self.closed = True


def plant_climate(plant: Plant, altitude: float = 0.0) -> Climate:
    """The plant's indoor climate, its sea-level pressure brought to the sensor's altitude."""

    def climate() -> tuple[float, float, float]:
        s = plant.step()
        return (
            s.indoor_celsius,
            s.indoor_humidity_percent,
            codec.station_pressure(s.pressure_hpa, s.indoor_celsius, altitude),
        )

    return climate


def calibration_from(url: DeviceURL, source: str) -> tuple[codec.Calibration, int]:
    """Calibration and chip id from `fake=plant` or a dump file (34 bytes: a BMP280)."""
    if source == "plant":
        return DEFAULT_CALIBRATION, codec.CHIP_BME280
    try:
        dump = parse_dump(Path(source).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"device URL {url.raw!r}: fake={source!r} is not a readable register dump ({exc})") from None
    if len(dump) == codec.BME280_DUMP:
        return codec.parse_calibration(dump[:26], dump[26:33]), codec.CHIP_BME280
    if len(dump) == codec.BMP280_DUMP:
        return codec.parse_calibration(dump[:26]), codec.CHIP_BMP280[-1]
    raise ConfigError(
        f"device URL {url.raw!r}: fake={source!r} holds {len(dump)} bytes, not 41 (BME280) or 34 (BMP280)"
    )


def opener(url: DeviceURL, source: str) -> Callable[[int], FakeBus]:
    """What transports/i2c.py calls for `?fake=`: opens a fresh fake bus per (re)open."""
    cal, chip_id = calibration_from(url, source)
    chip_id = url.int_option("fake_chip", chip_id, base=16) if url.option("fake_chip") else chip_id
    absent = (url.option("fake_absent") or "0").lower() in ("1", "true", "yes", "on")
    altitude = float(url.option("altitude") or 0.0)
    plant = Plant(seed=url.int_option("fake_seed", 1), speed=url.float_option("fake_speed", 1.0))
    _, _, addr = url.address.strip("/").partition("/")
    address = int(addr, 0)

    def open_bus(bus: int) -> FakeBus:
        if absent:
            return FakeBus()
        return FakeBus({address: FakeChip(cal, plant_climate(plant, altitude), chip_id=chip_id)})

    return open_bus

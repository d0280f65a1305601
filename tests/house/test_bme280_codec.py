"""BME280 / BMP280 compensation, held to the data sheet and to the library the reader uses.

Authorities: the Bosch data sheets' double-precision formulas (BST-BME280-DS002 8.1, written
out again below as `reference_*`, independently of protocols/bme280.py), the BMP280 data
sheet's worked example (25.08 °C, 100653.27 Pa), the data sheet's integer formulas (4.2.3,
a different arithmetic path), and a real chip's registers (dumps/bme280_real_chip.hex, with
its source). RPi.bme280 (what devices/bme280.py reads with) is checked against the same
reference through the fake bus, which serves the dumps' registers exactly as a chip would."""

from __future__ import annotations

import json
import math
from pathlib import Path

import bme280 as library  # RPi.bme280
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solarstack.core.errors import FrameError
from solarstack.protocols import bme280 as codec
from solarstack.sim.i2c import FakeBus, FakeChip, parse_dump

DUMPS = Path(__file__).parent / "dumps"
REAL = parse_dump((DUMPS / "bme280_real_chip.hex").read_text())
BMP = parse_dump((DUMPS / "bmp280_datasheet.hex").read_text())


# --- the data sheet's double-precision formulas (8.1), transcribed for the test -----------------
def reference_t(c: codec.Calibration, adc_t: int) -> tuple[float, int]:
    var1 = (float(adc_t) / 16384.0 - float(c.T1) / 1024.0) * float(c.T2)
    var2 = (float(adc_t) / 131072.0 - float(c.T1) / 8192.0) * (float(adc_t) / 131072.0 - float(c.T1) / 8192.0)
    var2 = var2 * float(c.T3)
    t_fine = int(var1 + var2)  # (BME280_S32_t)(var1 + var2): truncation toward zero
    return (var1 + var2) / 5120.0, t_fine


def reference_p_pa(c: codec.Calibration, adc_p: int, t_fine: int) -> float:
    var1 = float(t_fine) / 2.0 - 64000.0
    var2 = var1 * var1 * float(c.P6) / 32768.0
    var2 = var2 + var1 * float(c.P5) * 2.0
    var2 = (var2 / 4.0) + (float(c.P4) * 65536.0)
    var1 = (float(c.P3) * var1 * var1 / 524288.0 + float(c.P2) * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * float(c.P1)
    if var1 == 0.0:
        return 0.0
    p = 1048576.0 - float(adc_p)
    p = (p - (var2 / 4096.0)) * 6250.0 / var1
    var1 = float(c.P9) * p * p / 2147483648.0
    var2 = p * float(c.P8) / 32768.0
    return p + (var1 + var2 + float(c.P7)) / 16.0


def reference_h(c: codec.Calibration, adc_h: int, t_fine: int) -> float:
    var_h = float(t_fine) - 76800.0
    var_h = (adc_h - (float(c.H4) * 64.0 + float(c.H5) / 16384.0 * var_h)) * (
        float(c.H2) / 65536.0 * (1.0 + float(c.H6) / 67108864.0 * var_h * (1.0 + float(c.H3) / 67108864.0 * var_h))
    )
    var_h = var_h * (1.0 - float(c.H1) * var_h / 524288.0)
    return min(100.0, max(0.0, var_h))


# --- the data sheet's integer formulas (4.2.3), a second arithmetic path -------------------------
def int_t(c: codec.Calibration, adc_t: int) -> tuple[int, int]:
    var1 = (((adc_t >> 3) - (c.T1 << 1)) * c.T2) >> 11
    var2 = (((((adc_t >> 4) - c.T1) * ((adc_t >> 4) - c.T1)) >> 12) * c.T3) >> 14
    t_fine = var1 + var2
    return (t_fine * 5 + 128) >> 8, t_fine


def int_p_q24_8(c: codec.Calibration, adc_p: int, t_fine: int) -> int:
    var1 = t_fine - 128000
    var2 = var1 * var1 * c.P6
    var2 = var2 + ((var1 * c.P5) << 17)
    var2 = var2 + (c.P4 << 35)
    var1 = ((var1 * var1 * c.P3) >> 8) + ((var1 * c.P2) << 12)
    var1 = (((1 << 47) + var1) * c.P1) >> 33
    p = 1048576 - adc_p
    p = int((((p << 31) - var2) * 3125) / var1)  # C division truncates toward zero
    var1 = (c.P9 * (p >> 13) * (p >> 13)) >> 25
    var2 = (c.P8 * p) >> 19
    return ((p + var1 + var2) >> 8) + (c.P7 << 4)


# --- the register sets ----------------------------------------------------------------------
REAL_CAL = codec.parse_calibration(REAL[:26], REAL[26:33])
REAL_ADC = codec.parse_adc(REAL[33:])
BMP_CAL = codec.parse_calibration(BMP[:26])
BMP_ADC = codec.parse_adc(BMP[26:])
#: negative dig_H4 / dig_H5 / dig_H6 and a negative T3: the signed cases one library gets wrong
NEGATIVE = REAL_CAL._replace(T3=-1000, H4=-300, H5=-120, H6=-30, H3=200)


def test_the_dumps_hold_what_their_sources_say() -> None:
    assert (
        codec.Calibration(
            28224, 26110, 50, 37298, -10829, 3024, 11341, -10, -7, 9900, -10230, 4285, 75, 357, 0, 322, 0, 30
        )
        == REAL_CAL
    )
    assert codec.Adc(274239, 527824, 29244) == REAL_ADC
    assert BMP_CAL[:12] == (27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
    assert (BMP_ADC.temperature, BMP_ADC.pressure) == (519888, 415148)


def test_bmp280_data_sheet_example() -> None:
    """The BMP280 data sheet's worked example: 25.08 °C and 100653.27 Pa (double precision)."""
    celsius, t_fine = codec.compensate_temperature(BMP_CAL, 519888)
    assert t_fine == 128422
    assert celsius == pytest.approx(25.08, abs=0.01)
    assert codec.compensate_pressure(BMP_CAL, 415148, t_fine) == pytest.approx(1006.5327, abs=0.01)


@pytest.mark.parametrize("cal", [REAL_CAL, BMP_CAL._replace(H1=75, H2=362, H4=313, H5=50, H6=30), NEGATIVE])
@pytest.mark.parametrize(
    "adc",
    [REAL_ADC, codec.Adc(415148, 519888, 30000), codec.Adc(300000, 450000, 20000), codec.Adc(330000, 560000, 36000)],
)
def test_compensation_matches_the_data_sheet(cal: codec.Calibration, adc: codec.Adc) -> None:
    assert adc.temperature is not None and adc.pressure is not None and adc.humidity is not None
    celsius, t_fine = codec.compensate_temperature(cal, adc.temperature)
    ref_c, ref_fine = reference_t(cal, adc.temperature)
    assert t_fine == ref_fine
    assert celsius == pytest.approx(ref_c, abs=0.01)
    assert codec.compensate_pressure(cal, adc.pressure, t_fine) == pytest.approx(
        reference_p_pa(cal, adc.pressure, ref_fine) / 100.0, abs=0.01
    )
    assert codec.compensate_humidity(cal, adc.humidity, t_fine) == pytest.approx(
        reference_h(cal, adc.humidity, ref_fine), abs=0.01
    )
    # the integer formulas are a different path to the same numbers (their own resolution)
    centi, int_fine = int_t(cal, adc.temperature)
    assert celsius == pytest.approx(centi / 100.0, abs=0.011)
    assert codec.compensate_pressure(cal, adc.pressure, int_fine) == pytest.approx(
        int_p_q24_8(cal, adc.pressure, int_fine) / 25600.0, abs=0.01
    )


def test_the_real_chip_reads_plausibly() -> None:
    values, fields = codec.decode(REAL)
    assert values == {
        "temperature": pytest.approx(23.73, abs=0.01),
        "humidity": pytest.approx(47.65, abs=0.01),
        "pressure": pytest.approx(990.55, abs=0.01),
        "dew_point": pytest.approx(11.96, abs=0.05),
        "absolute_humidity": pytest.approx(10.19, abs=0.02),
    }
    assert [f.key for f in fields] == ["temperature", "humidity", "pressure", "dew_point", "absolute_humidity"]


def test_bmp280_dump_has_no_humidity() -> None:
    values, fields = codec.decode(BMP, altitude=350)
    assert set(values) == {"temperature", "pressure", "sea_level_pressure"}
    assert values["temperature"] == pytest.approx(25.08, abs=0.01)
    assert values["pressure"] == pytest.approx(1006.53, abs=0.01)
    assert {f.key for f in fields} == set(values)


def _library_reading(cal: codec.Calibration, adc: codec.Adc, chip_id: int = codec.CHIP_BME280) -> object:
    """RPi.bme280 over the fake bus, the chip's registers holding `cal` and the raw `adc`."""
    chip = FakeChip(cal, lambda: (20.0, 50.0, 1000.0), chip_id=chip_id)
    bus = FakeBus({0x76: chip})
    params = library.load_calibration_params(bus, 0x76)
    chip.measure = lambda: chip.regs.__setitem__(slice(0xF7, 0xFF), codec.adc_bytes(adc))  # type: ignore[method-assign]
    return library.sample(bus, 0x76, params)


@pytest.mark.parametrize("cal", [REAL_CAL, NEGATIVE, BMP_CAL._replace(H1=75, H2=362, H4=-1, H5=-2048, H6=127)])
def test_the_library_computes_the_data_sheet_formulas(cal: codec.Calibration) -> None:
    """What devices/bme280.py publishes comes from RPi.bme280: it must agree with 8.1, signed
    dig_H4 / dig_H5 sharing 0xE5 included (the `bme280` package on PyPI does not)."""
    adc = REAL_ADC
    assert adc.temperature is not None and adc.pressure is not None and adc.humidity is not None
    got = _library_reading(cal, adc)
    ref_c, fine = reference_t(cal, adc.temperature)
    assert got.temperature == pytest.approx(ref_c, abs=0.01)  # type: ignore[attr-defined]
    # the library keeps t_fine unrounded; within ±0.01 that is the same number
    assert got.pressure == pytest.approx(reference_p_pa(cal, adc.pressure, fine) / 100, abs=0.01)  # type: ignore[attr-defined]
    assert got.humidity == pytest.approx(reference_h(cal, adc.humidity, fine), abs=0.01)  # type: ignore[attr-defined]


@settings(max_examples=60, deadline=None)
@given(
    h4=st.integers(-2048, 2047),
    h5=st.integers(-2048, 2047),
    h2=st.integers(-32768, 32767),
    h6=st.integers(-128, 127),
)
def test_humidity_calibration_round_trips_through_the_registers(h4: int, h5: int, h2: int, h6: int) -> None:
    cal = REAL_CAL._replace(H2=h2, H4=h4, H5=h5, H6=h6)
    tp, h = codec.calibration_bytes(cal)
    assert codec.parse_calibration(tp, h) == cal
    params = library.load_calibration_params(FakeBus({0x77: FakeChip(cal, lambda: (0, 0, 0))}), 0x77)
    assert (params.dig_H2, params.dig_H4, params.dig_H5, params.dig_H6) == (h2, h4, h5, h6)


def test_skipped_and_short_dumps_are_frame_errors() -> None:
    skipped = REAL[:33] + codec.adc_bytes(codec.Adc(274239, None, 29244))
    with pytest.raises(FrameError, match="skipped"):
        codec.decode(skipped)
    with pytest.raises(FrameError, match="41 bytes"):
        codec.decode(REAL[:40])
    values, _ = codec.decode(REAL[:33] + codec.adc_bytes(codec.Adc(None, 527824, None)))
    assert set(values) == {"temperature"}


def test_derived_values() -> None:
    """Magnus (Sonntag) at 20 °C / 50 %: dew point 9.26 °C, 8.63 g/m³; 1000 hPa at sea level stays."""
    assert codec.dew_point(20.0, 50.0) == pytest.approx(9.26, abs=0.02)
    assert codec.absolute_humidity(20.0, 50.0) == pytest.approx(8.63, abs=0.03)
    assert codec.sea_level_pressure(1000.0, 15.0, 0.0) == 1000.0
    # 350 m at 15 °C: about 41 hPa (the standard atmosphere's ~1 hPa per 8.4 m)
    assert codec.sea_level_pressure(970.0, 15.0, 350.0) == pytest.approx(1010.6, abs=0.5)
    assert codec.station_pressure(codec.sea_level_pressure(970.0, 15.0, 350.0), 15.0, 350.0) == pytest.approx(970.0)


def test_an_offset_moves_the_temperature_not_the_water() -> None:
    plain = codec.values(24.0, 990.0, 45.0)
    hot_board = codec.values(24.0, 990.0, 45.0, offset=-1.5)
    assert hot_board["temperature"] == 22.5
    assert float(hot_board["humidity"]) > float(plain["humidity"])  # type: ignore[arg-type]
    assert hot_board["dew_point"] == pytest.approx(plain["dew_point"], abs=0.02)
    assert hot_board["absolute_humidity"] == pytest.approx(plain["absolute_humidity"], rel=0.01)
    assert not math.isnan(float(hot_board["pressure"]))  # type: ignore[arg-type]


def test_chip_ids() -> None:
    assert codec.chip_model(0x60) == "BME280"
    assert [codec.chip_model(i) for i in (0x56, 0x57, 0x58)] == ["BMP280"] * 3
    assert codec.chip_model(0x55) is None and codec.chip_model(0xFF) is None


def test_every_row_is_catalogue_ready() -> None:
    """Each row of the house tables has a known unit, a group, a precision; roles are the catalogue's."""
    from solarstack.core import catalog
    from solarstack.core.fields import UNITS

    rows = codec.table(humidity=True, altitude=True)
    assert len({f.key for f in rows}) == len(rows) == 6
    for f in rows:
        assert f.unit in UNITS and f.group in catalog.GROUPS and f.precision is not None, f.key
        assert f.role is None or f.role in catalog.ROLES, f.key
    doc = json.loads(catalog.build({"id": "living", "name": "Living", "kind": "house"}, rows, (), ("read",)))
    metrics = {f["key"]: f["metric"] for f in doc["fields"]}
    assert metrics["temperature"] == "solarstack_temperature_celsius"
    assert metrics["absolute_humidity"] == "solarstack_absolute_humidity_grams_per_cubic_metre"
    assert {f["key"]: f["device_class"] for f in doc["fields"]}["humidity"] == "humidity"

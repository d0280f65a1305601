"""The house sensor device on the fake bus (the only fake, at the smbus2 level): the chip's
register behaviour, chip-id handling, options and one-line configuration errors; and the
decode CLI as a user runs it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import bme280 as library  # RPi.bme280
import pytest

from solarstack.core.device_url import parse_device_url
from solarstack.core.errors import ConfigError, ProtocolError, TransportError
from solarstack.devices.registry import check_kind, open_device
from solarstack.protocols import bme280 as codec
from solarstack.sim.i2c import DEFAULT_CALIBRATION, FakeBus, FakeChip

DUMPS = Path(__file__).parent / "dumps"
CLI = [sys.executable, "-c", "import sys; from solarstack.cli import main; sys.exit(main())"]


def device(url: str):  # type: ignore[no-untyped-def]
    return open_device(parse_device_url(url))


def test_fake_chip_behaves_like_the_register_map() -> None:
    chip = FakeChip(DEFAULT_CALIBRATION, lambda: (21.5, 40.0, 1001.0))
    bus = FakeBus({0x76: chip})
    assert bus.read_byte_data(0x76, codec.REG_CHIP_ID) == 0x60
    assert bytes(bus.read_i2c_block_data(0x76, 0xF7, 8)) == codec.adc_bytes(codec.Adc(None, None, None))
    bus.write_byte_data(0x76, codec.REG_CTRL_HUM, 1)  # not effective until ctrl_meas is written
    bus.write_byte_data(0x76, codec.REG_CTRL_MEAS, 0b001_001_01)  # T x1, P x1, forced
    assert bus.read_byte_data(0x76, codec.REG_CTRL_MEAS) & 0x03 == 0  # forced: back to sleep
    values, _ = codec.decode(
        bytes(bus.read_i2c_block_data(0x76, 0x88, 26) + bus.read_i2c_block_data(0x76, 0xE1, 7))
        + bytes(bus.read_i2c_block_data(0x76, 0xF7, 8))
    )
    assert values["temperature"] == pytest.approx(21.5, abs=0.01)
    assert values["humidity"] == pytest.approx(40.0, abs=0.01)
    assert values["pressure"] == pytest.approx(1001.0, abs=0.01)
    bus.write_byte_data(0x76, codec.REG_CTRL_MEAS, 0b001_000_01)  # pressure skipped
    assert codec.parse_adc(bytes(bus.read_i2c_block_data(0x76, 0xF7, 8))).pressure is None
    bus.write_byte_data(0x76, codec.REG_RESET, codec.RESET_WORD)
    assert bus.read_byte_data(0x76, codec.REG_CTRL_MEAS) == 0
    with pytest.raises(OSError):
        bus.read_byte_data(0x77, codec.REG_CHIP_ID)  # nobody at 0x77: no ACK


def test_the_library_reads_the_plant_through_the_fake_bus() -> None:
    bus = FakeBus({0x77: FakeChip(DEFAULT_CALIBRATION, lambda: (-12.25, 88.0, 955.5))})
    sample = library.sample(bus, 0x77, library.load_calibration_params(bus, 0x77))
    assert (sample.temperature, sample.humidity, sample.pressure) == (
        pytest.approx(-12.25, abs=0.01),
        pytest.approx(88.0, abs=0.01),
        pytest.approx(955.5, abs=0.01),
    )


def test_a_bme280_reads_temperature_humidity_pressure_and_derived_values() -> None:
    d = device("bme280+i2c://1/0x76?name=living&fake=plant&altitude=350&offset=-1.5")
    assert (d.id, d.kind, d.protocol) == ("living", "house", "bme280")
    assert d.identify({}).model == "BME280"
    reading = d.query("read")
    assert set(reading.values) == {
        "temperature", "humidity", "pressure", "dew_point", "absolute_humidity", "sea_level_pressure",
    }  # fmt: skip
    assert [f.key for f in reading.fields] == [f.key for f in d.table("read")]
    roles = {f.key: f.role for f in reading.fields}
    assert roles["temperature"] == "indoor_temperature" and roles["humidity"] == "humidity"
    assert roles["pressure"] == "pressure"
    assert all(f.group == "climate" for f in reading.fields)
    # the plant's sea-level pressure, brought to 350 m by the fake and back by the reader
    assert 980 < float(reading.values["sea_level_pressure"]) < 1045  # type: ignore[arg-type]
    assert float(reading.values["pressure"]) < float(reading.values["sea_level_pressure"]) - 35  # type: ignore[arg-type]


def test_a_bmp280_says_once_that_it_has_no_humidity(caplog: pytest.LogCaptureFixture) -> None:
    d = device("bme280+i2c://1/0x77?name=attic&fake=plant&fake_chip=58")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            reading = d.query("read")
    assert set(reading.values) == {"temperature", "pressure"}
    assert d.identify({}).model == "BMP280"
    assert [f.key for f in d.table("read")] == ["temperature", "pressure"]
    lines = [r.getMessage() for r in caplog.records if "humidity" in r.getMessage()]
    assert len(lines) == 1 and "I2C bus 1 address 0x77 is a BMP280" in lines[0]


def test_a_bmp280_from_its_dump(tmp_path: Path) -> None:
    d = device(f"bme280+i2c://1/0x76?fake={DUMPS / 'bmp280_datasheet.hex'}")
    assert set(d.query("read").values) == {"temperature", "pressure"} and d.model == "BMP280"


def test_wrong_chip_and_silence_are_retryable_one_line_errors() -> None:
    wrong = device("bme280+i2c://1/0x76?fake=plant&fake_chip=55")
    with pytest.raises(ProtocolError) as exc:
        wrong.query("read")
    assert "I2C bus 1 address 0x76 answers with chip id 0x55" in str(exc.value) and "\n" not in str(exc.value)
    silent = device("bme280+i2c://3/0x77?fake=plant&fake_absent=1")
    with pytest.raises(TransportError) as exc2:
        silent.query("read")
    assert str(exc2.value).startswith("I2C bus 3 address 0x77: no answer") and "\n" not in str(exc2.value)
    assert silent.identify({}).model is None  # identify never raises


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("bme280+i2c://x/0x76", "bus 'x' is not a bus number"),
        ("bme280+i2c://1/0x99", "address 0x99 is not a 7-bit device address"),
        ("bme280+i2c://1/", "address '' is not a number"),
        ("bme280+i2c://1/0x76?offset=warm", "offset='warm' is not a number"),
        ("bme280+i2c://1/0x76?offset=40", "more than ±20"),
        ("bme280+i2c://1/0x76?altitude=99999", "not between -500 and 9000"),
        ("bme280+i2c://1/0x76?oversampling=3", "oversampling=3 must be one of"),
        ("bme280+tcp://1/0x76", "bme280 is read over i2c"),
        ("legacy+mqtt://house/+?name=x", "without wildcards"),
        ("legacy+mqtt://house/x?quantities=co2", "quantities='co2'"),
    ],
)
def test_config_errors_are_one_line(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        device(url)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_house_urls_are_of_the_house_kind() -> None:
    check_kind(parse_device_url("bme280+i2c://1/0x76"), ("house",))
    with pytest.raises(ConfigError, match="not one of bme280, legacy"):
        check_kind(parse_device_url("pi30+tcp://h:1"), ("house",))


# --- solarstack decode ------------------------------------------------------------------------
def test_decode_cli_prints_what_the_reader_would_publish() -> None:
    dump = (DUMPS / "bme280_real_chip.hex").read_text()
    hexdump = " ".join(line for line in dump.splitlines() if not line.startswith("#"))
    out = subprocess.run([*CLI, "decode", "--protocol", "bme280", "--hex", hexdump, "--json"], capture_output=True)
    assert out.returncode == 0, out.stderr
    values = json.loads(out.stdout)
    assert values["temperature"] == pytest.approx(23.73, abs=0.01)
    assert values["humidity"] == pytest.approx(47.65, abs=0.01)
    assert values["pressure"] == pytest.approx(990.55, abs=0.01)
    text = subprocess.run(
        [*CLI, "decode", "--protocol", "bme280", "--command", "altitude=350", "--hex", hexdump],
        capture_output=True,
        text=True,
    )
    assert text.returncode == 0
    assert "Temperature" in text.stdout and "°C" in text.stdout and "hPa" in text.stdout
    assert "Sea-level pressure" in text.stdout and "%" in text.stdout


def test_decode_cli_errors_are_one_line() -> None:
    short = subprocess.run([*CLI, "decode", "--protocol", "bme280", "--hex", "00" * 40], capture_output=True, text=True)
    assert short.returncode == 1 and short.stderr.count("\n") == 1 and "41 bytes" in short.stderr
    bad = subprocess.run(
        [*CLI, "decode", "--protocol", "bme280", "--command", "QPIGS", "--hex", "00" * 41],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "altitude=<metres>" in bad.stderr

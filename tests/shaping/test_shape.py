"""core/shaping.py: what a user's include/exclude/rename/scale rules do to a field table and
its values, how URL options parse into them, and what is refused (one line)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from solarstack.core.device_url import parse_device_url
from solarstack.core.errors import ConfigError
from solarstack.core.fields import Field, Kind, Reading, Setting
from solarstack.core.metrics import metric_name, reading_samples
from solarstack.core.shaping import Scale, Shape, check_table, from_options

TABLE = (
    Field("pv_input_power", kind=Kind.INT, unit="W", precision=0, role="pv_power"),
    Field("battery_voltage", unit="V", precision=2),
    Field("device_status", kind=Kind.TEXT),
    Field("cell_voltage", kind=Kind.ARRAY, unit="V"),
)
VALUES = {"pv_input_power": 1234, "battery_voltage": 52.6, "device_status": "ok", "cell_voltage": [3.3, 3.31]}


def shape(url_options: str) -> Shape:
    url = parse_device_url(f"pi30+tcp://127.0.0.1:1?{url_options}")
    return from_options(f"device URL {url.raw!r}", url.options)  # as services/wiring.py names it


def test_the_empty_shape_changes_nothing() -> None:
    assert Shape().table(TABLE) == TABLE
    assert Shape().values(VALUES) == VALUES
    assert shape("name=x").empty


def test_include_keeps_only_those_fields_and_the_timestamp() -> None:
    s = shape("include=battery_voltage;cell_voltage")
    assert [f.key for f in s.table(TABLE)] == ["battery_voltage", "cell_voltage"]
    assert set(s.values({"ts": "t", **VALUES})) == {"ts", "battery_voltage", "cell_voltage"}


def test_exclude_drops_fields_from_table_and_values() -> None:
    s = shape("exclude=device_status;pv_input_power")
    assert [f.key for f in s.table(TABLE)] == ["battery_voltage", "cell_voltage"]
    assert "device_status" not in s.values(VALUES)


def test_a_multiplier_changes_value_unit_precision_and_kind() -> None:
    s = shape("scale=pv_input_power:0.001:kW&rename=pv_input_power:PV power")
    row = s.table(TABLE)[0]
    assert (row.unit, row.precision, row.kind, row.title, row.role) == ("kW", 3, Kind.FLOAT, "PV power", "pv_power")
    assert s.values(VALUES)["pv_input_power"] == 1.234
    assert s.unshaped(s.values(VALUES))["pv_input_power"] == 1234


def test_a_multiplier_scales_every_element_of_an_array() -> None:
    s = shape("scale=cell_voltage:1000:mV")
    assert s.values(VALUES)["cell_voltage"] == [3300.0, 3310.0]
    assert s.table(TABLE)[3].unit == "mV"


def test_metrics_of_a_kw_field_stay_in_watts() -> None:
    """Prometheus names carry base units: the kW field is still `_watts`, value back in W."""
    s = shape("scale=pv_input_power:0.001:kW")
    reading = s.reading(Reading("inv1", datetime.now(UTC), VALUES, TABLE))
    assert metric_name(reading.fields[0]) == metric_name(TABLE[0]) == "solarstack_pv_input_power_watts"
    sample = next(x for x in reading_samples(reading) if x.name == "solarstack_pv_input_power_watts")
    assert sample.value == pytest.approx(1234.0)


def test_sub_devices_are_excluded_and_named_by_id_or_serial() -> None:
    s = shape("exclude_devices=inv1_unit2;11650000123&device_titles=inv1_unit1:Left;99:Right")
    assert not s.keeps_device("inv1_unit2")
    assert not s.keeps_device("dtu_mi3", "11650000123")
    assert s.keeps_device("inv1_unit1", "42")
    assert s.device_title("inv1_unit1", None, "Inv1 Unit 1") == "Left"
    assert s.device_title("inv1_unit3", "99", "Inv1 Unit 3") == "Right"
    assert s.device_title("inv1_unit3", "7", "Inv1 Unit 3") == "Inv1 Unit 3"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("scale=pv_input_power:abc:kW", "'abc' is not a number"),
        ("scale=pv_input_power:0.001:kw", "unknown unit 'kw'"),
        ("scale=pv_input_power:0:kW", "non-zero"),
        ("scale=pv_input_power", "is not key:factor"),
        ("rename=pv_input_power", "is not key:Title"),
        ("include=a;b&exclude=b", "b both included and excluded"),
    ],
)
def test_malformed_options_are_one_line_errors(options: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        shape(options)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("device URL 'pi30+tcp://")


def test_a_multiplier_to_another_quantity_or_on_text_is_refused() -> None:
    with pytest.raises(ConfigError, match="W cannot become V"):
        check_table("inv1", shape("scale=pv_input_power:1:V"), TABLE)
    with pytest.raises(ConfigError, match="not a number"):
        check_table("inv1", shape("scale=device_status:2"), TABLE)
    check_table("inv1", shape("scale=not_yet_reported:2"), TABLE)  # a later firmware field: fine


def test_a_multiplier_on_a_setting_or_its_read_back_is_refused() -> None:
    settings = (Setting("max_charging_current", "Max charging current", readback="max_charging_current_rb"),)
    for key in ("max_charging_current", "max_charging_current_rb"):
        with pytest.raises(ConfigError, match="setting 'max_charging_current'"):
            Shape(scale={key: Scale(2.0, None)}).check_settings("inv1", settings)
    Shape(scale={"battery_voltage": Scale(2.0, None)}).check_settings("inv1", settings)


def test_the_inverter_reader_refuses_a_multiplier_on_a_setting_at_start(tmp_path: Path) -> None:
    """The real `solarstack run inverter`: one line, exit 2, before any poll."""
    env = {
        "PATH": "/usr/bin:/bin",
        "STATE_DIR": str(tmp_path),
        "METRICS_PORT": "0",
        "INVERTER_DEVICES": "pi30+tcp://127.0.0.1:1?name=inv1&scale=max_charging_current:2",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "solarstack.cli", "run", "inverter"], capture_output=True, text=True, env=env, timeout=30
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "configuration error: inv1: scale on 'max_charging_current' is refused: it is the setting"
        " 'max_charging_current' (or its read-back); remove the multiplier or turn settings off for this reader"
    ]

"""SOLARSTACK_CONFIG: the YAML file fills the same settings models as the environment
(core/config_file.py). Env wins; an unknown key or a YAML syntax error is one line naming
the file (and the key, or the line); devices with filters become device URLs with options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from solarstack.core.device_url import parse_device_list
from solarstack.core.errors import ConfigError
from solarstack.core.settings import load
from solarstack.core.shaping import Scale, from_options
from solarstack.services.bms.settings import BmsSettings
from solarstack.services.inverter.settings import InverterSettings

ROOT = Path(__file__).resolve().parents[2]

YAML = """\
mqtt:
  host: broker.lan
  port: 1884
  username: inverter
log_level: DEBUG
inverter:
  poll_seconds: 5
  commands: [QPIGS:5, QMOD:10]
  devices:
    - url: pi30+tcp://192.168.1.50:8899
      name: garage
      title: "Garage inverter; the old one"
      include: [pv_input_power, battery_voltage]
      rename: {pv_input_power: "PV power: roof"}
      scale:
        pv_input_power: 0.001 kW
        battery_voltage: {factor: 1000, unit: mV}
      exclude_devices: [garage_unit2]
      options: {timeout: 2}
    - pi30+serial:///dev/ttyUSB0?name=shed
bms:
  devices:
    - url: jkserial+serial:///dev/ttyUSB1
      name: pack1
      exclude: [cell_voltage]
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "solarstack.yaml"
    path.write_text(text)
    return str(path)


def test_the_file_fills_the_model_and_devices_become_urls_with_their_rules(tmp_path: Path) -> None:
    s = load(InverterSettings, {"SOLARSTACK_CONFIG": write(tmp_path, YAML)})
    assert (s.mqtt_host, s.mqtt_port, s.mqtt_username, s.log_level) == ("broker.lan", 1884, "inverter", "DEBUG")
    assert s.inverter_poll_seconds == 5.0
    assert s.schedule() == [("QPIGS", 5.0), ("QMOD", 10.0)]
    garage, shed = parse_device_list(s.inverter_devices)
    assert (garage.name, garage.address, garage.option("title"), garage.option("timeout")) == (
        "garage",
        "192.168.1.50:8899",
        "Garage inverter; the old one",
        "2",
    )
    shape = from_options(garage.raw, garage.options)
    assert shape.include == {"pv_input_power", "battery_voltage"}
    assert shape.rename == {"pv_input_power": "PV power: roof"}
    assert shape.scale == {"pv_input_power": Scale(0.001, "kW"), "battery_voltage": Scale(1000.0, "mV")}
    assert shape.exclude_devices == {"garage_unit2"}
    assert shed.name == "shed" and from_options(shed.raw, shed.options).empty


def test_the_same_file_serves_another_service_its_own_section(tmp_path: Path) -> None:
    s = load(BmsSettings, {"SOLARSTACK_CONFIG": write(tmp_path, YAML)})
    (pack,) = parse_device_list(s.bms_devices)
    assert pack.name == "pack1" and from_options(pack.raw, pack.options).exclude == {"cell_voltage"}


def test_a_variable_wins_over_the_file(tmp_path: Path) -> None:
    env = {
        "SOLARSTACK_CONFIG": write(tmp_path, YAML),
        "MQTT_HOST": "mosquitto",
        "INVERTER_POLL_SECONDS": "2.5",
        "INVERTER_DEVICES": "pi30+tcp://10.0.0.1:8899?name=only",
        "LOG_LEVEL": "",  # empty counts as unset: the file's value stays
    }
    s = load(InverterSettings, env)
    assert (s.mqtt_host, s.inverter_poll_seconds, s.log_level) == ("mosquitto", 2.5, "DEBUG")
    assert [u.name for u in parse_device_list(s.inverter_devices)] == ["only"]
    assert s.mqtt_port == 1884  # what the environment does not say still comes from the file


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("inverter:\n  pol_seconds: 5\n", "'inverter.pol_seconds'"),
        ("mqtt:\n  hots: x\n", "'mqtt.hots'"),
        ("loglevel: INFO\n", "'loglevel'"),
        ("bms:\n  poll: 5\n", "'bms.poll'"),  # another service's section is checked too
        ("invertr:\n  poll_seconds: 5\n", "'invertr.poll_seconds'"),
        ("inverter:\n  devices:\n    - url: pi30+tcp://h:1\n      titel: x\n", "'inverter.devices[0].titel'"),
    ],
)
def test_an_unknown_key_is_one_line_naming_the_key_and_the_file(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(InverterSettings, {"SOLARSTACK_CONFIG": path, "INVERTER_DEVICES": "pi30+tcp://h:1"})
    message = str(err.value)
    assert f"unknown key {key}" in message and path in message and "\n" not in message


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "mqtt:\n  host: a\n  port: [1883\nlog_level: INFO\n")
    with pytest.raises(ConfigError) as err:
        load(InverterSettings, {"SOLARSTACK_CONFIG": path})
    assert str(err.value).startswith(f"{path} line ") and "YAML syntax error" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_bad_value_in_the_file_names_its_key_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "inverter:\n  poll_seconds: soon\n  devices: [pi30+tcp://h:1]\n")
    with pytest.raises(ConfigError) as err:
        load(InverterSettings, {"SOLARSTACK_CONFIG": path})
    assert str(err.value).startswith("inverter.poll_seconds='soon' (INVERTER_POLL_SECONDS):")
    assert str(err.value).endswith(f"fix it in {path}")


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"SOLARSTACK_CONFIG=.*cannot read it"):
        load(InverterSettings, {"SOLARSTACK_CONFIG": str(tmp_path / "nope.yaml")})


def test_the_service_exits_2_with_one_line_on_an_unknown_key(tmp_path: Path) -> None:
    """The real `solarstack run inverter`: before anything is logged or connected."""
    path = write(tmp_path, "inverter:\n  devices: [pi30+tcp://127.0.0.1:1]\n  poll_secs: 5\n")
    env = {"PATH": "/usr/bin:/bin", "SOLARSTACK_CONFIG": path, "STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.run(
        [sys.executable, "-m", "solarstack.cli", "run", "inverter"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "unknown key 'inverter.poll_secs'" in lines[0] and path in lines[0]


def test_the_shipped_example_loads_for_every_service_it_names() -> None:
    from solarstack.services.house.settings import HouseSettings

    env = {"SOLARSTACK_CONFIG": str(ROOT / "config" / "solarstack.example.yaml")}
    inverter = load(InverterSettings, env)
    main, garage = parse_device_list(inverter.inverter_devices)
    shape = from_options(main.raw, main.options)
    assert (main.name, main.option("units"), shape.exclude_devices) == ("inverter1", "2", {"inverter1_unit2"})
    assert shape.scale["ac_output_active_power"] == Scale(0.001, "kW")
    assert from_options(garage.raw, garage.options).include == {"pv_input_power", "battery_voltage"}
    assert [u.name for u in parse_device_list(load(BmsSettings, env).bms_devices)] == ["pack1"]
    assert [u.name for u in load(HouseSettings, env).urls()] == ["living_room"]

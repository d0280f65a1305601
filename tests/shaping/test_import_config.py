"""`solarstack import-config`: an mpp-solar daemon config -> our YAML file or .env lines.

The input is constructed from mpp-solar's documented format (docs/configfile.md of
jblance/mpp-solar, "Config File Specifications" and its examples: [SETUP] with pause and the
broker; one section per device with protocol, port, porttype, baud, command, tag, outputs,
filter; the two-PIP4048 parallel example with QPGS0/QPGS1 on one port), not copied from a
user's file. The output must load through the real settings models, say on stderr what it
could not map, and never overwrite a file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from solarstack.core.device_url import parse_device_list
from solarstack.core.settings import load
from solarstack.core.shaping import from_options
from solarstack.services.bms.settings import BmsSettings
from solarstack.services.inverter.settings import InverterSettings

MPP_SOLAR_CONF = """\
[SETUP]
# Number of seconds to pause between loops of processing the sections
pause=5
mqtt_broker=192.168.1.10:1884
mqtt_user=mppsolar
mqtt_pass=s3cret
mongo_url=mongodb://localhost:27017

# two PIP4048 in parallel on one USB-serial adapter (mpp-solar's own example)
[Inverter_1]
protocol=PI30
port=/dev/ttyUSB0
baud=2400
command=QPGS0
tag=QPGS0
outputs=mqtt,screen

[Inverter_2]
protocol=PI30
port=/dev/ttyUSB0
baud=2400
command=QPGS1
tag=QPGS1
outputs=mqtt

[Garage]
protocol=PI18
port=/dev/hidraw0
command=GS#PIRI
tag=Garage
outputs=hass,domoticz_mqtt
filter=^battery

[Bridge]
protocol=PI30REVO
port=192.168.1.50:8899
porttype=esp32
command=QPIGS
outputs=hassd

[JKBMS]
type=jkbms
protocol=JK02
port=3c:a5:49:aa:aa:aa
porttype=ble
command=getCellData
tag=Pack 1
outputs=influx2_mqtt

[Shunt]
protocol=VED
port=/dev/ttyUSB3
baud=19200
command=vedirect
outputs=json_mqtt

[Mystery]
protocol=XYZ9
port=/dev/ttyUSB9
command=QPI
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "solarstack.cli", "import-config", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=30,
    )


def conf(tmp_path: Path) -> Path:
    path = tmp_path / "mpp-solar.conf"
    path.write_text(MPP_SOLAR_CONF)
    return path


def test_to_yaml_that_our_settings_load(tmp_path: Path) -> None:
    source = conf(tmp_path)
    result = run(str(source), "-o", "solarstack.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = yaml.safe_load((tmp_path / "solarstack.yaml").read_text())
    assert doc["mqtt"] == {"host": "192.168.1.10", "port": 1884, "username": "mppsolar", "password": "s3cret"}
    assert doc["inverter"]["poll_seconds"] == 5
    env = {"SOLARSTACK_CONFIG": str(tmp_path / "solarstack.yaml")}
    inverter = load(InverterSettings, env)
    assert (inverter.mqtt_host, inverter.mqtt_port, inverter.inverter_poll_seconds) == ("192.168.1.10", 1884, 5.0)
    system, garage, bridge = parse_device_list(inverter.inverter_devices)
    # the two QPGSn sections on one port: one parallel system of two units
    assert (system.protocol, system.transport, system.address) == ("pi30", "serial", "/dev/ttyUSB0")
    assert (system.name, system.option("units"), system.option("baud")) == ("inverter_1", "2", "2400")
    assert (garage.protocol, garage.transport, garage.name) == ("pi18", "hidraw", "garage")
    assert (bridge.transport, bridge.address, bridge.name) == ("tcp", "192.168.1.50:8899", "bridge")
    assert (bridge.protocol, bridge.option("variant")) == ("pi30", "revo")  # mpp-solar's PI30REVO
    pack, shunt = parse_device_list(load(BmsSettings, env).bms_devices)
    assert (pack.protocol, pack.transport, pack.address, pack.name) == ("jk02", "ble", "3C:A5:49:AA:AA:AA", "pack_1")
    assert pack.option("title") == "Pack 1" and pack.option("poll") == "5"
    assert (shunt.protocol, shunt.option("baud")) == ("vedirect", "19200")
    assert from_options(pack.raw, pack.options).empty
    # what could not be mapped, one line each
    notes = result.stderr
    for said in (
        "[SETUP] mongo_url: not mapped",
        "[Inverter_1]: outputs screen: no counterpart",
        "[Garage]: outputs domoticz_mqtt: no counterpart",
        "[Garage]: filter=^battery: regular expressions are not mapped",
        "[Garage]: command=GS#PIRI: not mapped",
        "[Mystery]: protocol XYZ9 is not supported by solarstack: section skipped",
        "wrote solarstack.yaml (yaml)",
    ):
        assert said in notes, notes
    assert "influx2_mqtt" not in notes and "hassd" not in notes  # done anyway (collector, discovery)


def test_to_env_lines_that_our_settings_load(tmp_path: Path) -> None:
    result = run(str(conf(tmp_path)), "--format", "env", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    env = dict(line.split("=", 1) for line in result.stdout.splitlines() if line and not line.startswith("#"))
    assert env["MQTT_HOST"] == "192.168.1.10" and env["INVERTER_POLL_SECONDS"] == "5"
    inverter = load(InverterSettings, env)
    assert [u.name for u in parse_device_list(inverter.inverter_devices)] == ["inverter_1", "garage", "bridge"]
    assert [u.option("title") for u in parse_device_list(load(BmsSettings, env).bms_devices)] == ["Pack 1", "Shunt"]


def test_never_overwrites_a_file(tmp_path: Path) -> None:
    source = conf(tmp_path)
    existing = tmp_path / "solarstack.yaml"
    existing.write_text("mine\n")
    result = run(str(source), "-o", str(existing), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"solarstack: {existing} exists: solarstack import-config never overwrites; choose another -o"
    ]
    assert existing.read_text() == "mine\n"


def test_a_file_that_is_not_ini_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("pause=5\n")  # no section header
    result = run(str(bad), cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "not an mpp-solar config (INI)" in result.stderr

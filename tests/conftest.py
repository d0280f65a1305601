"""Shared test fixtures: a real Mosquitto broker and `wait_for` (helpers: tests/support.py).

`mosquitto` gives an anonymous broker on a free loopback port; `mosquitto_factory`
builds brokers with users (a password file made by mosquitto_passwd), an ACL text,
persistence, or a fixed port; `shipped_broker` runs the SHIPPED entrypoint, config and
ACL template (mosquitto/), as the container and `solarstack dev` start it. A `Broker`
can be stopped and started again on the same port (outage tests). Every broker a test
started is stopped at teardown. The system broker on 1883 and /etc/mosquitto are never
touched.
"""

from __future__ import annotations

import getpass
import secrets
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest

from solarstack.services.registry import SERVICES
from support import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Broker:
    """A Mosquitto process with its own config, on 127.0.0.1:`port`."""

    port: int
    workdir: Path
    config: Path
    host: str = "127.0.0.1"
    users: Mapping[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 5.0) -> Broker:
        if self.running:
            return self
        runs_before = self.log_text().count(" running")
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=log)
        log.close()

        def listening() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited with {self.proc.returncode}:\n{self.log_text()}")
            # its own "... running" line (printed once its sockets are bound), not just an open
            # port, which might belong to another process
            return self.log_text().count(" running") > runs_before and _port_open(self.host, self.port)

        wait_for(listening, timeout, what=f"mosquitto listening on {self.port}")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (mosquitto saves its persistence db) and wait for the port to close."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.proc = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class BrokerFactory(Protocol):
    def __call__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        persistence: bool = False,
        port: int | None = None,
        extra_config: str = "",
    ) -> Broker: ...


@pytest.fixture
def mosquitto_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerFactory]:
    """Start brokers: `users={"name": "password"}` turns anonymous access off; `acl` is
    the text of an ACL file (mosquitto `acl_file` syntax); `persistence=True` keeps
    sessions and queued QoS 1 messages across `stop()`/`start()`."""
    brokers: list[Broker] = []

    def make(
        *,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        persistence: bool = False,
        port: int | None = None,
        extra_config: str = "",
    ) -> Broker:
        workdir = tmp_path_factory.mktemp("mosquitto")
        lines = [
            # started as root, mosquitto would switch to user `mosquitto`, which cannot read
            # pytest's 0700 temp dirs; as any other user this line has no effect
            "user root",
            "log_dest stderr",
            "log_type all",
            "connection_messages true",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {workdir}/",
        ]
        if users:
            pwfile = workdir / "passwd"
            pwfile.touch(mode=0o600)
            for name, password in users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(pwfile), name, password], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if acl is not None:
            acl_file = workdir / "acl"
            acl_file.write_text(acl)
            lines.append(f"acl_file {acl_file}")
        config = workdir / "mosquitto.conf"
        for attempt in range(3):
            chosen = port or free_port()
            config.write_text("\n".join([f"listener {chosen} 127.0.0.1", *lines]) + "\n" + extra_config)
            broker = Broker(port=chosen, workdir=workdir, config=config, users=dict(users or {}))
            broker.log_path.unlink(missing_ok=True)
            try:
                broker.start()
            except AssertionError:
                # another test process took the free port between our probe and the bind: retry
                if port or attempt == 2 or "Address already in use" not in broker.log_text():
                    raise
                continue
            brokers.append(broker)
            return broker
        raise AssertionError("unreachable")

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory: BrokerFactory) -> Broker:
    """An anonymous broker on a free port (`.host`, `.port`)."""
    return mosquitto_factory()


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., object]:
    """`support.wait_for` as a fixture."""
    return wait_for


# --- the shipped broker: entrypoint.sh makes the password file and ACL --------------------------
SHIPPED_USERS = (*(s.mqtt_user for s in SERVICES), "homeassistant")
#: The readers' devices the shipped ACL is generated for (a reader may publish only these).
SHIPPED_DEVICES = {
    # a parallel system of two units on the serial port (docs/parallel.md)
    "INVERTER_DEVICES": "pi30+tcp://sim:8899?name=inverter,pi30+serial:///dev/ttyUSB0?units=2",
    "BMS_DEVICES": "jk02+ble://C8:47:8C:12:34:56?name=pack1",
}


@dataclass
class ShippedBroker:
    port: int
    passwords: dict[str, str]
    auth_dir: Path
    host: str = "127.0.0.1"


@pytest.fixture(scope="module")
def shipped_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShippedBroker]:
    from solarstack.dev import mosquitto_config

    auth = tmp_path_factory.mktemp("shipped-mosquitto")
    port = free_port()
    conf = auth / "mosquitto.conf"
    shipped = (ROOT / "mosquitto" / "mosquitto.conf").read_text()
    conf.write_text(mosquitto_config(shipped, port=port, host="127.0.0.1", auth_dir=auth, user=getpass.getuser()))
    passwords = {u: secrets.token_hex(8) for u in SHIPPED_USERS}
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "MOSQUITTO_CONF": str(conf),
        "MOSQUITTO_ACL_TEMPLATE": str(ROOT / "mosquitto" / "acl.template"),
        **{f"MQTT_PASSWORD_{u.upper()}": p for u, p in passwords.items()},
        **SHIPPED_DEVICES,
    }
    log = (auth / "broker.log").open("wb")
    proc = subprocess.Popen(
        ["sh", str(ROOT / "mosquitto" / "entrypoint.sh"), MOSQUITTO, "-c", str(conf)], env=env, stdout=log, stderr=log
    )

    def listening() -> bool:
        assert proc.poll() is None, (auth / "broker.log").read_text()
        return _port_open("127.0.0.1", port)

    wait_for(listening, 5, what="shipped mosquitto listening")
    yield ShippedBroker(port=port, passwords=passwords, auth_dir=auth)
    proc.terminate()
    proc.wait(5)
    log.close()

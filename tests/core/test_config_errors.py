"""Start-up errors through the real `solarstack run inverter|bms` process (issue 8, item 13).

A configuration error is one line on stderr that names the variable and says what to do,
and a non-zero exit, before anything else is logged — never a traceback, never a silent
exit 0. What is not a configuration error is logged at once and then at growing
intervals while the service keeps retrying: a broker that cannot be reached, a serial
adapter that is not plugged in yet (hot-plug).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from solarstack.core.mqtt import MqttClient
from solarstack.core.settings import CommonSettings
from support import free_port

WaitFor = Any


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A reader's environment: only what the test gives (no .env, no inherited settings)."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}
    return {
        **env,
        "MQTT_HOST": "127.0.0.1",
        "MQTT_PORT": str(free_port()),
        "STATE_DIR": str(tmp_path / "state"),
        "METRICS_PORT": "0",
        "METRICS_HOST": "127.0.0.1",
        **extra,
    }


def _run(service: str, env: dict[str, str]) -> tuple[int, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-m", "solarstack.cli", "run", service],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return proc.returncode, proc.stderr.splitlines()


@dataclass
class Service:
    """A running `solarstack run …` whose stderr lines are collected as they come."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def matching(self, *words: str) -> list[str]:
        with self.lock:
            return [line for line in self.lines if all(w in line for w in words)]

    def text(self) -> str:
        with self.lock:
            return "\n".join(self.lines)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture
def spawn() -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(args: list[str], env: dict[str, str]) -> Service:
        proc = subprocess.Popen(
            [sys.executable, "-m", "solarstack.cli", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(Service(proc))
        return started[-1]

    yield start
    for service in started:
        service.stop()


# -- configuration errors: one line, exit non-zero ---------------------------------------------

CASES = {
    # name: (service, variables, what the line must name, a word of what to do)
    "inverter url not a url": ("inverter", {"INVERTER_DEVICES": "pi30+tcp://[::1:8899"}, "INVERTER_DEVICES", "write"),
    "inverter second url bad option": (
        "inverter",
        {"INVERTER_DEVICES": "pi30+tcp://127.0.0.1:9?name=a,pi30+serial:///dev/ttyUSB0?baud=fast&name=b"},
        "INVERTER_DEVICES",
        "whole number",
    ),
    "inverter not pi30": ("inverter", {"INVERTER_DEVICES": "jk02+ble://C8:47:8C:12:34:56"}, "INVERTER_DEVICES", "pi30"),
    "inverter only commas": ("inverter", {"INVERTER_DEVICES": ",,,"}, "INVERTER_DEVICES", "set a device URL"),
    "bms only commas": ("bms", {"BMS_DEVICES": " , ,"}, "BMS_DEVICES", "set a device URL"),
    "bms url not a url": ("bms", {"BMS_DEVICES": "daly+tcp://[::1"}, "BMS_DEVICES", "write"),
    "bms bad option": ("bms", {"BMS_DEVICES": "daly+serial:///dev/ttyUSB2?poll=-5"}, "BMS_DEVICES", "positive"),
    "metrics host not ours": (
        "inverter",
        {"INVERTER_DEVICES": "pi30+tcp://127.0.0.1:9", "METRICS_HOST": "192.0.2.1", "METRICS_PORT": "9100"},
        "METRICS_HOST",
        "use 0.0.0.0",
    ),
    # IDNA cannot encode a 64-character label: UnicodeError, which ended paho's network thread
    # (the reader then spooled for ever) and was a traceback from the metrics bind
    "mqtt host not a host name": (
        "inverter",
        {"INVERTER_DEVICES": "pi30+tcp://127.0.0.1:9", "MQTT_HOST": "b" * 64 + ".lan"},
        "MQTT_HOST",
        "not a host name",
    ),
    "metrics host not a host name": (
        "bms",
        {"BMS_DEVICES": "daly+serial:///dev/ttyUSB2", "METRICS_HOST": "m" * 64, "METRICS_PORT": "9100"},
        "METRICS_HOST",
        "not a host name",
    ),
    "metrics host unknown": (
        "bms",
        {"BMS_DEVICES": "daly+serial:///dev/ttyUSB2", "METRICS_HOST": "metrics.invalid", "METRICS_PORT": "9100"},
        "METRICS_HOST",
        "use 0.0.0.0",
    ),
}


def _assert_one_line(code: int, lines: list[str], names: str, fix: str) -> None:
    text = "\n".join(lines)
    assert code == 2, f"exit {code}:\n{text}"
    assert "Traceback" not in text
    assert len(lines) == 1, text
    assert names in lines[0] and fix in lines[0], lines[0]


@pytest.mark.parametrize("case", list(CASES))
def test_configuration_error_is_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    service, variables, names, fix = CASES[case]
    _assert_one_line(*_run(service, _env(tmp_path, **variables)), names, fix)


@pytest.mark.parametrize("service", ["inverter", "bms"])
def test_metrics_port_in_use(service: str, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        devices = {"INVERTER_DEVICES": "pi30+tcp://127.0.0.1:9"} if service == "inverter" else {}
        devices |= {"BMS_DEVICES": "daly+serial:///dev/ttyUSB2"} if service == "bms" else {}
        env = _env(tmp_path, METRICS_PORT=str(port), **devices)
        _assert_one_line(*_run(service, env), f"METRICS_PORT={port}", "choose a free port")


def test_state_dir_that_is_a_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("not a directory")
    env = _env(tmp_path, INVERTER_DEVICES="pi30+tcp://127.0.0.1:9")
    _assert_one_line(*_run("inverter", env), "STATE_DIR", "point STATE_DIR at a directory")


@contextlib.contextmanager
def _unwritable(directory: Path) -> Iterator[None]:
    """A directory this process (root included: the immutable flag) cannot create files in."""
    directory.mkdir()
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(directory)], capture_output=True).returncode:
            pytest.skip("running as root without chattr +i here: no way to make a directory unwritable")
        undo = [chattr, "-i", str(directory)]
    else:
        directory.chmod(0o555)
        undo = ["chmod", "755", str(directory)]
    try:
        try:
            (directory / "probe").touch()
        except OSError:
            pass
        else:
            pytest.skip("this file system lets us write anyway")
        yield
    finally:
        subprocess.run(undo, check=True)


@pytest.mark.parametrize("service", ["inverter", "bms"])
def test_unwritable_state_dir_is_caught_at_start(service: str, tmp_path: Path) -> None:
    """Before: the reader started, and every reading spooled while the broker was down logged
    a traceback (31 in 10 s)."""
    state = tmp_path / "state"
    devices = (
        {"INVERTER_DEVICES": "pi30+tcp://127.0.0.1:9"}
        if service == "inverter"
        else {"BMS_DEVICES": "daly+tcp://127.0.0.1:9"}
    )
    with _unwritable(state):
        code, lines = _run(service, _env(tmp_path, STATE_DIR=str(state), **devices))
    _assert_one_line(code, lines, "STATE_DIR", "make it writable")


# -- not configuration errors: logged at once, retried ----------------------------------------


@pytest.mark.parametrize(
    ("host", "why"), [("127.0.0.1", "Connection refused"), ("broker.invalid", "not known")], ids=["closed", "unknown"]
)
def test_unreachable_broker_is_logged_at_once(
    host: str, why: str, tmp_path: Path, spawn: Callable[..., Service], wait_for: WaitFor
) -> None:
    port = free_port()
    env = _env(tmp_path, MQTT_HOST=host, MQTT_PORT=str(port), INVERTER_DEVICES="pi30+tcp://127.0.0.1:9?name=inv")
    service = spawn(["run", "inverter"], env)
    # one line: which broker, why; at once (before: nothing for 20 s)
    found = wait_for(lambda: service.matching(f"{host}:{port}", why), 5, what=f"a line about {host}:{port}")
    assert "retrying" in found[0]
    assert service.proc.poll() is None  # a broker that is down is waited for, not fatal
    assert "Traceback" not in service.text()


def test_connect_failures_are_logged_at_doubling_intervals(caplog: pytest.LogCaptureFixture, wait_for: WaitFor) -> None:
    """Retries every 50-100 ms for seconds: the log gets the first failure at once and then a
    line per doubling interval (1 s, 2 s, …), each saying how many attempts so far."""
    client = MqttClient(
        CommonSettings(mqtt_host="127.0.0.1", mqtt_port=free_port()),
        "flaky",
        reconnect_min_delay=0.05,
        reconnect_max_delay=0.1,
    )
    caplog.set_level(logging.WARNING, logger="solarstack.core.mqtt")

    def failures() -> list[str]:
        return [r.getMessage() for r in caplog.records if "127.0.0.1" in r.getMessage()]

    client.start()
    try:
        wait_for(lambda: len(failures()) >= 3, 10, what="three failure lines")
        lines = failures()
        assert "Connection refused" in lines[0] and "retrying" in lines[0]
        # the third line comes >= 1 s + 2 s after the first: by then 20+ attempts were made
        attempts = int(lines[2].split("(")[-1].split()[0])
        assert attempts >= 20, lines
    finally:
        client.stop(timeout=1)


def test_missing_serial_adapter_warns_and_is_picked_up_when_plugged_in(
    tmp_path: Path, spawn: Callable[..., Service], wait_for: WaitFor
) -> None:
    """Hot-plug: the adapter's path does not exist at start. The reader keeps running with
    warnings that name the path (no traceback), and reads the device once it appears."""
    link = tmp_path / "ttyUSB-inverter"
    env = _env(
        tmp_path,
        INVERTER_DEVICES=f"pi30+serial://{link}?name=inv",
        INVERTER_POLL_SECONDS="0.5",
        INVERTER_TIMEOUT="0.5",
        INVERTER_RETRIES="0",
        INVERTER_BREAKER_RESET_SECONDS="1",
        LOG_LEVEL="INFO",
    )
    reader = spawn(["run", "inverter"], env)
    warning = wait_for(lambda: reader.matching("WARNING", str(link)), 15, what="a warning naming the path")
    assert "No such file or directory" in warning[0]
    assert reader.proc.poll() is None
    spawn(["sim", "inverter", "--pty", "--link", str(link)], env)  # plugged in
    wait_for(lambda: reader.matching("inv is available"), 15, what="the reader to read the device")
    assert "Traceback" not in reader.text()

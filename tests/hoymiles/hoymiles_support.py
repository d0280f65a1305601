"""What the Hoymiles tests share: the simulated DTU as a real process on free ports
(`DTUSim`: its control port and connection log) and the real `solarstack run hoymiles`
process (`start_reader`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from support import free_port, wait_for


@dataclass
class DTUSim:
    proc: subprocess.Popen[str]
    port: int
    control_port: int

    def control(self, line: str) -> str:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as s:
            s.sendall(line.encode() + b"\n")
            return s.makefile().readline().strip()

    def events(self) -> list[dict[str, Any]]:
        answer = self.control("log")
        assert answer.startswith("ok "), answer
        events: list[dict[str, Any]] = json.loads(answer[3:])
        return events

    def url(self, name: str = "roof", **options: str) -> str:
        extra = "".join(f"&{k}={v}" for k, v in options.items())
        return f"hoymiles+tcp://127.0.0.1:{self.port}?name={name}{extra}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_sim(*args: str) -> DTUSim:
    """The simulator on free ports (give `--start 12:00` for a sun that does not depend on
    when the test runs)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "solarstack.cli", "sim", "hoymiles", "--tcp", "0", "--control", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    control = proc.stdout.readline().strip()
    assert first.startswith("tcp://127.0.0.1:") and control.startswith("control tcp://"), (first, control)
    return DTUSim(proc, int(first.rsplit(":", 1)[1]), int(control.rsplit(":", 1)[1]))


@dataclass
class Reader:
    proc: subprocess.Popen[str]
    log: Path
    metrics: int

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def start_reader(broker: Any, devices: str, tmp_path: Path, **env: str) -> Reader:
    metrics = free_port()
    log = tmp_path / "reader.log"
    full = {
        **os.environ,
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.port),
        "STATE_DIR": str(tmp_path / "state"),
        "METRICS_PORT": str(metrics),
        "METRICS_HOST": "127.0.0.1",
        "HOYMILES_DEVICES": devices,
        "HOYMILES_INTERVAL_SECONDS": "2",
        "HOYMILES_TIMEOUT": "2",
        "LOG_LEVEL": "INFO",
        **env,
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "solarstack.cli", "run", "hoymiles"],
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    reader = Reader(proc, log, metrics)

    def ready() -> bool:
        assert proc.poll() is None, reader.output()
        try:
            return requests.get(f"http://127.0.0.1:{metrics}/ready", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_for(ready, 20, interval=0.1, what="hoymiles reader /ready")
    return reader

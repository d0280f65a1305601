"""Every reader service and every simulator logs through core/log.py: with LOG_FORMAT=json,
each line it writes on stderr is one JSON object (ts, level, logger, msg), from start-up to a
clean stop. Real processes: `solarstack sim <name> --tcp 0`, `solarstack run <reader>` polling
it, a real Mosquitto; the reader runs until its state is on the broker, then gets SIGTERM.
(The web's own logging is tested with the web.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from solarstack.services.registry import SIMULATORS, readers
from support import MqttRecorder, free_port, wait_for

pytestmark = pytest.mark.timeout(60)

CLI = [sys.executable, "-m", "solarstack.cli"]


def _clean_env(**extra: str) -> dict[str, str]:
    """No inherited solarstack settings: only what the test gives."""
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")
    return {**{k: v for k, v in os.environ.items() if k in keep}, "LOG_FORMAT": "json", **extra}


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    return out, err


def _json_lines(stderr: str, who: str) -> list[dict[str, Any]]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, f"{who} logged nothing"
    parsed = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"{who}: not one JSON object per line: {line!r}") from None
        assert isinstance(entry, dict) and {"ts", "level", "logger", "msg"} <= set(entry), line
        parsed.append(entry)
    return parsed


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


@pytest.mark.parametrize("reader", readers(), ids=lambda r: r.name)
def test_reader_and_its_simulator_log_json_lines(
    reader: Any, mosquitto: Any, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    sim = next((s for s in SIMULATORS if s.reader == reader.name), None)
    if sim is None:  # an in-process fake (the house reader's I2C bus): its demo URL is all it needs
        device, url = reader.name, reader.demo_devices
    else:
        sim_proc = subprocess.Popen(
            [*CLI, *sim.command("127.0.0.1", 0)],
            env=_clean_env(LOG_LEVEL="INFO"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(sim_proc)
        assert sim_proc.stdout is not None
        endpoint = sim_proc.stdout.readline().strip()  # its first line says where it serves
        assert endpoint.startswith(("tcp://127.0.0.1:", "http://127.0.0.1:")), endpoint
        device, url = sim.device, sim.url("127.0.0.1", int(endpoint.rsplit(":", 1)[1]))

    recorder = MqttRecorder(mosquitto, f"solarstack/{device}/state")
    try:
        wait_for(recorder.subscribed.is_set, what="subscribed")
        env = _clean_env(
            LOG_LEVEL="DEBUG",
            MQTT_HOST=mosquitto.host,
            MQTT_PORT=str(mosquitto.port),
            METRICS_HOST="127.0.0.1",
            METRICS_PORT=str(free_port()),
            STATE_DIR=str(tmp_path / "state"),
            **{reader.devices_var: url},
        )
        proc = subprocess.Popen(
            [*CLI, *reader.command], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        processes.append(proc)
        wait_for(lambda: recorder.payloads() or proc.poll() is not None, 20, what=f"{reader.name} state")
        assert proc.poll() is None, proc.communicate()
    finally:
        recorder.close()

    out, err = _stop(proc)
    assert proc.returncode == 0, err[-2000:]
    entries = _json_lines(err, f"solarstack run {reader.name}")
    assert any(e["logger"].startswith("solarstack") for e in entries), entries
    assert any(e["level"] == "DEBUG" for e in entries), "LOG_LEVEL=DEBUG was not applied"
    assert out == "", f"stdout is not for logs: {out!r}"

    if sim is None:
        return
    _, sim_err = _stop(sim_proc)
    sim_entries = _json_lines(sim_err, f"solarstack sim {sim.name}")
    messages = [e["msg"] for e in sim_entries]
    assert any(m.startswith(("serving on tcp://127.0.0.1:", "serving on http://127.0.0.1:")) for m in messages)
    if endpoint.startswith("tcp://"):
        assert any(m.startswith("client 127.0.0.1:") and m.endswith("connected") for m in messages), messages


@pytest.mark.parametrize("sim", SIMULATORS, ids=lambda s: s.name)
def test_simulator_refuses_a_bad_log_format_in_one_line(sim: Any) -> None:
    result = subprocess.run(
        [*CLI, *sim.command("127.0.0.1", 0)],
        env=_clean_env(LOG_FORMAT="yaml"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "LOG_FORMAT='yaml'" in result.stderr, result.stderr

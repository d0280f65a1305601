"""`solarstack run <reader> --dry-run`: each device polled once, every topic and payload it
would publish printed on stdout, nothing published (a subscriber on the real broker the
reader is configured for sees no message), exit 0; a device that does not answer: exit 1
with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from shaping_support import ENV, simulator

from support import MqttRecorder, free_port


def run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "solarstack.cli", *args],
        capture_output=True,
        text=True,
        env={**ENV, **env},
        timeout=timeout,
    )


def printed(stdout: str) -> dict[str, str]:
    """topic -> payload of the dry run's lines (`topic payload`)."""
    return dict(line.split(" ", 1) for line in stdout.splitlines() if line)


def test_dry_run_prints_every_topic_and_publishes_nothing(mosquitto: Any, tmp_path: Path, wait_for: Any) -> None:
    rec = MqttRecorder(mosquitto)
    wait_for(rec.subscribed.is_set, what="recorder subscribed")
    state_dir = tmp_path / "state"
    with simulator("bms", "--protocol", "jkserial", "--pty") as pty:
        result = run(
            ["run", "bms", "--dry-run"],
            {
                "MQTT_HOST": mosquitto.host,
                "MQTT_PORT": str(mosquitto.port),
                "STATE_DIR": str(state_dir),
                "METRICS_PORT": str(free_port()),
                "BMS_DEVICES": f"jkserial+serial://{pty}?name=pack1&exclude=temperature_mos&scale=power:0.001:kW",
            },
        )
    assert result.returncode == 0, result.stderr
    out = printed(result.stdout)
    assert set(out) == {
        "solarstack/pack1/catalog",
        "homeassistant/device/pack1/config",
        "solarstack/pack1/availability",
        "solarstack/pack1/state",
    }
    assert out["solarstack/pack1/availability"] == "online"
    state = json.loads(out["solarstack/pack1/state"])
    assert "temperature_mos" not in state and abs(state["power"]) < 10  # shaped like the real run
    fields = {f["key"]: f for f in json.loads(out["solarstack/pack1/catalog"])["fields"]}
    assert fields["power"]["unit"] == "kW"
    # nothing reached the broker: a marker published now arrives, and is all the recorder saw
    rec.publish("test/marker", "after the dry run")
    wait_for(lambda: rec.last("test/marker"), 5, what="the marker (the recorder is live)")
    assert rec.topics() == ["test/marker"]
    assert not state_dir.exists() or not any(state_dir.rglob("*")), "the dry run wrote to STATE_DIR"
    rec.close()


def test_dry_run_of_a_silent_device_exits_1_with_one_line(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there
    result = run(
        ["run", "inverter", "--dry-run"],
        {
            "STATE_DIR": str(tmp_path / "state"),
            "INVERTER_DEVICES": f"pi30+tcp://127.0.0.1:{dead}?name=inv1",
            "INVERTER_TIMEOUT": "0.3",
            "INVERTER_RETRIES": "0",
            "LOG_LEVEL": "ERROR",
        },
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("dry run: inv1: "), result.stderr
    assert "Traceback" not in result.stderr


def test_dry_run_is_offered_by_readers_only() -> None:
    result = run(["run", "collector", "--dry-run"], {})
    assert result.returncode == 2 and "unrecognized arguments: --dry-run" in result.stderr

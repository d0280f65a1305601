"""run_service: SIGTERM stops a real service cleanly (offline published, exit 0); ConfigError exits 2."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from typing import Any

import pytest

from solarstack.core.errors import ConfigError
from solarstack.core.runtime import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, run_service
from support import MqttRecorder

_SERVICE = """
import asyncio, sys
from solarstack.core.mqtt import MqttClient
from solarstack.core.runtime import run_service
from solarstack.core.settings import CommonSettings

async def main(stop):
    client = MqttClient(CommonSettings(mqtt_host=sys.argv[1], mqtt_port=int(sys.argv[2])), "svc",
                        will_topic="solarstack/svc/availability")
    client.start()
    assert await asyncio.to_thread(client.wait_connected, 5)
    print("ready", flush=True)
    await stop.wait()
    await asyncio.to_thread(client.stop)

sys.exit(run_service(main))
"""


def test_sigterm_publishes_offline_and_exits_0(mosquitto: Any, wait_for: Any) -> None:
    rec = MqttRecorder(mosquitto, "solarstack/svc/availability")
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVICE, mosquitto.host, str(mosquitto.port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(rec.subscribed.is_set, what="subscribed")
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        wait_for(lambda: rec.payloads() == [b"online"], what="online")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, proc.stderr.read().decode() if proc.stderr else ""
        wait_for(lambda: rec.payloads() == [b"online", b"offline"], what="offline")
        # a clean DISCONNECT (no LWT): the offline came from the service itself
        assert "Client svc disconnected." in mosquitto.log_text()
    finally:
        proc.kill()
        proc.wait()
        rec.close()


def test_config_error_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    async def main(stop: asyncio.Event) -> None:
        raise ConfigError("INVERTER_DEVICES is empty: give at least one device URL")

    assert run_service(main) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err == "configuration error: INVERTER_DEVICES is empty: give at least one device URL\n"


def test_clean_return_is_0_and_crash_is_1() -> None:
    async def fine(stop: asyncio.Event) -> None:
        return None

    async def crash(stop: asyncio.Event) -> None:
        raise RuntimeError("bug")

    assert run_service(fine) == EXIT_OK
    assert run_service(crash) == EXIT_FAILED


_STUBBORN = """
import asyncio, sys
from solarstack.core.runtime import run_service

async def main(stop):
    print("ready", flush=True)  # inside main: the signal handlers are in place
    await stop.wait()
    print("stopping", flush=True)
    await asyncio.Event().wait()  # a shutdown that hangs

sys.exit(run_service(main))
"""


def test_second_signal_cancels_a_hung_shutdown() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _STUBBORN], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        proc.send_signal(signal.SIGINT)
        assert proc.stdout.readline().strip() == b"stopping"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == EXIT_FAILED
    finally:
        proc.kill()
        proc.wait()

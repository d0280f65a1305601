"""The shared `mosquitto` fixture itself: a real broker, auth on when users are given, restartable."""

from __future__ import annotations

import subprocess
from typing import Any


def _pub(broker: Any, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-t", "t/x", "-m", "hi", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=10)


def test_anonymous_broker_accepts_a_publish(mosquitto: Any) -> None:
    assert _pub(mosquitto).returncode == 0


def test_password_broker_refuses_anonymous_and_wrong_password(mosquitto_factory: Any) -> None:
    broker = mosquitto_factory(users={"alice": "s3cret"}, acl="user alice\ntopic readwrite t/#\n")
    assert _pub(broker).returncode != 0
    assert _pub(broker, "-u", "alice", "-P", "wrong").returncode != 0
    assert _pub(broker, "-u", "alice", "-P", "s3cret").returncode == 0


def test_broker_restarts_on_the_same_port(mosquitto: Any, wait_for: Any) -> None:
    port = mosquitto.port
    mosquitto.stop()
    assert _pub(mosquitto).returncode != 0
    mosquitto.start()
    assert mosquitto.port == port
    wait_for(lambda: _pub(mosquitto).returncode == 0, timeout=5, what="publish after restart")

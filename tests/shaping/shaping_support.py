"""What the shaping tests share: real simulator and reader processes (`solarstack sim …`,
`solarstack run …`), stopped like SIGTERM would, and a reader's /metrics read once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import requests

#: The environment of child processes: only what finds Python and solarstack, so no setting a
#: developer has exported (MQTT_HOST, STATE_DIR, SOLARSTACK_CONFIG…) leaks into a test.
_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
ENV = {k: v for k, v in os.environ.items() if k in _KEPT}


def spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "solarstack.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**ENV, **(env or {})},
    )


def stop(proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


@contextmanager
def simulator(*args: str) -> Iterator[str]:
    """`solarstack sim <args>`: yields the address it prints first (a pty path or tcp:// URL)."""
    proc = spawn(["sim", *args])
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    try:
        assert address.startswith(("/dev/", "tcp://")), (address, proc.stderr.read() if proc.stderr else "")
        yield address
    finally:
        stop(proc)


def metrics_text(port: int) -> str:
    return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


def sample(text: str, name: str, **labels: str) -> float | None:
    """One sample's value in a /metrics text, None when absent."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    for line in text.splitlines():
        if (line.startswith(name + "{") or line.startswith(name + " ")) and all(w in line for w in want):
            return float(line.rsplit(" ", 1)[1])
    return None

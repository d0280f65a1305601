"""What the collector tests share: the real `solarstack run collector` process (`CollectorProcess`)
and a site that publishes catalogues and numbered states through the readers' own MQTT client
(`Site`, core/mqtt.py MqttClient: it spools while the broker is down, as a reader does)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from solarstack.core.mqtt import MqttClient
from solarstack.core.settings import CommonSettings
from support import free_port, wait_for

#: the states' times: state i of a device is at BASE + i seconds (unique per device and i)
BASE = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
BASE_NS = int(BASE.timestamp()) * 1_000_000_000 + 250_000_000


def ts_of(i: int) -> str:
    return (BASE + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")


def ns_of(i: int) -> int:
    return BASE_NS + i * 1_000_000_000


def state(i: int, cells: int = 4) -> dict[str, Any]:
    """A state with every kind of value: ints, floats, a bool, a string, an array."""
    return {
        "ts": ts_of(i),
        "seq": i,  # an int: must land as a float
        "pv_input_power": 1000 + i,
        "battery_voltage": round(52.1 + i / 1000, 3),  # readers round to the field's precision
        "charging": i % 2 == 0,
        "mode": "battery" if i % 3 else "line",
        "cell_voltage": [round(3.301 + c / 1000 + i / 100000, 5) for c in range(cells)],
        "missing": None,
    }


def catalog(device: str, kind: str) -> dict[str, Any]:
    return {"schema": 1, "device": {"id": device, "name": device, "kind": kind}, "fields": [], "settings": []}


class Site:
    """Publishes like a reader: retained catalogues and states, QoS 1, spooled while the broker is away."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str = "test-site",
        prefix: str = "solarstack",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        settings = CommonSettings(
            mqtt_host=host, mqtt_port=port, mqtt_prefix=prefix, mqtt_username=username, mqtt_password=password
        )
        self.prefix = prefix
        self.client = MqttClient(settings, client_id, reconnect_min_delay=0.1, reconnect_max_delay=0.5)
        self.client.start()
        assert self.client.wait_connected(5), "site publisher did not connect"

    def catalog(self, device: str, kind: str) -> None:
        self.client.publish(f"{self.prefix}/{device}/catalog", json.dumps(catalog(device, kind)), retain=True)

    def state(self, device: str, payload: dict[str, Any] | bytes) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(f"{self.prefix}/{device}/state", data, retain=True)

    def idle(self) -> bool:
        """Everything published was acknowledged by the broker (nothing spooled or in flight)."""
        c = self.client.counters()
        return self.client.connected and c.spool_depth == 0 and not self.client._inflight

    def close(self) -> None:
        self.client.stop()


class CollectorProcess:
    """`solarstack run collector` as a real process (SIGKILL-able), its log in `workdir`."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.metrics_port = free_port()
        self.env = {
            **os.environ,
            "STATE_DIR": str(workdir / "state"),
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(self.metrics_port),
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "collector.log"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 15.0) -> CollectorProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "solarstack.cli", "run", "collector"], env=self.env, stdout=log, stderr=log
            )
        wait_for(self.ready, timeout, interval=0.05, what="collector /ready")
        return self

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"collector exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/ready", timeout=1) as r:
                return int(r.status) == 200
        except OSError:
            return False

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics: name{labels} -> value (labels sorted, as `k="v",…`)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
        return out

    def kill(self) -> None:
        """SIGKILL: no flush, no clean disconnect."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        return int(proc.returncode)


class Publisher:
    """Publishes states 0…n-1 of one device at about `rate` per second from a thread."""

    def __init__(self, site: Site, device: str, n: int, rate: float) -> None:
        import threading

        self.site, self.device, self.n, self.rate = site, device, n, rate
        self.published = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Publisher:
        self._thread.start()
        return self

    def _run(self) -> None:
        import time

        started = time.monotonic()
        for i in range(self.n):
            delay = started + i / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the publisher, not waiting for a result
            self.site.state(self.device, state(i))
            self.published = i + 1

    def join(self, timeout: float = 30.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"publisher stuck at {self.published}/{self.n}"


CollectorFactory = Callable[..., CollectorProcess]
SiteFactory = Callable[..., Site]

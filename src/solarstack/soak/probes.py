"""Soak harness: what it measures while the stack runs — from the outside, as a user could.

- `Tap`: an MQTT subscriber with a persistent session (QoS 1) recording every state message
  of every device — its `ts`, when it arrived, and its energy totals — and every catalogue;
- `EnergyTruth`: the plant's exact energy integrals, read from an inverter simulator's control
  port (`energy`, sim/inverter.py) every few seconds;
- `rss_of_group()`: the resident memory of a process group (a service and what it forked);
- `InfluxReader` / `VictoriaReader`: every point the sink holds, as (device, ts in ns).

It must not import service code: it speaks MQTT, TCP and HTTP to the processes, and reads /proc.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from solarstack.soak.analysis import State, TruthSample


def ts_ns(ts: str) -> int:
    """A state's ISO-8601 `ts` in integer nanoseconds (as the collector stamps its point)."""
    when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


@dataclass
class Tap:
    """Every state message on `<prefix>/+/state`, and the catalogues, as they arrive."""

    host: str
    port: int
    username: str
    password: str
    prefix: str = "solarstack"
    client_id: str = "soak-tap"
    states: list[State] = field(default_factory=list)
    catalogs: dict[str, dict[str, Any]] = field(default_factory=dict)
    bad: int = 0  # state messages without a readable ts
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Tap:
        # A persistent session: what readers publish while the tap reconnects (a broker
        # restart) is queued for it by the broker, as for the collector.
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False)
        self._client.username_pw_set(self.username, self.password)
        self._client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)  # type: ignore[arg-type]
        self._client.max_queued_messages_set(0)
        topics = [(f"{self.prefix}/+/state", 1), (f"{self.prefix}/+/catalog", 1)]
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe(topics)
        self._client.on_message = self._on_message
        self._client.connect_async(self.host, self.port)
        self._client.loop_start()
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        arrived = time.time()
        parts = msg.topic.split("/")
        if len(parts) != 3:
            return
        device, kind = parts[1], parts[2]
        try:
            doc = json.loads(msg.payload)
        except ValueError:
            with self.lock:
                self.bad += kind == "state"
            return
        if kind == "catalog":
            with self.lock:
                self.catalogs[device] = doc
            return
        ts = doc.get("ts") if isinstance(doc, dict) else None
        try:
            ns = ts_ns(ts) if isinstance(ts, str) else None
        except ValueError:
            ns = None
        if ns is None:
            with self.lock:
                self.bad += 1
            return
        numbers = {k: float(v) for k, v in doc.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        with self.lock:
            self.states.append(State(device, ns, arrived, bool(msg.retain), numbers))

    def snapshot(self) -> list[State]:
        with self.lock:
            return list(self.states)

    def last_arrival(self) -> dict[str, float]:
        with self.lock:
            out: dict[str, float] = {}
            for s in self.states:
                out[s.device] = max(out.get(s.device, 0.0), s.arrived)
            return out


class EnergyTruth:
    """Samples of a simulator's plant energy integrals (kWh, simulated time) against wall time.

    `lifetime` counts the simulator's starts (the harness bumps it when it restarts the
    process): a restarted plant integrates from zero again, so samples of two lifetimes
    never mix."""

    def __init__(self, device: str, host: str, port: int) -> None:
        self.device = device
        self.address = (host, port)
        self.lifetime = 0
        self.samples: list[TruthSample] = []
        self.errors = 0

    def sample(self) -> None:
        try:
            with socket.create_connection(self.address, timeout=1.0) as sock:
                sock.sendall(b"energy\n")
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
        except OSError:
            self.errors += 1
            return
        words = dict(w.split("=", 1) for w in buf.decode().split()[1:] if "=" in w)
        if not buf.startswith(b"ok") or "clock" not in words:
            self.errors += 1
            return
        self.samples.append(
            TruthSample(
                self.lifetime,
                float(words["clock"]),
                {k[: -len("_kwh")]: float(v) for k, v in words.items() if k.endswith("_kwh")},
            )
        )


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            # the fields after the command (which may hold spaces) start after its ')'
            if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                pids.append(int(entry))
    return pids


def rss_of_group(pgid: int) -> float | None:
    """MB resident in every process of the group (None when none is left)."""
    total = 0
    found = False
    for pid in _group_pids(pgid):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    found = True
                    break
    return total / 1024 if found else None


def written_by_group(pgid: int) -> int | None:
    """Bytes every live process of the group has caused to be written to storage (write_bytes)."""
    total = 0
    found = False
    for pid in _group_pids(pgid):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/io").read_text().splitlines():
                if line.startswith("write_bytes:"):
                    total += int(line.split()[1])
                    found = True
                    break
    return total if found else None


def _get(url: str, timeout: float = 30.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bytes(response.read())


def _post(url: str, data: bytes, timeout: float = 10.0) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=timeout) as response:
        return bytes(response.read())


class InfluxReader:
    """InfluxDB 1.x: every point of every measurement, as device -> [ts ns, …] (duplicates kept)."""

    def __init__(self, url: str, database: str) -> None:
        self.url = url
        self.database = database

    def create_database(self) -> None:
        _post(f"{self.url}/query", urllib.parse.urlencode({"q": f'CREATE DATABASE "{self.database}"'}).encode())

    def _query(self, q: str) -> list[dict[str, Any]]:
        params = urllib.parse.urlencode({"q": q, "db": self.database, "epoch": "ns"})
        result = json.loads(_get(f"{self.url}/query?{params}"))["results"][0]
        if "error" in result:
            raise RuntimeError(f"InfluxQL {q!r}: {result['error']}")
        return list(result.get("series", []))

    def points(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for m in self._query("SHOW MEASUREMENTS"):
            for (name,) in m.get("values", []):
                # every field: a point is a row whatever fields it has; one series per device
                for series in self._query(f'SELECT * FROM "{name}" GROUP BY "device"'):
                    device = series.get("tags", {}).get("device", "")
                    out[device] += [int(row[0]) for row in series["values"]]
        return dict(out)


class VictoriaReader:
    """VictoriaMetrics: one series per (measurement, field, device); a point is a timestamp (ms)
    present in any of its device's series, counted as often as the series that holds it most."""

    def __init__(self, url: str) -> None:
        self.url = url

    def points(self) -> dict[str, list[int]]:
        with contextlib.suppress(OSError):
            _get(f"{self.url}/internal/force_flush")
        query = urllib.parse.urlencode({"match[]": '{device=~".+"}', "start": "0"})
        most: dict[str, dict[int, int]] = defaultdict(dict)
        for line in _get(f"{self.url}/api/v1/export?{query}").decode().splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            device = doc["metric"].get("device", "")
            counts: dict[int, int] = defaultdict(int)
            for ms in doc["timestamps"]:
                counts[int(ms)] += 1
            seen = most[device]
            for ms, n in counts.items():
                seen[ms] = max(seen.get(ms, 0), n)
        return {d: [ms * 1_000_000 for ms, n in seen.items() for _ in range(n)] for d, seen in most.items()}

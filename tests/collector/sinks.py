"""Real sinks for tests: VictoriaMetrics (the v2 write path) and Debian's InfluxDB 1.6 (v1, InfluxQL).

Plain classes, not fixtures, so any test folder can use them (tests/collector/conftest.py
wraps them as fixtures; elsewhere: `from collector.sinks import InfluxDB1, VictoriaMetrics`,
tests/ being on sys.path). Each runs its server on a free loopback port with its data in a
directory of the test's, can be stopped and started again on the same port and data (outage
tests), and reads back what was written:

- `VictoriaMetrics.export(match)`: every sample of the series matching a selector, from
  /api/v1/export (raw samples, timestamps in ms);
- `InfluxDB1.query(q)`: an InfluxQL statement's series, timestamps in ns (`epoch=ns`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from support import free_port, wait_for

VICTORIA_METRICS = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bytes(response.read())


def _post(url: str, data: bytes, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=timeout) as response:
        return bytes(response.read())


class _Server(ABC):
    """A server process with a log file in `workdir`, on 127.0.0.1:`port`."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @abstractmethod
    def command(self) -> list[str]: ...

    @abstractmethod
    def is_up(self) -> bool: ...

    def start(self, timeout: float = 10.0) -> _Server:
        if self.proc is not None and self.proc.poll() is None:
            return self
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log)

        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.command()[0]} exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            return self.is_up()

        wait_for(up, timeout, interval=0.02, what=f"{self.command()[0]} on {self.port}", ignore=(OSError,))
        return self

    def stop(self, timeout: float = 10.0) -> None:
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


class VictoriaMetrics(_Server):
    """victoria-metrics: takes /api/v2/write and /write (line protocol), answers PromQL and export."""

    def command(self) -> list[str]:
        return [
            VICTORIA_METRICS,
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.workdir / 'data'}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=ERROR",
        ]

    def is_up(self) -> bool:
        return _get(f"{self.url}/health", 1.0) == b"OK"

    def flush(self) -> None:
        """Make what was ingested searchable now (it is buffered for about a second otherwise)."""
        _get(f"{self.url}/internal/force_flush")

    def export(self, match: str) -> list[dict[str, Any]]:
        """[{"metric": {labels}, "values": [...], "timestamps": [ms...]}, …] for `match`."""
        self.flush()
        query = urllib.parse.urlencode({"match[]": match, "start": "0"})
        body = _get(f"{self.url}/api/v1/export?{query}").decode()
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def query(self, promql: str) -> list[dict[str, Any]]:
        self.flush()
        body = _get(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
        return list(json.loads(body)["data"]["result"])


class InfluxDB1(_Server):
    """Debian's influxd 1.6: /write (v1 line protocol) and InfluxQL /query; no /api/v2/write."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.rpc_port = free_port()
        self.config = workdir / "influxdb.conf"
        d = workdir
        self.config.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{d / "meta"}"\n'
            f'[data]\n  dir = "{d / "data"}"\n  wal-dir = "{d / "wal"}"\n  query-log-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n"
            "[subscriber]\n  enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
        )

    def command(self) -> list[str]:
        return [INFLUXD, "-config", str(self.config)]

    def is_up(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/ping", timeout=1.0) as response:
            return int(response.status) == 204

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"', method="POST")

    def query(self, q: str, db: str | None = None, *, method: str = "GET") -> list[dict[str, Any]]:
        """The series of the first statement's result ([] if none); AssertionError on an error."""
        params = {"q": q, "epoch": "ns", **({"db": db} if db else {})}
        encoded = urllib.parse.urlencode(params)
        raw = _post(f"{self.url}/query", encoded.encode()) if method == "POST" else _get(f"{self.url}/query?{encoded}")
        result = json.loads(raw)["results"][0]
        assert "error" not in result, result["error"]
        return list(result.get("series", []))

    def rows(self, q: str, db: str) -> list[dict[str, Any]]:
        """The first series of `q` as dicts (column -> value)."""
        series = self.query(q, db)
        if not series:
            return []
        columns = series[0]["columns"]
        return [dict(zip(columns, values, strict=True)) for values in series[0]["values"]]

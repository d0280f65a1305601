"""Helpers for the dashboard tests: the shipped dashboards' queries, Grafana's macros, and a
simulated site whose data those queries run against.

`panel_queries()` walks grafana/dashboards/*.json (what Grafana loads) and yields every target
with its panel, dashboard and datasource. `influxql_as_grafana_sends()` expands `$timeFilter`,
`$__interval` and template variables the way Grafana's InfluxQL data source does before a
query leaves it (`time >= <from>ms and time <= <to>ms`).

`SimulatedSite` is the stack as the registry lists it (src/solarstack/services/registry.py):
every simulator and reader as the real `solarstack sim|run` subprocesses on a real Mosquitto,
the real collector (`solarstack run collector`, v1 write path) into Debian's InfluxDB 1.6, and
a real Prometheus scraping every service at 1 s under its registry name as job (as
prometheus/prometheus.yml and `solarstack dev` name them). A reader added to the registry is
started here without a change.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collector.sinks import InfluxDB1
from solarstack.services.registry import SIMULATORS, readers
from support import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"
PROVISIONING = ROOT / "grafana" / "provisioning"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
DATABASE = "solarstack"
#: What Grafana puts for $__rate_interval with the datasource's 15 s scrape interval (4 x 15 s).
RATE_INTERVAL = "1m"


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    datasource: Mapping[str, str]
    target: Mapping[str, Any]
    time_from: str  # the panel's relative time, else the dashboard's

    @property
    def text(self) -> str:
        return str(self.target.get("expr") or self.target.get("query") or "")

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.target.get('refId')}: {self.text}"


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panel_queries(kind: str | None = None) -> list[Query]:
    """Every target of every panel of every shipped dashboard (of datasource type `kind`)."""
    out = []
    for name, board in dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                source = target.get("datasource") or panel.get("datasource") or {}
                if kind is None or source.get("type") == kind:
                    time_from = panel.get("timeFrom") or board["time"]["from"]
                    out.append(Query(name, panel["title"], source, target, time_from))
    return out


def variable_defaults(board: Mapping[str, Any]) -> dict[str, str]:
    return {v["name"]: str(v["current"]["value"]) for v in board.get("templating", {}).get("list", [])}


def time_range(relative: str, now: datetime) -> tuple[datetime, datetime]:
    """The start of a Grafana relative range (`now-30d`, `now/d`, `now/M`, `now/y`) in UTC, and now."""
    if relative == "now/d":
        return now.replace(hour=0, minute=0, second=0, microsecond=0), now
    if relative == "now/M":
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0), now
    if relative == "now/y":
        return now.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0), now
    found = re.fullmatch(r"now-(\d+)([smhd])", relative)
    if not found:
        raise ValueError(f"no rule for Grafana time {relative!r} in the test")
    seconds = int(found.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[found.group(2)]
    return datetime.fromtimestamp(now.timestamp() - seconds, UTC), now


def influxql_as_grafana_sends(query: str, start: datetime, end: datetime, variables: Mapping[str, str]) -> str:
    """Grafana's InfluxQL interpolation: $timeFilter, $__interval / $interval, then variables."""
    text = query.replace(
        "$timeFilter", f"time >= {int(start.timestamp() * 1000)}ms and time <= {int(end.timestamp() * 1000)}ms"
    )
    text = text.replace("$__interval", "10s").replace("$interval", "10s")
    for name, value in variables.items():
        text = text.replace(f"${{{name}}}", value).replace(f"${name}", value)
    leftover = re.search(r"\$\w+", text)
    assert leftover is None, f"{leftover.group(0)} is not a Grafana macro or a variable of the dashboard: {query}"
    return text


def prometheus_as_grafana_sends(expr: str) -> str:
    text = expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__interval", "15s")
    leftover = re.search(r"\$\w+", text)
    assert leftover is None, f"{leftover.group(0)} is not a Grafana macro: {expr}"
    return text


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class SimulatedSite:
    """Mosquitto, every simulator and reader, the collector, InfluxDB 1.6 and Prometheus."""

    workdir: Path
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    scrape: dict[str, int] = field(default_factory=dict)  # job -> metrics port
    influx: InfluxDB1 | None = None
    prometheus_port: int = 0
    mqtt_port: int = 0

    # -- processes ----------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        with (self.workdir / f"{name}.log").open("wb") as out:
            proc = subprocess.Popen(
                argv, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def _alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")

    def _base_env(self, name: str) -> dict[str, str]:
        port = free_port()
        self.scrape[name] = port
        state = self.workdir / "state" / name
        state.mkdir(parents=True, exist_ok=True)
        return {
            "MQTT_HOST": "127.0.0.1",
            "MQTT_PORT": str(self.mqtt_port),
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(port),
            "STATE_DIR": str(state),
            "HA_DISCOVERY": "off",
            "LOG_LEVEL": "WARNING",
        }

    def start(self) -> SimulatedSite:
        self._mosquitto()
        self.influx = InfluxDB1(self.workdir / "influxdb").start()
        self.influx.create_database(DATABASE)
        devices: dict[str, list[str]] = {}
        for sim in SIMULATORS:
            port = free_port()
            self._spawn(f"sim-{sim.name}", [sys.executable, "-m", "solarstack.cli", *sim.command("127.0.0.1", port)])
            devices.setdefault(sim.reader, []).append(sim.url("127.0.0.1", port))
        for service in readers():
            urls = [*devices.get(service.name, ()), *([service.demo_devices] if service.demo_devices else [])]
            if not urls:
                continue
            env = self._base_env(service.name)
            env[str(service.devices_var)] = ",".join(urls)
            env[f"{service.name.upper()}_POLL_SECONDS"] = "1"  # ignored by a reader without the setting
            self._spawn(service.name, [sys.executable, "-m", "solarstack.cli", "run", service.name], env)
        env = self._base_env("collector")
        assert self.influx is not None
        env.update(
            INFLUX_URL=self.influx.url,
            INFLUX_API="v1",
            INFLUX_DATABASE=DATABASE,
            COLLECTOR_CLIENT_ID="grafana-test-collector",
        )
        self._spawn("collector", [sys.executable, "-m", "solarstack.cli", "run", "collector"], env)
        self._prometheus()
        return self

    def _mosquitto(self) -> None:
        self.mqtt_port = free_port()
        conf = self.workdir / "mosquitto.conf"
        # `user root`: started as root, mosquitto would switch to `mosquitto`, who cannot read pytest's temp dirs
        conf.write_text(f"listener {self.mqtt_port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n")
        self._spawn("mosquitto", [MOSQUITTO, "-c", str(conf)])

        def listening() -> bool:
            self._alive()
            with socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=0.2):
                return True

        wait_for(listening, 5, what="mosquitto listening", ignore=(OSError,))

    def _prometheus(self) -> None:
        self.prometheus_port = free_port()
        lines = ["global:", "  scrape_interval: 1s", "  scrape_timeout: 900ms", "scrape_configs:"]
        for job, port in self.scrape.items():
            lines += [f"  - job_name: {job}", "    static_configs:", f"      - targets: ['127.0.0.1:{port}']"]
        conf = self.workdir / "prometheus.yml"
        conf.write_text("\n".join(lines) + "\n")
        self._spawn(
            "prometheus",
            [
                PROMETHEUS,
                f"--config.file={conf}",
                f"--storage.tsdb.path={self.workdir / 'prometheus'}",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
            ],
        )

        def ready() -> bool:
            self._alive()
            with urllib.request.urlopen(f"http://127.0.0.1:{self.prometheus_port}/-/ready", timeout=1) as r:
                return int(r.status) == 200

        wait_for(ready, 10, what="prometheus ready", ignore=(OSError,))

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            _stop(proc)
        if self.influx is not None:
            self.influx.stop()

    # -- reading back ----------------------------------------------------------------------
    def promql(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector `expr` yields now (AssertionError with Prometheus's error if it fails)."""
        self._alive()
        url = f"http://127.0.0.1:{self.prometheus_port}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        try:
            body = _get_json(url)
        except urllib.error.HTTPError as exc:  # 400: a query Prometheus cannot parse
            raise AssertionError(f"{expr}: {exc.read().decode(errors='replace')}") from None
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def influxql(self, query: str) -> list[dict[str, Any]]:
        self._alive()
        assert self.influx is not None
        return list(self.influx.query(query, DATABASE))

    def until(self, pending: dict[str, Any], check: Any, timeout: float) -> dict[str, Any]:
        """Run `check(item)` over `pending` until each returned true once, or `timeout` passed;
        what never did is returned (with its last answer)."""
        last: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for key, item in list(pending.items()):
                answer = check(item)
                if answer:
                    del pending[key]
                else:
                    last[key] = answer
            time.sleep(0.5)
        return {k: last.get(k) for k in pending}


def has_values(series: list[dict[str, Any]]) -> bool:
    """An InfluxQL answer with at least one non-null value (besides time)."""
    return any(v is not None for s in series for row in s.get("values", []) for v in row[1:])


def iter_targets(board: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel, target

"""History sources: a real Prometheus scraping a real exporter, the ring buffer, and the fallback."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from web_support import free_port, wait_for

from solarstack.services.web.history import MAX_POINTS, PrometheusHistory, RingHistory, choose_step

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


@pytest.fixture
def exporter() -> Iterator[tuple[int, CollectorRegistry]]:
    """Gauges named the way core.metrics exports readings (base units, `device` label)."""
    registry = CollectorRegistry()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield port, registry
    server.shutdown()
    thread.join(5)


@pytest.fixture
def prometheus(tmp_path: Path, exporter: tuple[int, CollectorRegistry]) -> Iterator[str]:
    if not Path(PROMETHEUS).exists():
        pytest.skip("needs Debian's prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        f"scrape_configs:\n  - job_name: web-test\n    static_configs:\n      - targets: ['127.0.0.1:{exporter[0]}']\n"
    )
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(url + "/-/ready", timeout=0.5).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(ready, 10, interval=0.05, what="prometheus ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_prometheus_history_converts_base_units_back(prometheus: str, exporter: tuple[int, CollectorRegistry]) -> None:
    _, registry = exporter
    power = Gauge("solarstack_pv_input_power_watts", "PV power", ["device"], registry=registry)
    soc = Gauge("solarstack_battery_capacity_ratio", "SOC", ["device"], registry=registry)
    power.labels("inverter").set(1234.0)
    soc.labels("inverter").set(0.87)  # metrics export % as a ratio
    history = PrometheusHistory(prometheus, RingHistory())
    units = {"pv_input_power": "W", "battery_capacity": "%"}

    def query() -> dict[str, list[tuple[float, float]]]:
        now = time.time()
        result = history.query("inverter", ["pv_input_power", "battery_capacity"], units, now - 120, now)
        assert result.source == "prometheus"
        return result.series if all(result.series.values()) else {}

    series = wait_for(query, 15, interval=0.25, what="samples scraped")
    assert {v for _, v in series["pv_input_power"]} == {1234.0}
    assert {v for _, v in series["battery_capacity"]} == {87.0}


def test_prometheus_down_falls_back_to_the_ring_buffer() -> None:
    ring = RingHistory()
    ring.record("inverter", {"ts": "2026-01-01T12:00:00Z", "pv_input_power": 500})
    ring.record("inverter", {"ts": "2026-01-01T12:00:05Z", "pv_input_power": 520})
    history = PrometheusHistory(f"http://127.0.0.1:{free_port()}", ring, timeout=0.5)
    start = 1767268800.0 - 60  # 2026-01-01T12:00:00Z minus a minute
    result = history.query("inverter", ["pv_input_power"], {"pv_input_power": "W"}, start, start + 3600)
    assert result.source == "memory"
    assert [v for _, v in result.series["pv_input_power"]] == [500.0, 520.0]


def test_ring_buffer_keeps_order_drops_replays_and_non_numbers() -> None:
    ring = RingHistory(points=100)
    ring.record("d", {"ts": "2026-01-01T00:00:10Z", "a": 1, "b": "text", "c": True, "e": [1, 2]})
    ring.record("d", {"ts": "2026-01-01T00:00:05Z", "a": 2})  # older than the last: a replay
    ring.record("d", {"ts": "2026-01-01T00:00:20Z", "a": float("nan")})
    ring.record("d", {"ts": "2026-01-01T00:00:30Z", "a": 3})
    result = ring.query("d", ["a", "b", "c", "e"], {}, 0, 2e9)
    assert result.series == {"a": [(1767225610.0, 1.0), (1767225630.0, 3.0)], "b": [], "c": [], "e": []}


def test_ring_buffer_averages_into_steps_for_long_ranges() -> None:
    ring = RingHistory(points=5000)
    base = 1767225600
    for i in range(2000):  # 2000 s of one reading a second
        ring.record("d", {"a": float(i)}, now=base + i)
    result = ring.query("d", ["a"], {}, base, base + 86400)
    assert result.step == 300
    points = result.series["a"]
    assert len(points) <= MAX_POINTS
    assert points[0] == (float(base), 149.5)  # the mean of 0..299 in the first 300 s bucket


@pytest.mark.parametrize(("hours", "step"), [(1, 15), (24, 300), (24 * 7, 1800), (24 * 30, 7200)])
def test_step_keeps_a_chart_under_500_points(hours: int, step: int) -> None:
    assert choose_step(0, hours * 3600) == step
    assert hours * 3600 / step <= MAX_POINTS

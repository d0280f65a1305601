"""History sources: a real Prometheus scraping a real exporter, the ring buffer, and the fallback.

The exporter is core.metrics' own (`ServiceMetrics.export_reading`), fed one reading for every
row of every protocol table and energy counter; history asks Prometheus for the series the
device catalogue names (`metric`, one naming rule), so a name the exporter does not make
shows up here as an empty series."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry, start_http_server
from web_support import DemoSite, free_port, wait_for, web_settings

from solarstack.core import catalog
from solarstack.core.fields import Field, FieldTable, Kind, Reading, Value
from solarstack.core.metrics import ServiceMetrics
from solarstack.devices.bms import BATTERY_COUNTERS
from solarstack.protocols import daly, jk02, jkserial, pi30, vedirect
from solarstack.protocols.pi30.energy import PI30_COUNTERS
from solarstack.services.web.history import MAX_POINTS, PrometheusHistory, RingHistory, choose_step
from solarstack.services.web.main import FALLBACK_POINTS, build

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


#: Every table a reader publishes fields from, one test device each (a key means one thing per device).
COUNTER_FIELDS: FieldTable = tuple(f for c in (*PI30_COUNTERS, *BATTERY_COUNTERS) for f in c.fields())
TABLES: dict[str, FieldTable] = {
    **{f"pi30_{name.lower()}": c.fields for name, c in pi30.COMMANDS.items() if c.read_only and c.fields},
    "jk02_cells_24": jk02.CELL_INFO_24,
    "jk02_cells_32": jk02.CELL_INFO_32,
    "jk02_device_info": jk02.DEVICE_INFO,
    "jkserial": jkserial.READ_ALL,
    **{f"daly_{code:02x}": table for code, table in daly.COMMANDS.items()},
    "vedirect": vedirect.FIELDS,
    "counters": COUNTER_FIELDS,
}
CELLS = 4


def sample(f: Field, i: int) -> Value:
    """A value of the row's kind, different per row so a mixed-up series shows."""
    if f.kind is Kind.ARRAY:
        return [1.5 + i + c / 100 for c in range(CELLS)]
    if f.kind is Kind.BOOL:
        return True
    if f.kind is Kind.ENUM:
        return next(iter((f.options or {"x": "x"}).values()))
    if f.kind is Kind.TEXT:
        return "text"
    return float(i + 2) if f.kind is Kind.FLOAT else i + 2


def device_id(name: str) -> str:
    return "t_" + "".join(c if c.isalnum() else "_" for c in name.lower())


@pytest.fixture
def exporter() -> Iterator[tuple[int, ServiceMetrics]]:
    """core.metrics' exporter (the one every reader serves) on a free port."""
    metrics = ServiceMetrics(CollectorRegistry(), "test")
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    yield port, metrics
    server.shutdown()
    thread.join(5)


@pytest.fixture
def prometheus(tmp_path: Path, exporter: tuple[int, ServiceMetrics]) -> Iterator[str]:
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


def test_history_finds_the_series_of_every_field_of_every_table(
    prometheus: str, exporter: tuple[int, ServiceMetrics]
) -> None:
    _, metrics = exporter
    now = datetime.now(UTC)
    wanted: dict[str, tuple[FieldTable, dict[str, Value]]] = {}
    for name, table in TABLES.items():
        values = {f.key: sample(f, i) for i, f in enumerate(table)}
        metrics.export_reading(Reading(device_id(name), now, values, table))
        wanted[device_id(name)] = (table, values)
    history = PrometheusHistory(prometheus, RingHistory())

    def missing(device: str, table: FieldTable, values: dict[str, Value]) -> list[str]:
        infos = catalog.parse(catalog.build({"id": device, "name": device, "kind": "inverter"}, table)).fields
        charted = {k: i for k, i in infos.items() if i.metric is not None}
        t = time.time()
        result = history.query(device, charted, t - 120, t + 1)
        assert result.source == "prometheus"
        lost = []
        for key, info in charted.items():
            value = values[key]
            expect: dict[str, float] = (
                {f"{key}_{c:02d}": float(v) for c, v in enumerate(value, 1)}  # type: ignore[arg-type]
                if info.kind == "array"
                else {key: float(value)}  # type: ignore[arg-type]
            )
            for series, number in expect.items():
                points = result.series.get(series) or []
                if not points or abs(points[-1][1] - number) > 1e-6 * max(1.0, abs(number)):
                    lost.append(f"{series} ({info.metric}): {points[-1:]} != {number}")
        return lost

    def all_found() -> dict[str, list[str]]:
        return {d: m for d, (table, values) in wanted.items() if (m := missing(d, table, values))}

    # wait for a scrape, then every series must be there with its value in the field's unit
    wait_for(lambda: not missing("t_counters", *wanted["t_counters"]), 15, interval=0.25, what="samples scraped")
    assert all_found() == {}
    counted = [f for f in COUNTER_FIELDS if f.unit == "kWh"]
    assert counted and all(catalog._field(f, None)["metric"].endswith("_joules_total") for f in counted)
    assert sum(len(t) for t in TABLES.values()) > 400


def test_energy_counter_history_and_csv_export_through_prometheus(
    prometheus: str, exporter: tuple[int, ServiceMetrics], mosquitto: Any, site: DemoSite
) -> None:
    """/api/historical and /api/export.csv with PROMETHEUS_URL: kWh counters come back in kWh."""
    _, metrics = exporter
    now = datetime.now(UTC)
    values: dict[str, Value] = {f.key: 12.5 for f in COUNTER_FIELDS}
    metrics.export_reading(Reading("meter", now, values, COUNTER_FIELDS))
    running = build(web_settings(mosquitto, PROMETHEUS_URL=prometheus))
    try:
        identity = {"id": "meter", "name": "Meter", "kind": "inverter"}
        site.client.publish("solarstack/meter/catalog", catalog.build(identity, COUNTER_FIELDS), retain=True)
        site.client.publish("solarstack/meter/state", json.dumps({"ts": now.isoformat(), **values}))
        client = running.app.test_client()
        wait_for(lambda: client.get("/api/data").get_json()["devices"].get("meter", {}).get("fields"), 10)
        query = "device=meter&fields=pv_energy,pv_energy_today,battery_energy_charged&hours=1"

        def series() -> dict[str, list[list[float]]]:
            body = client.get(f"/api/historical?{query}").get_json()
            assert body["source"] == "prometheus"
            return dict(body["series"]) if all(body["series"].values()) else {}

        found = wait_for(series, 15, interval=0.25, what="counter history")
        assert {k: {v for _, v in points} for k, points in found.items()} == {
            "pv_energy": {12.5},
            "pv_energy_today": {12.5},
            "battery_energy_charged": {12.5},
        }
        body = client.get(f"/api/historical?{query}").get_json()
        assert body["units"] == {"pv_energy": "kWh", "pv_energy_today": "kWh", "battery_energy_charged": "kWh"}
        rows = list(csv.DictReader(io.StringIO(client.get(f"/api/export.csv?{query}").get_data(as_text=True))))
        assert {r["field"] for r in rows} == {"pv_energy", "pv_energy_today", "battery_energy_charged"}
        assert {(r["unit"], float(r["value"])) for r in rows} == {("kWh", 12.5)}
        # hours=all asks Prometheus how far back it keeps data (15 days by default)
        body = client.get("/api/historical?device=meter&fields=pv_energy&hours=all").get_json()
        assert body["source"] == "prometheus" and body["series"]["pv_energy"]
        assert 14.9 * 86400 < body["end"] - body["start"] < 15.1 * 86400
    finally:
        running.shutdown()


def test_prometheus_down_falls_back_to_the_ring_buffer() -> None:
    ring = RingHistory()
    ring.record("inverter", {"ts": "2026-01-01T12:00:00Z", "pv_input_power": 500})
    ring.record("inverter", {"ts": "2026-01-01T12:00:05Z", "pv_input_power": 520})
    history = PrometheusHistory(f"http://127.0.0.1:{free_port()}", ring, timeout=0.5)
    start = 1767268800.0 - 60  # 2026-01-01T12:00:00Z minus a minute
    info = catalog.parse(catalog.build({"id": "inverter", "name": "I", "kind": "inverter"}, pi30.table("QPIGS")))
    result = history.query("inverter", {"pv_input_power": info.fields["pv_input_power"]}, start, start + 3600)
    assert result.source == "memory"
    assert [v for _, v in result.series["pv_input_power"]] == [500.0, 520.0]


def test_with_prometheus_the_in_memory_fallback_keeps_only_the_last_hour(mosquitto: Any) -> None:
    """Each worker's fallback ring holds FALLBACK_POINTS per field, not WEB_HISTORY_POINTS: the
    soak saw the web grow for hours while Prometheus held the same history."""
    running = build(
        web_settings(mosquitto, PROMETHEUS_URL=f"http://127.0.0.1:{free_port()}", WEB_HISTORY_POINTS="20000")
    )
    info = catalog.parse(catalog.build({"id": "d", "name": "D", "kind": "inverter"}, pi30.table("QPIGS")))
    try:
        base = 1767225600
        for i in range(2000):
            stamp = datetime.fromtimestamp(base + 5 * i, UTC).isoformat().replace("+00:00", "Z")
            running.history.record("d", {"ts": stamp, "pv_input_power": i})
        wanted = {"pv_input_power": info.fields["pv_input_power"]}
        result = running.history.query("d", wanted, base, base + 3 * 3600)
        assert result.source == "memory"  # Prometheus is not there: the fallback answers
        kept = [v for _, v in result.series["pv_input_power"]]  # averaged into the chart's steps
        assert 2000 - FALLBACK_POINTS <= min(kept) < 2000 - FALLBACK_POINTS + 10 and max(kept) > 1990
    finally:
        running.shutdown()


def test_ring_buffer_keeps_order_drops_replays_and_non_numbers() -> None:
    ring = RingHistory(points=100)
    ring.record("d", {"ts": "2026-01-01T00:00:10Z", "a": 1, "b": "text", "c": True, "e": [1, 2]})
    ring.record("d", {"ts": "2026-01-01T00:00:05Z", "a": 2})  # older than the last: a replay
    ring.record("d", {"ts": "2026-01-01T00:00:20Z", "a": float("nan")})
    ring.record("d", {"ts": "2026-01-01T00:00:30Z", "a": 3})
    result = ring.query("d", dict.fromkeys(["a", "b", "c", "e"]), 0, 2e9)
    assert result.series == {"a": [(1767225610.0, 1.0), (1767225630.0, 3.0)], "b": [], "c": [], "e": []}


def test_ring_buffer_averages_into_steps_for_long_ranges() -> None:
    ring = RingHistory(points=5000)
    base = 1767225600
    for i in range(2000):  # 2000 s of one reading a second
        ring.record("d", {"a": float(i)}, now=base + i)
    result = ring.query("d", {"a": None}, base, base + 86400)
    assert result.step == 300
    points = result.series["a"]
    assert len(points) <= MAX_POINTS
    assert points[0] == (float(base), 149.5)  # the mean of 0..299 in the first 300 s bucket


@pytest.mark.parametrize(("hours", "step"), [(1, 15), (24, 300), (24 * 7, 1800), (24 * 30, 7200)])
def test_step_keeps_a_chart_under_500_points(hours: int, step: int) -> None:
    assert choose_step(0, hours * 3600) == step
    assert hours * 3600 / step <= MAX_POINTS


@pytest.mark.parametrize("points", [100, RingHistory.WHOLE_UP_TO + 1])  # allocated whole, and grown
def test_ring_buffer_wraps_keeping_the_last_points_in_order(points: int) -> None:
    ring = RingHistory(points=points)
    base = 1767225600
    total = points * 2 + 37  # wrapped twice and then some
    for i in range(total):
        ring.record("d", {"a": float(i)}, now=base + i)
        if i == points // 2:  # half full: everything from the first, in order
            assert ring.earliest("d") == base
            last = max(0, i - 59)  # the newest minute (or all): raw points, not averaged
            half = ring.query("d", {"a": None}, base + last, base + i)
            assert half.series["a"] == [(float(base + k), float(k)) for k in range(last, i + 1)]
    assert ring.earliest("d") == base + total - points
    ring.record("d", {"a": -1.0}, now=base + total - 2)  # a replay after wrapping: dropped
    kept = ring.query("d", {"a": None}, base, base + 60)  # a short range: raw points
    assert kept.series["a"] == []  # long gone
    newest = ring.query("d", {"a": None}, base + total - 60, base + total)
    assert newest.series["a"] == [(float(base + k), float(k)) for k in range(total - 60, total)]


def test_the_fallback_ring_costs_16_bytes_a_point_and_is_allocated_whole() -> None:
    """The web's memory: the fallback beside Prometheus holds FALLBACK_POINTS of every field,
    allocated when the field first appears, so a worker does not creep up as it fills."""
    import tracemalloc

    ring = RingHistory(points=FALLBACK_POINTS)
    fields = {f"f{n}": 1.0 for n in range(200)}
    tracemalloc.start()
    try:
        ring.record("d", fields, now=1767225600)
        first, _ = tracemalloc.get_traced_memory()
        for i in range(1, FALLBACK_POINTS * 2):
            ring.record("d", fields, now=1767225600 + i)
        full, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_point = first / (len(fields) * FALLBACK_POINTS)
    assert 16 <= per_point < 18, per_point  # two doubles, plus each field's ring and key
    assert full - first < 0.01 * first, (first, full)  # filled and wrapped twice: no growth

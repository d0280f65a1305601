"""The energy page's arithmetic, API, CSV and pages, against a real Prometheus holding known counters.

The counters are written straight into a TSDB with `promtool tsdb create-blocks-from
openmetrics` (history months long cannot be scraped into being) and a real Prometheus serves
it. Their series names come from the device catalogues (`core.catalog.build` over the real
field tables), found by role as the web finds them. Samples sit at half past every hour, so
every day and month boundary falls between two samples and the step across it must land in
exactly one period. The zone is Europe/Berlin: boundaries an hour or two off UTC and a 23-hour
day (2026-03-29).

What each device does (the expected figures come from an oracle that walks the samples: a
period's energy is what the counter gained from its last sample before the period to its last
sample in it; a drop is a restart from zero):
- `inv`: PV and load at a different rate each day; its PV counter restarts from zero on
  2026-04-05 (state lost): no negative day, no day worth the old lifetime total;
- `mppt`: PV too, so the PV flow is the sum of two devices;
- `bms`: battery charge; unseen from 20:30 on 31 March to 03:30 on 1 April local time (while its
  counter ran on), across the month boundary: what it gained then is counted once, in April.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from web_support import DemoSite, WebServer, free_port, wait_for, web_settings

from solarstack.core import catalog
from solarstack.core.catalog import Catalog
from solarstack.core.errors import ConfigError
from solarstack.core.settings import load
from solarstack.devices.bms import BATTERY_COUNTERS
from solarstack.protocols import vedirect
from solarstack.protocols.pi30.energy import PI30_COUNTERS
from solarstack.services.web.app import create_app
from solarstack.services.web.energy import EnergyTotals, EnergyUnavailable, system_zone, windows, zone_name
from solarstack.services.web.history import RingHistory
from solarstack.services.web.settings import WebSettings
from solarstack.services.web.store import StateStore

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

BERLIN = ZoneInfo("Europe/Berlin")
#: "Now" of the fixed history: 30 days back crosses the DST change and 1 April, 12 months back May 2025.
NOW = datetime(2026, 4, 10, 12, 0, tzinfo=BERLIN)
FIRST = datetime(2025, 4, 1, 0, 30, tzinfo=UTC)
RESET_AT = datetime(2026, 4, 5, 10, 30, tzinfo=BERLIN)
GAP = (datetime(2026, 3, 31, 20, 30, tzinfo=BERLIN), datetime(2026, 4, 1, 3, 30, tzinfo=BERLIN))
J_PER_KWH = 3.6e6

PI30_FIELDS = tuple(f for c in PI30_COUNTERS for f in c.fields())
BMS_FIELDS = tuple(f for c in BATTERY_COUNTERS for f in c.fields())
MPPT_FIELDS = (vedirect.LABELS["H19"],)


def catalogue(device: str, fields: Any) -> Catalog:
    return catalog.parse(catalog.build({"id": device, "name": device, "kind": "inverter"}, fields))


CATALOGS = {
    "inv": catalogue("inv", PI30_FIELDS),
    "mppt": catalogue("mppt", MPPT_FIELDS),
    "bms": catalogue("bms", BMS_FIELDS),
}


def metric(cat: Catalog, flow: str) -> str:
    (info,) = cat.by_role(f"{flow}_energy")
    assert info.metric is not None and info.metric.endswith("_joules_total")
    return info.metric


@dataclass
class Series:
    """One device's counter of one flow: its samples (unix s, kWh), as exported."""

    device: str
    flow: str
    metric: str
    samples: list[tuple[float, float]]

    def energy(self, start: datetime, end: datetime) -> float | None:
        """The oracle: what the counter gained from its last sample <= start to its last <= end."""
        total, previous, seen = 0.0, None, False
        for t, v in self.samples:
            if t > end.timestamp():
                break
            if t > start.timestamp() and previous is not None:
                total += v - previous if v >= previous else v  # a drop: restarted from zero
                seen = True
            previous = v
        return total if seen else None


def hourly(device: str, flow: str, rate: Any, first: datetime, last: datetime, **kw: Any) -> Series:
    """A counter sampled at half past each hour; `rate(local time)` kWh in the hour up to it."""
    samples, value, t = [], 1000.0, first
    while t <= last:
        value += rate(t.astimezone(BERLIN))
        if kw.get("reset") and kw["reset"] - timedelta(minutes=1) < t <= kw["reset"]:
            value = rate(t.astimezone(BERLIN))  # restarted from zero one hour ago
        hidden = kw.get("gap") and kw["gap"][0] < t < kw["gap"][1]
        if not hidden:
            samples.append((t.timestamp(), round(value, 6)))
        t += timedelta(hours=1)
    return Series(device, flow, metric(CATALOGS.get(device) or DEMO_CATALOGS[device], flow), samples)


def day_rate(scale: float) -> Any:
    """Different every day, and twice as much in the two hours after midnight: the step across
    midnight is worth more than the day's average, so guessing it (extrapolating) shows."""
    return lambda t: scale * (1 + t.toordinal() % 7) * (2 if t.hour < 2 else 1)


def demo_catalogs() -> dict[str, Catalog]:
    """The demo site's inverter and pack catalogues, as web_support.DemoSite publishes them."""
    from web_support import INVERTER_FIELDS, PACK_FIELDS

    return {"inverter": catalogue("inverter", INVERTER_FIELDS), "pack1": catalogue("pack1", PACK_FIELDS)}


DEMO_CATALOGS = demo_catalogs()
FIXED = [
    hourly("inv", "pv", day_rate(0.5), FIRST, NOW, reset=RESET_AT),
    hourly("inv", "load", day_rate(0.2), FIRST, NOW),
    hourly("mppt", "pv", day_rate(0.05), FIRST, NOW),
    hourly("bms", "battery_charge", day_rate(0.1), FIRST, NOW, gap=GAP),
]


def recent(now: datetime) -> list[Series]:
    """The demo site's counters over the last 40 days up to `now` (the live API and pages)."""
    last = now.replace(minute=30, second=0, microsecond=0)
    last = last if last <= now else last - timedelta(hours=1)
    first = last - timedelta(days=40)
    return [
        hourly("inverter", "pv", day_rate(0.4), first, last),
        hourly("inverter", "load", day_rate(0.15), first, last),
        hourly("pack1", "battery_charge", day_rate(0.08), first, last),
    ]


def openmetrics(series: list[Series]) -> str:
    lines = []
    for name in sorted({s.metric for s in series}):
        lines += [f"# HELP {name} energy", f"# TYPE {name} counter"]
        for s in (s for s in series if s.metric == name):
            lines += [f'{name}{{device="{s.device}"}} {v * J_PER_KWH:.3f} {t:.3f}' for t, v in s.samples]
    return "\n".join([*lines, "# EOF", ""])


@dataclass
class Prom:
    url: str
    recent: list[Series]
    now: datetime


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prom]:
    if not (Path(PROMETHEUS).exists() and Path(PROMTOOL).exists()):
        pytest.skip("needs Debian's prometheus (and promtool)")
    tmp = tmp_path_factory.mktemp("energy-prom")
    now = datetime.now(UTC) - timedelta(minutes=1)
    live = recent(now)
    (tmp / "data.om").write_text(openmetrics([*FIXED, *live]))
    blocks = (str(tmp / "data.om"), str(tmp / "tsdb"))
    # One block per ~13 months (the default 2 h blocks would make thousands).
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=9600h", "-q", *blocks],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (tmp / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n")
    port = free_port()
    flags = ("--storage.tsdb.retention.time=10y", f"--web.listen-address=127.0.0.1:{port}")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}", *flags],
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
        wait_for(ready, 15, interval=0.05, what="prometheus ready")
        yield Prom(url, live, now)
    finally:
        proc.terminate()
        proc.wait(10)


def local_window(label: str, now: datetime, tz: ZoneInfo = BERLIN) -> tuple[datetime, datetime]:
    """A day's ("2026-04-01") or month's ("2026-04") bounds, worked out here, not by the code under test."""
    parts = [int(p) for p in label.split("-")]
    if len(parts) == 3:
        start = datetime(*parts, tzinfo=tz)
        nxt = start.date() + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    else:
        start = datetime(parts[0], parts[1], 1, tzinfo=tz)
        end = datetime(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1, tzinfo=tz)
    return start, min(end, now)


def expected(series: list[Series], flow: str, start: datetime, end: datetime) -> float | None:
    parts = [e for s in series if s.flow == flow and (e := s.energy(start, end)) is not None]
    return sum(parts) if parts else None


# --- the arithmetic -------------------------------------------------------------------------


def test_days_and_months_match_the_samples_in_local_time(prom: Prom) -> None:
    totals = EnergyTotals(prom.url, BERLIN)
    days = totals.table("days", CATALOGS, now=NOW)
    months = totals.table("months", CATALOGS, now=NOW)

    assert [r.window.label for r in days.rows][-3:] == ["2026-04-08", "2026-04-09", "2026-04-10"]
    assert [r.window.label for r in months.rows] == [f"{y}-{m:02d}" for y, m in [(2025, i) for i in range(5, 13)]] + [
        f"2026-{m:02d}" for m in range(1, 5)
    ]
    # Local midnights: 1 April starts at 22:00 UTC on 31 March; 29 March has 23 hours.
    april = next(r for r in days.rows if r.window.label == "2026-04-01")
    assert april.window.start == datetime(2026, 3, 31, 22, tzinfo=UTC)
    dst = next(r for r in days.rows if r.window.label == "2026-03-29")
    assert dst.window.end.timestamp() - dst.window.start.timestamp() == 23 * 3600
    assert days.counters["pv"] == ["inv", "mppt"] and days.counters["battery_charge"] == ["bms", "inv"]

    reset_days = {"2026-04-05", "2026-04-06"}  # the restart, and the day whose look-back sees it
    for table in (days, months):
        for row in table.rows:
            for flow in ("pv", "load", "battery_charge"):
                got, want = row.energy[flow], expected(FIXED, flow, *local_window(row.window.label, NOW))
                assert got is not None and want is not None, (row.window.label, flow)
                assert got >= 0
                # Exact (to the 3 decimals answered) except where the PV counter restarted: there
                # Prometheus' increase() extrapolates to the window's edges with the window's
                # average rate (this data's double-rate hours after midnight make that ~4 % off).
                approx = flow == "pv" and (row.window.label in reset_days or row.window.label == "2026-04")
                assert got == pytest.approx(want, rel=0.05 if approx else 0, abs=0.002), (row.window.label, flow)
            assert row.energy["grid_export"] is None  # no device counts it

    # The restart neither went negative nor counted the 1000-odd kWh lifetime total again.
    inv_rate = 0.5 * (1 + date(2026, 4, 5).toordinal() % 7)
    assert days.rows[-6].by_device["pv"]["inv"] == pytest.approx(26 * inv_rate, rel=0.05)
    # The gap over the month boundary: counted once, in April (March ends at its last sample).
    march, april_m = months.rows[-2], months.rows[-1]
    bms = FIXED[3]
    assert march.by_device["battery_charge"]["bms"] == pytest.approx(
        bms.energy(march.window.start, GAP[0]) or 0, abs=0.002
    )
    seen = bms.energy(march.window.start, NOW) or 0
    assert march.energy["battery_charge"] + april_m.energy["battery_charge"] == pytest.approx(seen, abs=0.004)
    # The days of March add up to March.
    march_days = [r for r in EnergyTotals(prom.url, BERLIN).table("days", CATALOGS, NOW, count=41).rows]
    in_march = [r.energy["load"] or 0 for r in march_days if r.window.label.startswith("2026-03")]
    assert len(in_march) == 31
    assert sum(in_march) == pytest.approx(march.energy["load"], abs=0.05)


def test_windows_follow_the_calendar() -> None:
    now = datetime(2026, 1, 15, 8, tzinfo=BERLIN)
    months = windows("months", now, BERLIN)
    assert months[0].label == "2025-02" and months[-1].label == "2026-01"
    lengths = [(w.end.timestamp() - w.start.timestamp()) / 86400 for w in months[:-1]]
    assert lengths[0] == 28 and lengths[1] == pytest.approx(31 - 1 / 24)  # February; March loses an hour to DST
    assert months[-1].end == now
    days = windows("days", now, BERLIN)
    assert len(days) == 30 and days[-1].label == "2026-01-15" and days[-1].start == datetime(2026, 1, 15, tzinfo=BERLIN)


def test_without_prometheus_every_figure_is_null() -> None:
    table = EnergyTotals(None, BERLIN).table("days", CATALOGS, now=NOW)
    assert table.source == "none" and all(v is None for r in table.rows for v in r.energy.values())


def test_prometheus_down_is_one_clear_error(mosquitto: Any) -> None:
    dead = EnergyTotals(f"http://127.0.0.1:{free_port()}", BERLIN, timeout=1)
    with pytest.raises(EnergyUnavailable, match="did not answer"):
        dead.table("days", CATALOGS, now=NOW)
    store = StateStore()
    store.update_catalog("inv", CATALOGS["inv"])
    client = create_app(web_settings(mosquitto), store, RingHistory(), energy=dead).test_client()
    resp = client.get("/api/energy.csv?period=months")
    assert resp.status_code == 502 and "did not answer" in resp.get_json()["error"]


def test_the_zone_is_tz() -> None:
    settings = load(WebSettings, {"TZ": ":America/St_Johns"})  # half-hour offset: midnight is not a whole UTC hour
    zone = system_zone(settings.tz)
    assert zone == ZoneInfo("America/St_Johns") and zone_name(zone) == "America/St_Johns"
    with pytest.raises(ConfigError, match="Europe/Berln"):  # a misspelt zone is refused, not counted in UTC
        load(WebSettings, {"TZ": "Europe/Berln"})
    day = windows("days", datetime(2026, 1, 10, 12, tzinfo=UTC), zone)[-1]
    assert day.start == datetime(2026, 1, 10, 3, 30, tzinfo=UTC)


# --- the API and CSV ---------------------------------------------------------------------------


def live_app(prom: Prom, mosquitto: Any) -> Any:
    store = StateStore()
    for device, cat in DEMO_CATALOGS.items():
        store.update_catalog(device, cat)
    settings = web_settings(mosquitto)
    return create_app(settings, store, RingHistory(), energy=EnergyTotals(prom.url, BERLIN)).test_client()


def test_api_and_csv_answer_the_same_table(prom: Prom, mosquitto: Any) -> None:
    client = live_app(prom, mosquitto)
    resp = client.get("/api/energy?period=days")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["timezone"] == "Europe/Berlin" and body["unit"] == "kWh" and body["source"] == "prometheus"
    assert body["counters"]["pv"] == ["inverter"] and body["counters"]["battery_charge"] == ["inverter", "pack1"]
    assert len(body["rows"]) == 30
    today = datetime.now(BERLIN).date().isoformat()
    assert body["rows"][-1]["label"] == today
    for row in body["rows"][:-1]:  # today's last window moves with the clock; the rest are fixed
        start, end = local_window(row["label"], prom.now)
        assert (datetime.fromisoformat(row["start"]), datetime.fromisoformat(row["end"])) == (start, end)
        for flow in ("pv", "load", "battery_charge"):
            assert row["energy"][flow] == pytest.approx(expected(prom.recent, flow, start, end), abs=0.002)
    assert body["totals"]["pv"] == pytest.approx(sum(r["energy"]["pv"] for r in body["rows"]), abs=0.01)

    csv_resp = client.get("/api/energy.csv?period=days")
    assert csv_resp.status_code == 200 and csv_resp.mimetype == "text/csv"
    assert "attachment" in csv_resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_resp.get_data(as_text=True))))
    assert list(rows[0]) == ["period", "start", "end"] + [f"{f}_kwh" for f in catalog.ENERGY_FLOWS]
    assert [r["period"] for r in rows] == [r["label"] for r in body["rows"]]
    for r, j in zip(rows[:-1], body["rows"][:-1], strict=True):
        assert float(r["pv_kwh"]) == j["energy"]["pv"] and r["grid_export_kwh"] == ""

    months = client.get("/api/energy?period=months").get_json()
    assert len(months["rows"]) == 12 and months["rows"][-1]["label"] == today[:7]
    assert client.get("/api/energy?period=weeks").status_code == 400
    assert client.get("/api/energy.csv?period=").status_code == 400


# --- the pages in Chromium -----------------------------------------------------------------------


@pytest.mark.browser
def test_energy_page_in_both_themes(prom: Prom, mosquitto: Any, site: DemoSite, tmp_path: Path) -> None:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    server = WebServer(mosquitto, tmp_path, PROMETHEUS_URL=prom.url, TZ="Europe/Berlin")
    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        server.wait_ready(devices=4)
        api = requests.get(server.url + "/api/energy?period=days", timeout=10).json()
        assert api["timezone"] == "Europe/Berlin"
        yesterday = api["rows"][-2]
        for path in ("/energy", "/energy/lcars"):
            driver.get(server.url + path)
            wait_for(lambda: driver.execute_script("return document.body.dataset.energy") == "days", 10, what=path)
            cells = driver.execute_script(
                "return [...document.querySelectorAll('#energy-table tbody tr')].map(r => r.dataset.period)"
            )
            assert cells == [r["label"] for r in reversed(api["rows"])]
            shown = driver.execute_script(
                "return document.querySelector(`#energy-table tr[data-period='${arguments[0]}'] [data-flow=pv]`)"
                ".textContent",
                yesterday["label"],
            )
            assert float(shown.replace(",", "")) == pytest.approx(yesterday["energy"]["pv"], abs=0.01)
            assert "kWh" in driver.execute_script("return document.querySelector('[data-today=pv]').textContent")
            bars = driver.execute_script(
                "const c = Chart.getChart(document.getElementById('energy-chart'));"
                "return Object.fromEntries(c.data.datasets.map(d => [d.label, d.data.filter(v => v > 0).length]))"
            )
            # A bar for every day of each flow with data (today's may still be 0 just after midnight).
            assert all(bars[flow] >= 29 for flow in ("PV", "Load", "Battery charge")), bars
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(SCREENSHOTS / f"energy-{'lcars' if 'lcars' in path else 'standard'}.png"))
            driver.find_element("css selector", ".period-btn[data-period=months]").click()
            wait_for(lambda: driver.execute_script("return document.body.dataset.energy") == "months", 10)
            assert len(driver.find_elements("css selector", "#energy-table tbody tr")) == 12
            assert driver.find_element("id", "energy-csv").get_attribute("href").endswith("period=months")
            severe = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not severe, severe
    finally:
        driver.quit()
        server.stop()

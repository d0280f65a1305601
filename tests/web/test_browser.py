"""Real headless Chromium (Debian's, through chromedriver) against `solarstack run web` and a real Mosquitto.

The demo site publishes device catalogues and no Home Assistant discovery (HA_DISCOVERY=off):
every title, unit, role and setting a page shows comes from the catalogues. Every page in
both themes must render live values from the demo site's devices, a new
state must reach the open page within 2 s over SSE, the house page must draw the real weather
device's 48 h forecast and its PV forecast against the inverter's PV history, and the settings console must change
the inverter's output priority and show the read-back. Screenshots of every page in both
themes land in artifacts/screenshots/ (gitignored) for a human to look at.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from web_support import TOKEN, DemoSite, WebServer, wait_for

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)

from selenium import webdriver  # noqa: E402  (only once the browser is known to exist)
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

PAGES = {
    "dashboard": ("/", "/lcars"),
    "charts": ("/charts", "/charts/lcars"),
    "battery": ("/battery", "/battery/lcars"),
    "house": ("/house", "/house/lcars"),
    "settings": ("/settings", "/settings/lcars"),
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
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
    options.add_argument("--disable-background-networking")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def blank_page(browser: Any, web_server: WebServer) -> Iterator[None]:
    """Each test starts and ends on about:blank with an empty console log (the browser is shared).

    Depending on web_server makes the page close before the server stops."""
    browser.get("about:blank")
    browser.get_log("browser")
    yield
    browser.get("about:blank")
    browser.get_log("browser")


def text_of(driver: Any, css: str) -> str:
    """The element's textContent (before CSS upper-casing), read in one step so re-renders cannot race it."""
    return str(
        driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", css)
    )


def click(driver: Any, css: str) -> None:
    """Scroll the element to the middle of the window first, instantly: Bootstrap turns on smooth
    scrolling, and a click during the animation lands on whatever is under the pointer."""
    element = driver.find_element(By.CSS_SELECTOR, css)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element)
    element.click()


def open_page(driver: Any, url: str) -> None:
    driver.get(url)
    # main.js bumps data-version each time it renders from the stream.
    wait_for(lambda: driver.execute_script("return Number(document.body.dataset.version || 0)") > 0, 5, what=url)


def severe_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.mark.parametrize("theme", ["standard", "lcars"])
def test_theme_end_to_end(browser: Any, web_server: WebServer, site: DemoSite, theme: str) -> None:
    """One server per theme (start-up is the slow part): pages, live updates, the console."""
    every_page_renders_live_values(browser, web_server, site, theme)
    house_page_shows_climate_weather_and_forecasts(browser, web_server, site, theme)
    charts_zoom_by_dragging(browser, web_server, site, "/charts" if theme == "standard" else "/charts/lcars")
    new_state_appears_within_two_seconds(browser, web_server, site, "/" if theme == "standard" else "/lcars")
    settings_console_changes_output_priority(
        browser, web_server, site, "/settings" if theme == "standard" else "/settings/lcars"
    )


def every_page_renders_live_values(browser: Any, web_server: WebServer, site: DemoSite, theme: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    index = 0 if theme == "standard" else 1
    state = site.step()
    volts = f"{state['inverter']['battery_voltage']:.2f} V"
    checks = {
        "dashboard": lambda: (
            text_of(browser, '[data-device="inverter"][data-key="battery_voltage"]') == volts
            and text_of(browser, '[data-figure="Solar"]').endswith("W")
            and "online" in text_of(browser, '[data-device="pack1"][data-status]').lower()
        ),
        "charts": lambda: (
            browser.execute_script(
                "return [...document.querySelectorAll('#charts canvas')]"
                ".filter(c => Chart.getChart(c).data.datasets.some(d => d.data.length > 0)).length"
            )
            >= 4
        ),
        "battery": lambda: (
            len(browser.find_elements(By.CSS_SELECTOR, '[data-pack="pack1"] .cell')) == 16
            and text_of(browser, '[data-pack="pack1"] [data-stat="delta"]').endswith("mV")
        ),
        "house": lambda: (
            text_of(browser, '[data-device="house"][data-key="humidity"]') == "48.0 %"
            and text_of(browser, '[data-device="weather"][data-key="wind_speed"]')
            == f"{state['weather']['wind_speed']:.1f} km/h"
            and drawn_series(browser, "forecast-chart") != {}
            and "PV actual" in " ".join(drawn_series(browser, "pv-chart"))
        ),
        "settings": lambda: (
            len(browser.find_elements(By.CSS_SELECTOR, 'select[data-setting="output_source_priority"] option')) == 3
            and text_of(browser, '[data-current="battery_float_voltage"]') == "54 V"
        ),
    }
    for page, paths in PAGES.items():
        open_page(browser, web_server.url + paths[index])
        wait_for(checks[page], 5, what=f"{theme} {page} shows live values")
        catalogue_meaning_shows(browser, page)
        browser.save_screenshot(str(SCREENSHOTS / f"{theme}-{page}.png"))
        assert severe_errors(browser) == [], f"{theme} {page}"
    # A phone in the garage: the dashboard at 390 px wide, nothing wider than the screen.
    browser.set_window_size(390, 844)
    try:
        open_page(browser, web_server.url + PAGES["dashboard"][index])
        wait_for(checks["dashboard"], 5, what=f"{theme} dashboard on a phone")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
        browser.save_screenshot(str(SCREENSHOTS / f"{theme}-dashboard-phone.png"))
    finally:
        browser.set_window_size(1280, 1000)


def dl_rows(driver: Any, css: str) -> list[list[str]]:
    """[dt, dd] texts of a definition list."""
    return list(
        driver.execute_script(
            "return [...document.querySelectorAll(arguments[0] + ' dt')]"
            ".map(dt => [dt.textContent, dt.nextElementSibling ? dt.nextElementSibling.textContent : ''])",
            css,
        )
    )


def catalogue_meaning_shows(browser: Any, page: str) -> None:
    """Titles, units, roles and settings from the catalogues, with no discovery published."""
    if page == "dashboard":
        # Grid is the reader's `grid_power` field (0 W: no AC input), not a balance of load,
        # battery and PV, which here would read as an export of ~1 kW.
        assert text_of(browser, '[data-figure="Grid"]') == "0 W"
        role = browser.execute_script(
            "return document.querySelector('[data-device=inverter][data-key=pv_input_power]').dataset.role"
        )
        assert role == "pv_power"
        # Titles from the tables: `cell_count` is "Cell count", not a letter.
        title = browser.execute_script(
            "return document.querySelector('[data-device=pack1][data-key=cell_count]')"
            ".previousElementSibling.textContent"
        )
        assert title == "Cell count"
        # Today's energy: each device's own counters, named, none twice.
        energy = dl_rows(browser, "#energy")
        labels = [label for label, _ in energy]
        assert len(labels) == len(set(labels)) == 7, energy
        assert ["Inverter · Battery charge energy today", "1.250 kWh"] in energy
        assert ["Battery pack 1 · Battery energy charged today", "1.500 kWh"] in energy
        assert all(value.endswith(" kWh") for _, value in energy)
    elif page == "battery":
        pack = dl_rows(browser, '[data-pack="pack1"] .pack-values')
        assert ["Alarms", "none"] in pack and any(label == "SOC" or label.lower() == "soc" for label, _ in pack), pack
    elif page == "settings":
        ranges = browser.execute_script(
            "return document.querySelector('[data-row=battery_float_voltage] .setting-name').textContent"
        )
        assert ranges == "Battery float voltage48\u201358.4 V"  # title and this 48 V unit's range
        suggestions = browser.execute_script(
            "return [...document.querySelectorAll('#query-suggestions option')].map(o => o.value)"
        )
        assert suggestions == ["QFLAG", "QMOD", "QPIGS", "QPIRI", "QPIWS"]  # the inverter's catalogue
        query = browser.execute_script(
            "const d = document.getElementById('query-device');"
            " return [d.options[d.selectedIndex].text, document.getElementById('query-command').placeholder]"
        )
        assert query[1] == "QFLAG" and "pack" not in query[0].lower(), query  # the inverter first, its own example
        assert not browser.find_elements(By.CSS_SELECTOR, '[data-settings="pack1"]')  # a BMS has no settings


def drawn_series(driver: Any, canvas_id: str) -> dict[str, int]:
    """Label -> number of points of each dataset Chart.js draws on the canvas ({} when none)."""
    return dict(
        driver.execute_script(
            "const c = Chart.getChart(document.getElementById(arguments[0]));"
            "return c ? c.data.datasets.map(d => [d.label, d.data.length]) : []",
            canvas_id,
        )
    )


def house_page_shows_climate_weather_and_forecasts(
    browser: Any, web_server: WebServer, site: DemoSite, theme: str
) -> None:
    """The house page from the real BME280 and Open-Meteo catalogues: indoor values, the weather
    now, the 48 h forecast by unit and the PV forecast against the inverter's pv_power history."""
    for _ in range(3):
        site.step()  # a few inverter states, so the web's history has PV actually produced
    state = site.step()
    open_page(browser, web_server.url + PAGES["house"][0 if theme == "standard" else 1])
    weather = state["weather"]
    wait_for(
        lambda: (
            text_of(browser, '[data-device="house"][data-key="temperature"]')
            == f"{state['house']['temperature']:.2f} °C"
            and text_of(browser, '[data-device="weather"][data-key="condition"]') == weather["condition"]
            and len(drawn_series(browser, "pv-chart")) == 2
        ),
        5,
        what=f"{theme} house page",
    )
    indoor = dict(dl_rows(browser, "#indoor"))
    assert indoor["Dew point"] == f"{state['house']['dew_point']:.1f} °C", indoor
    assert indoor["Sea-level pressure"] == f"{state['house']['sea_level_pressure']:,.1f} hPa", indoor
    now = dict(dl_rows(browser, "#weather-now"))
    assert now["Outdoor temperature"] == f"{weather['temperature']:.1f} °C", now
    # only the current conditions: no forecast figures, no diagnostics, no series joined into text
    assert "Forecast from" not in now and "WMO weather code" not in now and len(now) >= 10, now
    pv = dict(dl_rows(browser, "#pv-figures"))
    for label, key in (("PV forecast today", "pv_forecast_today"), ("PV forecast tomorrow", "pv_forecast_tomorrow")):
        number, unit = pv[label].split()
        assert unit == "kWh" and abs(float(number) - weather[key]) <= 0.0051, pv  # 2 decimals (precision)

    # The 48 h forecast: every hourly weather series, 48 points each, from forecast_start;
    # temperature, percentages and irradiance each on an axis of their own.
    forecast = drawn_series(browser, "forecast-chart")
    assert forecast == {
        "Hourly temperature (°C)": 48,
        "Hourly cloud cover (%)": 48,
        "Hourly precipitation probability (%)": 48,
        "Hourly irradiance (W/m²)": 48,
        "Irradiance on east, next 48 h (W/m²)": 48,
        "Irradiance on west, next 48 h (W/m²)": 48,
    }, forecast
    first_x, axes = browser.execute_script(
        "const c = Chart.getChart(document.getElementById('forecast-chart'));"
        "return [c.data.datasets[0].data[0].x, Object.keys(c.scales).filter(k => k !== 'x').length]"
    )
    start = datetime.fromisoformat(weather["forecast_start"].replace("Z", "+00:00")).timestamp()
    assert (first_x, axes) == (start, 3)

    # PV forecast (48 h ahead, W) against what the inverter's pv_power field produced.
    pv_chart = drawn_series(browser, "pv-chart")
    assert pv_chart["PV forecast, next 48 h (W)"] == 48, pv_chart
    assert pv_chart["PV actual · Inverter (W)"] >= 3, pv_chart
    peak = browser.execute_script(
        "return Math.max(...Chart.getChart(document.getElementById('pv-chart')).data.datasets[0].data.map(p => p.y))"
    )
    assert peak == max(weather["pv_forecast_power"]) > 0
    browser.execute_script("document.getElementById('pv-chart').scrollIntoView({block: 'center', behavior: 'instant'})")
    browser.save_screenshot(str(SCREENSHOTS / f"{theme}-house-forecast.png"))
    assert severe_errors(browser) == [], f"{theme} house"


def charts_zoom_by_dragging(browser: Any, web_server: WebServer, site: DemoSite, path: str) -> None:
    for _ in range(5):
        site.step()
    open_page(browser, web_server.url + path)
    span = (
        "const s = Chart.getChart(document.querySelector('[data-chart=power] canvas')).scales.x; return s.max - s.min"
    )
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "[data-chart=power] canvas"), 5, what="power chart")
    wait_for(lambda: browser.execute_script(span) > 0, 5, what="power chart drawn")
    before = browser.execute_script(span)
    canvas = browser.find_element(By.CSS_SELECTOR, "[data-chart=power] canvas")
    width = canvas.size["width"]
    ActionChains(browser).move_to_element_with_offset(canvas, -width // 5, 0).click_and_hold().move_by_offset(
        width // 3, 0
    ).release().perform()
    wait_for(lambda: browser.find_element(By.ID, "zoom-reset").is_enabled(), 3, what="zoomed")
    wait_for(lambda: 0 < browser.execute_script(span) < before * 0.8, 5, what="narrower x range after the zoom")
    browser.find_element(By.ID, "zoom-reset").click()
    wait_for(lambda: not browser.find_element(By.ID, "zoom-reset").is_enabled(), 3, what="zoom reset")


def new_state_appears_within_two_seconds(browser: Any, web_server: WebServer, site: DemoSite, path: str) -> None:
    open_page(browser, web_server.url + path)
    for _ in range(3):
        started = time.monotonic()
        state = site.step()
        want = f"{state['inverter']['battery_voltage']:.2f} V"
        wait_for(
            lambda want=want: text_of(browser, '[data-device="inverter"][data-key="battery_voltage"]') == want,
            2,
            interval=0.02,
            what="the new battery voltage on the page",
        )
        assert time.monotonic() - started < 2


def settings_console_changes_output_priority(browser: Any, web_server: WebServer, site: DemoSite, path: str) -> None:
    open_page(browser, web_server.url + path)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, 'select[data-setting="output_source_priority"]'), 5)
    results = lambda: browser.find_elements(By.CSS_SELECTOR, "#result-log .result")  # noqa: E731

    # Without a token the console's command is refused (401) and nothing reaches the device.
    browser.execute_script("sessionStorage.removeItem('solarstack-token')")
    Select(browser.find_element(By.CSS_SELECTOR, 'select[data-setting="output_source_priority"]')).select_by_value(
        "solar"
    )
    browser.find_element(By.CSS_SELECTOR, '[data-apply="output_source_priority"]').click()
    browser.find_element(By.CSS_SELECTOR, '[data-confirm="output_source_priority"]').click()
    wait_for(lambda: len(results()) == 1, 5, what="refusal shown")
    assert results()[0].get_attribute("data-ok") == "false" and "401" in results()[0].text
    assert site.commands == []

    # With the token: choose, apply, confirm; the read-back comes from the device.
    browser.find_element(By.ID, "api-token").send_keys(TOKEN)
    browser.find_element(By.ID, "token-save").click()
    target = "utility" if site.inverter["output_source_priority"] == "sbu" else "sbu"
    Select(browser.find_element(By.CSS_SELECTOR, 'select[data-setting="output_source_priority"]')).select_by_value(
        target
    )
    browser.find_element(By.CSS_SELECTOR, '[data-apply="output_source_priority"]').click()
    confirm = browser.find_element(By.CSS_SELECTOR, '[data-confirm="output_source_priority"]')
    assert target in confirm.find_element(By.XPATH, "..").text.lower()
    confirm.click()
    wait_for(lambda: len(results()) == 2, 5, what="read-back shown")
    newest = results()[0]
    assert newest.get_attribute("data-ok") == "true", newest.text
    assert target in newest.text.lower()
    assert site.commands == [("output_source_priority", target)]
    wait_for(
        lambda: text_of(browser, '[data-current="output_source_priority"]').lower() == target,
        3,
        what="current value updated from the new state",
    )

    # An out-of-range number is refused by the web with the reason, before anything is published.
    box = browser.find_element(By.CSS_SELECTOR, 'input[data-setting="battery_float_voltage"]')
    box.clear()
    box.send_keys("75")
    browser.find_element(By.CSS_SELECTOR, '[data-apply="battery_float_voltage"]').click()
    browser.find_element(By.CSS_SELECTOR, '[data-confirm="battery_float_voltage"]').click()
    wait_for(lambda: len(results()) == 3, 5, what="range refusal shown")
    assert results()[0].get_attribute("data-ok") == "false" and "maximum" in results()[0].text.lower()
    assert site.commands == [("output_source_priority", target)]

    # Poll now: the inverter chosen in the query form, then every device (POST /api/refresh).
    click(browser, "#refresh-run")
    wait_for(lambda: len(results()) == 4, 5, what="refresh result shown")
    assert results()[0].get_attribute("data-ok") == "true", results()[0].text
    click(browser, "#refresh-all")
    wait_for(lambda: len(results()) == 5, 5, what="refresh-all result shown")
    assert results()[0].get_attribute("data-ok") == "true" and "battery pack 1" in results()[0].text.lower()
    assert sorted(c for c in site.commands if c[0] == "refresh") == [
        ("refresh", d) for d in ("house", "inverter", "inverter", "pack1", "weather")
    ]
    browser.save_screenshot(str(SCREENSHOTS / f"{'lcars' if 'lcars' in path else 'standard'}-settings-console.png"))


def test_console_drives_the_real_simulator(browser: Any, web_server: WebServer, real_inverter: str) -> None:
    """The console against the PI30 simulator behind the real inverter reader (no demo answers)."""
    open_page(browser, web_server.url + "/settings/lcars")
    card = f'[data-settings="{real_inverter}"]'
    control = f'{card} select[data-setting="output_source_priority"]'
    wait_for(lambda: text_of(browser, f'{card} [data-current="output_source_priority"]') not in ("", "\u2013"), 20)
    current = text_of(browser, f'{card} [data-current="output_source_priority"]')
    options = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, f"{control} option")]
    target = next(o for o in options if o != current)
    browser.find_element(By.ID, "api-token").send_keys(TOKEN)
    browser.find_element(By.ID, "token-save").click()
    Select(browser.find_element(By.CSS_SELECTOR, control)).select_by_value(target)
    # Live states arrive every second: they must not move a control the user has picked.
    renders = lambda: int(browser.execute_script("return Number(document.body.dataset.version)"))  # noqa: E731
    seen = renders()
    wait_for(lambda: renders() >= seen + 2, 10, what="two live updates after the pick")
    assert browser.find_element(By.CSS_SELECTOR, control).get_attribute("value") == target
    click(browser, f'{card} [data-apply="output_source_priority"]')
    assert target in text_of(browser, f"{card} .confirm")
    click(browser, f'{card} [data-confirm="output_source_priority"]')
    results = lambda: browser.find_elements(By.CSS_SELECTOR, "#result-log .result")  # noqa: E731
    wait_for(lambda: results(), 10, what="read-back shown")
    assert results()[0].get_attribute("data-ok") == "true", results()[0].text
    wait_for(lambda: text_of(browser, f'{card} [data-current="output_source_priority"]') == target, 10)
    browser.save_screenshot(str(SCREENSHOTS / "lcars-settings-real-simulator.png"))


def shown_number(text: str) -> float | None:
    """A cell's number as the page formats it ("1,234 W" -> 1234.0); None for a dash or empty."""
    head = text.split(" ")[0].replace(",", "").replace("\u202f", "")
    try:
        return float(head)
    except ValueError:
        return None


def test_a_parallel_system_shows_each_unit_beside_its_total(
    browser: Any, web_server: WebServer, real_parallel: tuple[str, Any]
) -> None:
    """Three simulated PI30 units behind the real reader: one column per unit, the system's own
    totals beside them (summed by the reader, not the page), and the units offline with it."""
    system, reader = real_parallel
    open_page(browser, web_server.url + "/")
    card = f'[data-system="{system}"]'
    units = lambda: browser.find_elements(By.CSS_SELECTOR, f"{card} thead th[data-unit]")  # noqa: E731
    wait_for(lambda: len(units()) == 3, 30, what="three unit columns")
    assert [u.get_attribute("data-unit") for u in units()] == [f"{system}_unit{n}" for n in (1, 2, 3)]
    assert "3 units" in text_of(browser, f"{card} .tile-head")

    def load_row() -> tuple[list[float | None], float | None]:
        row = f'{card} tr[data-key="ac_output_active_power"]'
        cells = [shown_number(text_of(browser, f'{row} td[data-unit="{system}_unit{n}"]')) for n in (1, 2, 3)]
        return cells, shown_number(text_of(browser, f'{row} td[data-total="load_power"]'))

    def adds_up() -> bool:
        cells, total = load_row()
        return None not in cells and total is not None and total > 0 and abs(sum(cells) - total) <= 1  # type: ignore[arg-type]

    # unit states and the system's arrive one by one; some render shows one round's figures together
    wait_for(adds_up, 30, what=f"the system's load total beside its units' loads: {load_row()}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    card_element = browser.find_element(By.CSS_SELECTOR, card)
    browser.execute_script("arguments[0].scrollIntoView({block: 'start', behavior: 'instant'})", card_element)
    browser.save_screenshot(str(SCREENSHOTS / "standard-parallel-system.png"))

    # The reader dies: the broker sends the system's last will, and its units go offline with it.
    reader.kill()
    statuses = lambda: {u.get_attribute("data-status") for u in units()}  # noqa: E731
    wait_for(lambda: statuses() == {"offline"}, 30, what="every unit offline with its system")


def test_the_dashboard_shows_each_microinverter_beside_the_dtu_totals(
    browser: Any, web_server: WebServer, real_dtu: str
) -> None:
    """The simulated DTU behind the real hoymiles reader: the dashboard's card for it has a
    column per microinverter and the DTU's totals beside the rows they sum."""
    open_page(browser, web_server.url + "/")
    card = f'[data-system="{real_dtu}"]'
    columns = lambda: browser.find_elements(By.CSS_SELECTOR, f"{card} thead th[data-unit]")  # noqa: E731
    wait_for(lambda: len(columns()) == 3, 30, what="three microinverter columns")
    assert "3 microinverters" in text_of(browser, f"{card} .tile-head")
    units = [c.get_attribute("data-unit") for c in columns()]

    def pv_row() -> tuple[list[float | None], float | None]:
        row = f'{card} tr[data-key="pv_power"]'
        cells = [shown_number(text_of(browser, f'{row} td[data-unit="{u}"]')) for u in units]
        return cells, shown_number(text_of(browser, f'{row} td[data-total="pv_power"]'))

    def adds_up() -> bool:
        cells, total = pv_row()
        return None not in cells and total is not None and total > 0 and abs(sum(cells) - total) <= 1  # type: ignore[arg-type]

    wait_for(adds_up, 30, what=f"the DTU's PV total beside its microinverters' PV: {pv_row()}")
    # per-port values are rows too (port 1 of every microinverter at least)
    assert browser.find_elements(By.CSS_SELECTOR, f'{card} tr[data-key="pv1_power"]')
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.execute_script(
        "arguments[0].scrollIntoView({block: 'start', behavior: 'instant'})",
        browser.find_element(By.CSS_SELECTOR, card),
    )
    browser.save_screenshot(str(SCREENSHOTS / "standard-microinverters.png"))

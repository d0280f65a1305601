"""The web API through Flask's test client, wired by main.build() to a real Mosquitto and the demo site.

The demo site publishes device catalogues and no Home Assistant discovery (HA_DISCOVERY=off):
every label, unit, role and setting the API shows comes from the catalogues."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from web_support import TOKEN, DemoSite, Recorder, now_iso, wait_for, web_settings

from solarstack.services.web import app as app_module
from solarstack.services.web.main import build

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(mosquitto: Any, site: DemoSite) -> Iterator[Flask]:
    running = build(web_settings(mosquitto, WEB_PASSWORD="hunter22", WEB_COMMAND_RATE="120"))
    client = running.app.test_client()
    wait_for(lambda: len(client.get("/api/data").get_json()["devices"]) == 4, 10, what="four devices")
    wait_for(lambda: client.get("/api/data").get_json()["devices"]["inverter"]["settings"], 5, what="catalogue")
    yield running.app
    running.shutdown()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_data_has_every_device_with_labels_units_and_settings(client: FlaskClient, site: DemoSite) -> None:
    body = client.get("/api/data").get_json()
    inverter = body["devices"]["inverter"]
    assert inverter["availability"] == "online"
    assert inverter["stale"] is False
    assert inverter["name"] == "Inverter"
    # Identity, labels, units and meaning come from the catalogue built from the PI30 tables.
    assert {k: inverter[k] for k in ("kind", "protocol", "model", "manufacturer")} == {
        "kind": "inverter",
        "protocol": "pi30",
        "model": "PIP-5048MS",
        "manufacturer": "Voltronic",
    }
    assert inverter["fields"]["battery_voltage"] == {
        "name": "Battery voltage",
        "unit": "V",
        "device_class": "voltage",
        "kind": "float",
        "precision": 2,
        "diagnostic": False,
        "role": "battery_voltage",
        "group": "battery",
        "size": None,
        "options": None,
    }
    assert inverter["fields"]["pv_input_power"]["role"] == "pv_power"
    assert inverter["fields"]["grid_power"]["role"] == "grid_power"  # derived by the reader, not the browser
    assert inverter["fields"]["pv_energy_today"]["role"] == "pv_energy_today"
    assert inverter["fields"]["mode"]["options"] and inverter["fields"]["mode"]["kind"] == "enum"
    # The setting controls come from the PI30 allow-list, fitted to this 48 V unit.
    prio = inverter["settings"]["output_source_priority"]
    assert prio["component"] == "select" and prio["options"] == ["utility", "solar", "sbu"]
    assert prio["state_key"] == "output_source_priority"
    assert inverter["settings"]["battery_float_voltage"]["min"] == 48.0
    # Arrays stay arrays, with their size; titles are the table's, not a guess from the key.
    pack = body["devices"]["pack1"]
    assert pack["kind"] == "battery" and pack["settings"] == {}
    assert len(pack["state"]["cell_voltages"]) == 16
    assert pack["fields"]["cell_voltages"]["unit"] == "V"
    assert pack["fields"]["cell_voltages"]["size"] == 16
    assert pack["fields"]["cell_voltages"]["role"] == "cell_voltage"
    assert pack["fields"]["cell_count"]["name"] == "Cell count"
    # A new state shows up.
    states = site.step()
    wait_for(
        lambda: (
            client.get("/api/data").get_json()["devices"]["inverter"]["state"]["pv_input_power"]
            == states["inverter"]["pv_input_power"]
        ),
        5,
        what="new state",
    )


def test_historical_and_csv_from_the_ring_buffer(client: FlaskClient, site: DemoSite) -> None:
    published = [site.step()["inverter"]["pv_input_power"] for _ in range(3)]

    def series() -> list[float]:
        body = client.get("/api/historical?device=inverter&fields=pv_input_power,battery_voltage&hours=1").get_json()
        return [v for _, v in body["series"]["pv_input_power"]]

    wait_for(lambda: series()[-3:] == published, 5, what="the three published values in history")
    body = client.get("/api/historical?device=inverter&fields=pv_input_power,battery_voltage&hours=1").get_json()
    assert body["source"] == "memory"
    assert body["units"] == {"pv_input_power": "W", "battery_voltage": "V"}
    times = [t for t, _ in body["series"]["pv_input_power"]]
    assert times == sorted(times) and len(set(times)) == len(times)
    values = series()
    resp = client.get("/api/export.csv?device=inverter&fields=pv_input_power&hours=1")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert rows and {r["field"] for r in rows} == {"pv_input_power"} and rows[0]["unit"] == "W"
    assert [float(r["value"]) for r in rows] == values
    assert "attachment" in resp.headers["Content-Disposition"]


@pytest.mark.parametrize("query", ["hours=0", "hours=-3", "hours=abc", "hours=100000", "start=xyz", "end=1e12"])
def test_historical_refuses_bad_input_with_400(client: FlaskClient, query: str) -> None:
    resp = client.get(f"/api/historical?device=inverter&{query}")
    assert resp.status_code == 400
    assert resp.get_json()["error"]


def test_historical_unknown_device_or_field_is_404_and_reversed_window_empty(client: FlaskClient) -> None:
    assert client.get("/api/historical?device=nope").status_code == 404
    assert client.get("/api/export.csv?device=inverter&fields=nope").status_code == 404
    body = client.get("/api/historical?device=inverter&fields=pv_input_power&start=5&end=4").get_json()
    assert body["series"] == {"pv_input_power": []}


def test_historical_hours_all_returns_the_whole_retained_history(client: FlaskClient, site: DemoSite) -> None:
    """A reading from months ago (beyond the 90-day cap of `hours`) is in `hours=all`."""
    for stamp, value in (("2025-05-01T12:00:00Z", 321), (now_iso(), 322)):
        site.client.publish("solarstack/archive/state", json.dumps({"ts": stamp, "pv_input_power": value}))

    def body(hours: str) -> dict[str, Any]:
        resp = client.get(f"/api/historical?device=archive&fields=pv_input_power&hours={hours}")
        return dict(resp.get_json()) if resp.status_code == 200 else {"series": {"pv_input_power": []}}

    wait_for(lambda: len(body("all")["series"]["pv_input_power"]) == 2, 5, what="both readings")
    everything = body("all")
    assert everything["start"] == 1746100800.0  # the oldest reading this source holds
    assert everything["series"]["pv_input_power"][0] == [1746100800.0, 321.0]
    assert [v for _, v in everything["series"]["pv_input_power"]] == [321.0, 322.0]
    assert [v for _, v in body("2160")["series"]["pv_input_power"]] == [322.0]
    assert client.get("/api/historical?device=inverter&hours=some").status_code == 400


def test_house_separates_indoor_sensors_from_weather(client: FlaskClient) -> None:
    body = client.get("/api/house").get_json()
    assert set(body["indoor"]) == {"house"}
    assert set(body["weather"]) == {"weather"}
    assert body["indoor"]["house"]["state"]["humidity"] == 48.0


def test_command_without_credentials_is_401_and_nothing_published(
    client: FlaskClient, mosquitto: Any, site: DemoSite
) -> None:
    rec = Recorder(mosquitto, "solarstack/+/set/#")
    try:
        resp = client.post(
            "/api/command", json={"device": "inverter", "setting": "output_source_priority", "value": "sbu"}
        )
        assert resp.status_code == 401
        resp = client.post(
            "/api/command",
            json={"device": "inverter", "setting": "output_source_priority", "value": "sbu"},
            headers={"Authorization": "Bearer wrong"},
        )
        assert resp.status_code == 401
        # A marker published after the refusals arrives after anything they could have sent.
        site.client.publish("solarstack/marker/set/x", "end")
        wait_for(lambda: "solarstack/marker/set/x" in rec.topics(), 5, what="marker")
        assert rec.topics() == ["solarstack/marker/set/x"]
    finally:
        rec.stop()


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("battery_float_voltage", 70.0),  # above the 48 V unit's maximum
        ("battery_float_voltage", 50.05),  # off the 0.1 V step
        ("output_source_priority", "turbo"),  # not an option
        ("no_such_setting", "1"),  # not allow-listed
        ("battery_recharge_voltage", "NaN"),
    ],
)
def test_bad_value_is_400_and_nothing_published(
    client: FlaskClient, mosquitto: Any, site: DemoSite, setting: str, value: Any
) -> None:
    rec = Recorder(mosquitto, "solarstack/#")
    try:
        resp = client.post(
            "/api/command", json={"device": "inverter", "setting": setting, "value": value}, headers=AUTH
        )
        assert resp.status_code == 400, resp.get_json()
        assert resp.get_json()["error"]
        site.client.publish("solarstack/marker/set/x", "end")
        wait_for(lambda: "solarstack/marker/set/x" in rec.topics(), 5, what="marker")
        assert not [t for t in rec.topics() if "/set/" in t and "marker" not in t]
        assert site.commands == []
    finally:
        rec.stop()


def test_bms_refuses_an_inverter_setting_with_400_and_publishes_nothing(
    client: FlaskClient, mosquitto: Any, site: DemoSite
) -> None:
    """pack1's catalogue lists no settings: every setting is refused by the web, whatever a
    protocol module elsewhere would allow (the web imports none)."""
    rec = Recorder(mosquitto, "solarstack/#")
    try:
        for setting, value in (("output_source_priority", "sbu"), ("battery_float_voltage", 54.0)):
            resp = client.post(
                "/api/command", json={"device": "pack1", "setting": setting, "value": value}, headers=AUTH
            )
            assert resp.status_code == 400, resp.get_json()
            assert resp.get_json()["error"] == f"pack1 has no settings: {setting!r} is refused"
        site.client.publish("solarstack/marker/set/x", "end")
        wait_for(lambda: "solarstack/marker/set/x" in rec.topics(), 5, what="marker")
        assert [t for t in rec.topics() if t.startswith("solarstack/pack1/set/")] == []
        assert site.commands == []
    finally:
        rec.stop()


def test_a_rule_the_catalogue_cannot_state_is_left_to_the_reader(client: FlaskClient, site: DemoSite) -> None:
    """PI30's re-discharge voltage is "0, or 48-58 V" on a 48 V unit: the catalogue carries
    0-58 V, so the web sends 30 V and the reader's own check refuses it in its result."""
    resp = client.post(
        "/api/command",
        json={"device": "inverter", "setting": "battery_redischarge_voltage", "value": 30.0},
        headers=AUTH,
    )
    assert resp.status_code == 200
    result = resp.get_json()["result"]
    assert result["ok"] is False and "48.0-58.0 V" in result["error"]


def test_setting_change_is_published_and_read_back(client: FlaskClient, site: DemoSite) -> None:
    resp = client.post(
        "/api/command", json={"device": "inverter", "setting": "output_source_priority", "value": "sbu"}, headers=AUTH
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["result"] == {"ok": True, "value": "sbu", "error": None}
    assert site.commands == [("output_source_priority", "sbu")]
    resp = client.post(
        "/api/command", json={"device": "inverter", "setting": "battery_float_voltage", "value": 54.5}, headers=AUTH
    )
    assert resp.status_code == 200 and resp.get_json()["result"]["ok"] is True
    assert site.commands[-1] == ("battery_float_voltage", "54.5")
    wait_for(
        lambda: client.get("/api/data").get_json()["devices"]["inverter"]["state"]["output_source_priority"] == "sbu",
        5,
        what="read-back in state",
    )


def test_query_is_allow_listed(client: FlaskClient, site: DemoSite) -> None:
    resp = client.post("/api/command", json={"device": "inverter", "command": "QPIRI"}, headers=AUTH)
    assert resp.status_code == 200
    result = resp.get_json()["result"]
    assert result["ok"] is True and result["fields"]["rated_battery_voltage"] == 48.0
    # QPIGS2 is a PI30 query, but this unit's catalogue does not list it; PF and POP02 set things.
    for bad in ("POP02", "QPIRI; rm -rf /", "PF", "QPIGS2"):
        resp = client.post("/api/command", json={"device": "inverter", "command": bad}, headers=AUTH)
        assert resp.status_code == 400, bad
    assert site.commands == [("query", "QPIRI")]
    assert client.post("/api/command", json={"device": "ghost", "command": "QPIRI"}, headers=AUTH).status_code == 404
    resp = client.post("/api/command", json={"device": "house", "command": "QPIRI"}, headers=AUTH)
    assert resp.status_code == 400 and "allowed: none" in resp.get_json()["error"]


def test_refresh_asks_one_device_or_all_and_waits_for_their_results(client: FlaskClient, site: DemoSite) -> None:
    resp = client.post("/api/refresh", json={"device": "pack1"}, headers=AUTH)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"results": {"pack1": {"ok": True, "polled": ["all"], "error": None}}, "missing": []}
    assert site.commands == [("refresh", "pack1")]
    resp = client.post("/api/refresh", json={}, headers=AUTH)
    assert resp.status_code == 200
    assert set(resp.get_json()["results"]) == {"inverter", "pack1", "house", "weather"}
    assert sorted(site.commands[1:]) == [("refresh", d) for d in ("house", "inverter", "pack1", "weather")]
    # An empty body means every device too.
    assert client.post("/api/refresh", headers=AUTH).status_code == 200


def test_refresh_reports_devices_that_did_not_answer(mosquitto: Any, site: DemoSite) -> None:
    running = build(web_settings(mosquitto, WEB_COMMAND_TIMEOUT="1"))
    try:
        client = running.app.test_client()
        wait_for(lambda: len(client.get("/api/data").get_json()["devices"]) == 4, 10, what="four devices")
        wait_for(lambda: all(d["kind"] for d in client.get("/api/data").get_json()["devices"].values()), 5)
        site.silent = {"weather"}  # its reader is down, its availability not yet offline
        resp = client.post("/api/refresh", json={}, headers=AUTH)
        assert resp.status_code == 200
        assert resp.get_json()["missing"] == ["weather"]
        assert set(resp.get_json()["results"]) == {"inverter", "pack1", "house"}
        resp = client.post("/api/refresh", json={"device": "weather"}, headers=AUTH)
        assert resp.status_code == 504 and resp.get_json()["missing"] == ["weather"]
        # An offline device is not waited for when every device is asked.
        site.client.publish("solarstack/weather/availability", "offline", retain=True)
        wait_for(lambda: client.get("/api/data").get_json()["devices"]["weather"]["availability"] == "offline", 5)
        started = time.monotonic()
        resp = client.post("/api/refresh", json={}, headers=AUTH)
        assert resp.status_code == 200 and resp.get_json()["missing"] == []
        assert time.monotonic() - started < 1
    finally:
        running.shutdown()


@pytest.mark.parametrize(
    ("body", "status"),
    [({"device": "ghost"}, 404), ({"device": 3}, 400), ({"device": "pack1", "x": 1}, 400), ([], 400)],
)
def test_refresh_refuses_bad_bodies_and_unknown_devices(
    client: FlaskClient, site: DemoSite, body: Any, status: int
) -> None:
    resp = client.post("/api/refresh", json=body, headers=AUTH)
    assert resp.status_code == status and resp.get_json()["error"]
    assert site.commands == []


def test_refresh_needs_credentials_and_shares_the_command_rate_limit(mosquitto: Any, site: DemoSite) -> None:
    running = build(web_settings(mosquitto, WEB_COMMAND_RATE="4"))
    try:
        client = running.app.test_client()
        statuses = [
            client.post("/api/refresh", json={}).status_code,  # no credentials
            client.post("/api/command", json={"device": "x", "command": "QMOD"}, headers=AUTH).status_code,
            client.post("/api/refresh", json={"device": "x"}, headers=AUTH).status_code,
        ]
        assert statuses == [401, 404, 429]  # one burst of rate/2 for refreshes and commands together
        assert site.commands == []
    finally:
        running.shutdown()


def test_login_session_needs_csrf_for_commands(client: FlaskClient, site: DemoSite) -> None:
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    assert client.post("/login", data={"password": "wrong", "csrf_token": csrf.group(1)}).status_code == 401
    assert client.post("/login", data={"password": "hunter22"}).status_code == 403  # no CSRF token
    resp = client.post("/login", data={"password": "hunter22", "csrf_token": csrf.group(1)})
    assert resp.status_code == 302
    body = {"device": "inverter", "command": "QMOD"}
    assert client.post("/api/command", json=body).status_code == 403  # session but no CSRF header
    page = client.get("/settings").get_data(as_text=True)
    token = re.search(r'data-csrf="([^"]+)"', page)
    assert token
    resp = client.post("/api/command", json=body, headers={"X-CSRF-Token": token.group(1)})
    assert resp.status_code == 200 and resp.get_json()["result"]["fields"] == {"mode": "battery"}


def test_commands_are_rate_limited(mosquitto: Any, site: DemoSite) -> None:
    running = build(web_settings(mosquitto, WEB_COMMAND_RATE="4"))
    try:
        client = running.app.test_client()
        statuses = [
            client.post("/api/command", json={"device": "x", "command": "QMOD"}, headers=AUTH).status_code
            for _ in range(6)
        ]
        assert statuses[:2] == [404, 404]  # the burst (rate/2) passes to validation
        assert 429 in statuses
    finally:
        running.shutdown()


def test_security_headers_and_local_assets(client: FlaskClient) -> None:
    for path in ("/", "/lcars", "/api/data"):
        resp = client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
    for theme_page in ("/", "/lcars", "/charts", "/charts/lcars"):
        html = client.get(theme_page).get_data(as_text=True)
        # Nothing from a CDN: every asset is served by us.
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css)(?:\?v=[0-9a-f]+)?)"', html)
        assert assets and all(a.startswith("/static/") and "?v=" in a for a in assets), assets
        for asset in assets:
            assert client.get(asset).status_code == 200
    # The ES modules import each other by plain relative URLs (no `?v=`): always revalidated.
    modules = sorted(p.name for p in (Path(app_module.__file__).parent / "static" / "js").glob("*.js"))
    assert "main.js" in modules and "solarstack.js" not in modules
    for name in modules:
        resp = client.get(f"/static/js/{name}")
        assert resp.status_code == 200 and "no-cache" in resp.headers["Cache-Control"]
        stamp = resp.headers["Last-Modified"]
        assert client.get(f"/static/js/{name}", headers={"If-Modified-Since": stamp}).status_code == 304
        # every module it imports exists
        for imported in re.findall(r'from "\./([a-z]+\.js)"', resp.get_data(as_text=True)):
            assert imported in modules, (name, imported)
    assert "max-age=86400" in client.get("/static/css/standard.css").headers["Cache-Control"]
    assert client.get("/static/vendor/antonio/antonio-latin-400-normal.woff2").status_code == 200


def test_reading_can_require_login(mosquitto: Any, site: DemoSite) -> None:
    running = build(web_settings(mosquitto, WEB_PASSWORD="pw", WEB_LOGIN_REQUIRED="true"))
    try:
        client = running.app.test_client()
        assert client.get("/api/data").status_code == 401
        assert client.get("/").status_code == 302
        assert client.get("/health").status_code == 200
        assert client.get("/api/data", headers=AUTH).status_code == 200
    finally:
        running.shutdown()


def test_health_ready_metrics(client: FlaskClient) -> None:
    assert client.get("/health").get_json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    assert "solarstack_web_mqtt_connected 1.0" in text
    assert re.search(r'solarstack_web_requests_total\{endpoint="ops.ready",status="200"\} 1.0', text)


def test_openapi_document_lists_the_api(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {
        "/api/data",
        "/api/historical",
        "/api/command",
        "/api/refresh",
        "/api/stream",
        "/api/export.csv",
        "/api/house",
    } <= set(spec["paths"])
    assert "all" in json.dumps(spec["paths"]["/api/historical"])
    json.dumps(spec)

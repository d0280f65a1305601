"""The weather device's discovery judged by real Home Assistant code (2024.1 and 2025.4, see
tests/discovery/ha_venv.py): every entity valid, units and classes allowed, templates render
our state, and the forecast series ride as attributes (json_attributes_topic) — no entity per hour."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_pv_forecast import Link
from weather_support import answer

from solarstack.core.device_url import parse_device_url
from solarstack.core.discovery import DeviceInfo, build_device_discovery, build_entity_discovery
from solarstack.devices.openmeteo import open_device

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "discovery"))
from ha_venv import HaChecker, ha_python

pytestmark = pytest.mark.timeout(3600)
STATE_TOPIC = "solarstack/weather/state"


@pytest.fixture(scope="module", params=["2024.1", "2025.4"])
def ha_check(request: pytest.FixtureRequest) -> Iterator[HaChecker]:
    checker = HaChecker(ha_python(request.param))
    yield checker
    checker.close()


def weather() -> tuple[Any, dict[str, Any]]:
    device = open_device(
        parse_device_url(
            "openmeteo+https://example.invalid?name=weather&latitude=45&longitude=7"
            "&arrays=east:5.2:30:90:14;west:4.8:30:270:14"
        )
    )
    device.transport = Link({"-90": answer({10: 600.0}), "90": answer({10: 200.0}, weather=False)})  # type: ignore[assignment]
    reading = device.query("forecast")
    return device, {"ts": "2026-01-15T06:15:00.000Z", **reading.values}


@pytest.mark.parametrize("mode", ["device", "entity"])
def test_every_weather_entity_passes_home_assistant_validation(ha_check: HaChecker, mode: str) -> None:
    device, state = weather()
    build = build_device_discovery if mode == "device" else build_entity_discovery
    messages = build(
        "solarstack",
        "homeassistant",
        DeviceInfo("weather", "Weather", "Open-Meteo", "Forecast API"),
        device.table("forecast"),
        origin_version="test",
    )
    results = {r["object_id"]: r for r in ha_check(messages, {STATE_TOPIC: json.dumps(state)})}
    for object_id, r in results.items():
        assert r["errors"] == [], (object_id, r["errors"])
        assert set(r["dropped"]) <= {"default_entity_id", "options"}, (object_id, r["dropped"])
    assert not [k for k in results if k.endswith("_01")]
    assert {"temperature", "pv_forecast_today", "condition", "stale"} <= set(results)
    # HA's schema took json_attributes_topic/_template and expire_after (nothing dropped, no
    # error above); what we sent for them:
    sent = [json.loads(payload) for _, payload in messages]
    entities = (
        sent[0]["cmps"] if mode == "device" else {c["uniq_id"].removeprefix("solarstack_weather_"): c for c in sent}
    )
    raw = entities["pv_forecast_today"]
    assert raw["json_attr_t"] == STATE_TOPIC and "pv_forecast_power" in raw["json_attr_tpl"]
    assert raw["exp_aft"] == 3 * 600 + 60
    assert float(results["pv_forecast_today"]["rendered"]) == pytest.approx(state["pv_forecast_today"])
    assert results["condition"]["rendered"] == "Partly cloudy"
    assert results["stale"]["rendered"] == "OFF"

"""The PV forecast's arithmetic (core/pvforecast.py), checked by hand, and through the weather
device with only its HTTP link replaced (the answers are Open-Meteo-shaped JSON)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from weather_support import answer

from solarstack.core import pvforecast
from solarstack.core.device_url import parse_device_url
from solarstack.devices.openmeteo import open_device

EAST = pvforecast.Plane("east", 5.2, 30, 90, 14)
WEST = pvforecast.Plane("west", 4.8, 30, 270, 14)

# Hand-computed, a clear hour at 20 °C air with 600 W/m² on the east roof, 200 W/m² on the west:
#   east: T_cell = 20 + 25/800 * 600 = 38.75 °C; derate 1 - 0.0037 * 13.75 = 0.949125
#         P = 5200 W * 0.600 * 0.949125 * (1 - 0.14) = 2546.6922 W
#   west: T_cell = 20 + 25/800 * 200 = 26.25 °C; derate 1 - 0.0037 * 1.25 = 0.995375
#         P = 4800 W * 0.200 * 0.995375 * 0.86 = 821.7816 W
EAST_W, WEST_W = 2546.6922, 821.7816


def test_two_planes_by_hand() -> None:
    assert pvforecast.cell_temperature(20.0, 600.0) == pytest.approx(38.75)
    assert pvforecast.plane_power_w(EAST, 600.0, 20.0) == pytest.approx(EAST_W, abs=1e-3)
    assert pvforecast.plane_power_w(WEST, 200.0, 20.0) == pytest.approx(WEST_W, abs=1e-3)
    assert pvforecast.site_power_w((EAST, WEST), (600.0, 200.0), 20.0) == pytest.approx(EAST_W + WEST_W, abs=1e-3)
    # dusk: Open-Meteo's GTI may dip below zero; that is no power, not negative power
    assert pvforecast.plane_power_w(EAST, -5.0, 20.0) == 0.0


def test_planes_from_text() -> None:
    assert pvforecast.parse_planes("east:5.2:30:90:14,west:4.8:30:270") == (EAST, WEST)
    for bad in ("east:5.2:30", "east:x:30:90", "east:5.2:95:90", "a:1:1:1,a:1:1:1", "e-1:1:1:1"):
        with pytest.raises(ValueError):
            pvforecast.parse_planes(bad)


class Link:
    """The lowest layer replaced: answers by plane (Open-Meteo's azimuth, 0 = south)."""

    def __init__(self, by_azimuth: dict[str, dict[str, Any]]) -> None:
        self.by_azimuth = by_azimuth
        self.asked: list[dict[str, str]] = []

    def get(self, path: str, params: dict[str, str]) -> bytes:
        assert path == "/v1/forecast"
        self.asked.append(params)
        return json.dumps(self.by_azimuth[params["azimuth"]]).encode()

    def close(self) -> None:
        pass


def test_device_forecast_for_two_planes_by_hand() -> None:
    device = open_device(
        parse_device_url(
            "openmeteo+https://example.invalid?name=weather&latitude=45&longitude=7"
            "&arrays=east:5.2:30:90:14;west:4.8:30:270:14"
        )
    )
    # hours ending 11:00 and 12:00 are clear; the next day's 12:00 too
    link = Link(
        {
            "-90": answer({10: 600.0, 11: 600.0, 35: 600.0}),
            "90": answer({10: 200.0, 11: 200.0, 35: 200.0}, weather=False),
        }
    )
    device.transport = link  # type: ignore[assignment]
    values = device.query("forecast").values
    # one request for the weather and the east roof, one for the west roof
    assert [(p["tilt"], p["azimuth"], "current" in p) for p in link.asked] == [("30", "-90", True), ("30", "90", False)]
    hour_kwh = (EAST_W + WEST_W) / 1000
    assert values["pv_forecast_today"] == pytest.approx(2 * hour_kwh, abs=1e-3)
    assert values["pv_forecast_tomorrow"] == pytest.approx(hour_kwh, abs=1e-3)
    # the series start at the hour now running (06:00-07:00); 10:00-11:00 is the 5th hour
    series = values["pv_forecast_power"]
    assert isinstance(series, list) and len(series) == 48
    assert series[4] == pytest.approx(EAST_W + WEST_W, abs=0.1) and series[3] == 0.0
    assert values["forecast_start"] == "2026-01-15T06:00:00Z"
    model = values["pv_forecast_model_today"]
    assert isinstance(model, list) and model[10] == pytest.approx(hour_kwh, abs=1e-3) and model[9] == 0.0
    # the learnt correction multiplies the hour it belongs to
    factors = [1.0] * 24
    factors[10] = 0.5
    device.correct_with(lambda: (factors, 12.5))
    values = device.query("forecast").values
    assert values["pv_forecast_today"] == pytest.approx(1.5 * hour_kwh, abs=1e-3)
    assert values["pv_forecast_mape"] == 12.5
    assert values["condition"] == "Partly cloudy" and values["condition_icon"] == "mdi:weather-night-partly-cloudy"
    assert values["sunrise"] == "2026-01-15T08:00:00Z"

"""The weather device against the simulator over real HTTP: a good answer, then each error the
simulator can give (400, 429, 500, a timeout, malformed JSON) as the typed, retryable error the
poller counts by kind — and the next good answer after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from weather_support import WeatherSim, start_sim

from solarstack.core.device_url import parse_device_url
from solarstack.core.errors import DeviceTimeout, ProtocolError, TransportError
from solarstack.devices.openmeteo import OpenMeteoDevice, open_device
from solarstack.transports.http import HttpError


@pytest.fixture
def sim() -> Iterator[WeatherSim]:
    s = start_sim("--hang", "3")
    yield s
    s.stop()


def device_for(sim: WeatherSim, extra: str = "") -> OpenMeteoDevice:
    return open_device(
        parse_device_url(
            f"openmeteo+{sim.url}?name=weather&latitude=45&longitude=0&timeout=1"
            f"&arrays=east:2.2:30:90:14;west:2.2:30:270:14{extra}"
        )
    )


def test_a_good_answer(sim: WeatherSim) -> None:
    values = device_for(sim).query("forecast").values
    assert isinstance(values["temperature"], float) and values["condition"]
    for key in ("hourly_temperature", "hourly_irradiance", "pv_forecast_power", "tilted_irradiance_east"):
        series = values[key]
        assert isinstance(series, list) and len(series) == 48, key
    assert values["stale"] is False
    today = values["pv_forecast_today"]
    assert isinstance(today, float) and today > 0  # the plant's latitude has sun every day
    assert "requests=2" in sim.control("status")  # one request per plane


@pytest.mark.parametrize(
    ("fault", "error", "kind"),
    [
        ("400", HttpError, "http"),
        ("429", HttpError, "http"),
        ("500", HttpError, "http"),
        ("timeout", DeviceTimeout, "timeout"),
        ("malformed", ProtocolError, "protocol"),
    ],
)
def test_errors_are_typed_and_the_next_answer_is_good(
    sim: WeatherSim, fault: str, error: type[Exception], kind: str
) -> None:
    device = device_for(sim)
    assert sim.control(f"fault {fault} 1") == "ok"
    with pytest.raises(error) as caught:
        device.query("forecast")
    assert caught.value.kind == kind  # type: ignore[attr-defined]
    if isinstance(caught.value, HttpError):
        assert caught.value.status == int(fault)
        assert (caught.value.retry_after == 60) == (fault == "429")
    assert device.query("forecast").values["stale"] is False


def test_a_server_that_is_gone_is_a_transport_error(sim: WeatherSim) -> None:
    device = device_for(sim)
    sim.stop()
    with pytest.raises(TransportError):
        device.query("forecast")


def test_start_flag_arms_faults() -> None:
    s = start_sim("--fault", "500:2")
    try:
        device = device_for(s)
        for _ in range(2):
            with pytest.raises(HttpError):
                device.query("forecast")
        assert device.query("forecast").values["condition"]
    finally:
        s.stop()

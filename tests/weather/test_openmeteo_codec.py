"""The Open-Meteo codec (protocols/openmeteo.py): what it asks and what it reads, pure.

Only ProtocolError may escape the decoder, whatever the bytes (the fuzz test)."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from weather_support import answer

from solarstack.core.errors import ProtocolError
from solarstack.core.fields import Kind
from solarstack.protocols import openmeteo


def test_request_names_open_meteo_parameters() -> None:
    params = openmeteo.request_params(52.52, 13.41, "Europe/Berlin", tilt=30, azimuth=90)
    assert params["latitude"] == "52.52" and params["longitude"] == "13.41"
    assert params["timezone"] == "Europe/Berlin" and params["timeformat"] == "unixtime"
    assert params["forecast_days"] == "3"
    assert params["tilt"] == "30" and params["azimuth"] == "-90"  # compass east -> Open-Meteo's -90
    assert "global_tilted_irradiance" in params["hourly"].split(",")
    assert params["current"].split(",") == list(openmeteo.CURRENT_VARIABLES)
    assert params["daily"] == "sunrise,sunset"
    west = openmeteo.request_params(0, 0, "auto", tilt=30, azimuth=270, weather=False)
    assert west["azimuth"] == "90" and "current" not in west and "daily" not in west
    assert openmeteo.request_params(0, 0, "auto", tilt=10, azimuth=180)["azimuth"] == "0"  # south


def test_decode_current_series_and_sun() -> None:
    values = openmeteo.decode(answer({10: 600.0}), now=answer({})["current"]["time"])
    assert values["temperature"] == 20.0 and values["humidity"] == 71.0 and values["pressure_msl"] == 1021.4
    assert values["weather_code"] == 2 and values["condition"] == "Partly cloudy"
    assert values["is_day"] is False and values["condition_icon"] == "mdi:weather-night-partly-cloudy"
    assert values["sunrise"] == "2026-01-15T08:00:00Z" and values["sunset"] == "2026-01-15T16:00:00Z"
    irradiance = values["hourly_irradiance"]
    assert isinstance(irradiance, list) and len(irradiance) == 48
    assert irradiance[4] == 480.0  # the hour 10:00-11:00, five hours after 06:00-07:00
    assert values["forecast_start"] == "2026-01-15T06:00:00Z"


def test_every_code_has_text_and_an_icon() -> None:
    assert all(text and icon.startswith("mdi:") for text, icon in openmeteo.WMO.values())


def test_series_are_attributes_not_entities() -> None:
    for f in (*openmeteo.SERIES, *openmeteo.PV):
        if f.kind is Kind.ARRAY:
            assert f.attribute_of, f.key
    keys = {f.key for f in (*openmeteo.CURRENT, *openmeteo.PV)}
    assert {f.attribute_of for f in (*openmeteo.SERIES, *openmeteo.PV) if f.attribute_of} <= keys


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[]", b'{"current": {}}', b'{"error": true, "reason": "Parameter latitude is invalid"}', b"\xff\xfe"],
)
def test_malformed_answers_are_protocol_errors(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        openmeteo.decode(openmeteo.parse(body), now=0)


def test_a_wrong_type_is_a_protocol_error() -> None:
    doc = answer({})
    doc["current"]["temperature_2m"] = "warm"
    with pytest.raises(ProtocolError, match="temperature_2m"):
        openmeteo.decode(doc, now=0)
    doc = answer({})
    doc["hourly"]["cloud_cover"] = doc["hourly"]["cloud_cover"][:5]
    with pytest.raises(ProtocolError, match="cloud_cover"):
        openmeteo.decode(doc, now=0)


GOOD = json.dumps(answer({10: 600.0})).encode()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(GOOD)), st.binary(max_size=20))
def test_fuzz_only_protocol_errors_escape(cut: int, junk: bytes) -> None:
    for body in (GOOD[:cut], GOOD[:cut] + junk + GOOD[cut:]):
        with contextlib.suppress(ProtocolError):
            openmeteo.decode(openmeteo.parse(body), now=0)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    )
)
def test_fuzz_any_json_value(doc: object) -> None:
    base = answer({})
    for block in ("current", "hourly", "daily"):
        mutated = {**base, block: doc}
        with contextlib.suppress(ProtocolError):
            openmeteo.decode(openmeteo.parse(json.dumps(mutated).encode()), now=0)

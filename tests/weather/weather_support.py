"""What the weather tests share: the simulator as a real process on a free port (`WeatherSim`)
and Open-Meteo answers written by hand (`answer`), laid out as protocols/openmeteo.py says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

#: A calm winter day for the hand-made answers: local midnight, UTC (offset 0).
MIDNIGHT = datetime(2026, 1, 15, tzinfo=UTC)


@dataclass
class WeatherSim:
    proc: subprocess.Popen[str]
    url: str

    def control(self, command: str) -> str:
        return requests.get(f"{self.url}/_control", params={"cmd": command}, timeout=5).text.strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_sim(*args: str) -> WeatherSim:
    proc = subprocess.Popen(
        [sys.executable, "-m", "solarstack.cli", "sim", "weather", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    return WeatherSim(proc, url)


def answer(
    gti: dict[int, float],
    *,
    temperature: float = 20.0,
    weather: bool = True,
    now: datetime = MIDNIGHT + timedelta(hours=6, minutes=15),
) -> dict[str, Any]:
    """Three days from MIDNIGHT; `gti` maps an hour index (the hour ENDING at index+1 o'clock
    of day one) to its tilted irradiance, every other hour dark."""
    times = [int((MIDNIGHT + timedelta(hours=i + 1)).timestamp()) for i in range(72)]
    hourly: dict[str, Any] = {
        "time": times,
        "temperature_2m": [temperature] * 72,
        "global_tilted_irradiance": [gti.get(i, 0.0) for i in range(72)],
    }
    doc: dict[str, Any] = {"utc_offset_seconds": 0, "timezone": "GMT", "hourly": hourly}
    if weather:
        hourly |= {
            "cloud_cover": [10] * 72,
            "precipitation_probability": [0] * 72,
            "shortwave_radiation": [gti.get(i, 0.0) * 0.8 for i in range(72)],
        }
        doc["current"] = {
            "time": int(now.timestamp()),
            "interval": 900,
            "temperature_2m": temperature,
            "relative_humidity_2m": 71,
            "apparent_temperature": 18.9,
            "precipitation": 0.0,
            "weather_code": 2,
            "cloud_cover": 10,
            "pressure_msl": 1021.4,
            "wind_speed_10m": 11.2,
            "wind_direction_10m": 250,
            "wind_gusts_10m": 24.5,
            "shortwave_radiation": 0.0,
            "is_day": 0,
        }
        days = [int((MIDNIGHT + timedelta(days=d)).timestamp()) for d in range(3)]
        doc["daily"] = {
            "time": days,
            "sunrise": [d + 8 * 3600 for d in days],
            "sunset": [d + 16 * 3600 for d in days],
        }
    return doc

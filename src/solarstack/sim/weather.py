"""Simulators: an Open-Meteo server — `/v1/forecast` answers driven by the plant model.

`solarstack sim weather --port N` (or `--tcp N`, like the other simulators) prints
`http://HOST:PORT` first, then serves until SIGTERM / SIGINT. It answers what the weather
device asks (protocols/openmeteo.py): `current` from the plant's state now (sim/plant.py:
its clouds, temperature, wind, pressure, humidity), `hourly` for three local days from
midnight with clear-sky irradiance dimmed by a cloud forecast that starts at the plant's
clouds and relaxes to the plant's mean, `global_tilted_irradiance` for the `tilt` and
`azimuth` asked (isotropic-sky transposition), `daily` sunrise and sunset. Only
`timeformat=unixtime` is spoken; other variables are ignored.

Errors on demand, from `--fault` at start or at run time through the control path
`GET /_control?cmd=<command>` on the same port:

    fault <400|429|500|timeout|malformed> [N|always]  -> ok   (no count: always)
    clear                                              -> ok
    status                                             -> ok faults=…

`timeout` holds the answer back for `--hang` seconds (default 30) and then sends it;
`malformed` sends half a JSON document with status 200; 429 carries `Retry-After`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from solarstack.core.errors import ConfigError
from solarstack.core.log import setup_logging_from
from solarstack.sim.plant import Plant, PlantConfig, PlantState
from solarstack.sim.tcp import tcp_port

FAULTS = ("400", "429", "500", "timeout", "malformed")
ALBEDO = 0.2

log = logging.getLogger(__name__)


class WeatherFaults:
    """Armed faults: fault -> replies left (None: always). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[str, int | None] = {}

    def arm(self, text: str) -> None:
        name, _, count = text.replace(" ", ":").partition(":")
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; choose from {', '.join(FAULTS)}")
        if count in ("", "always"):
            n: int | None = None
        elif count.isdigit():
            n = int(count)
        else:
            raise ValueError(f"fault count {count!r} must be a whole number or 'always'")
        with self._lock:
            if n == 0:
                self._armed.pop(name, None)
            else:
                self._armed[name] = n

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self) -> str | None:
        with self._lock:
            for name, left in list(self._armed.items()):
                if left is not None:
                    if left <= 1:
                        del self._armed[name]
                    else:
                        self._armed[name] = left - 1
                return name
            return None

    def describe(self) -> str:
        with self._lock:
            return ",".join(f"{k}:{'always' if v is None else v}" for k, v in self._armed.items()) or "none"


# --- the sky -----------------------------------------------------------------------------------


def sun_position(t: datetime, latitude: float) -> tuple[float, float]:
    """(elevation, compass azimuth) in degrees, local clock time taken as solar time (the plant's rule)."""
    doy = t.timetuple().tm_yday
    hours = t.hour + t.minute / 60 + t.second / 3600
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + doy) / 365)
    lat = math.radians(latitude)
    h = math.radians(15.0 * (hours - 12.0))
    sin_e = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(h)
    elevation = math.asin(max(-1.0, min(1.0, sin_e)))
    azimuth = math.atan2(math.sin(h), math.cos(h) * math.sin(lat) - math.tan(decl) * math.cos(lat))
    return math.degrees(elevation), (math.degrees(azimuth) + 180.0) % 360.0


def irradiance(
    t: datetime, latitude: float, cloud: float, tilt: float | None, azimuth: float | None
) -> tuple[float, float]:
    """(GHI, GTI) in W/m² at instant t: the plant's clear sky (1000 · sin(e)^1.15), dimmed by
    clouds (1 - 0.75 · cloud, as the plant), split into beam and diffuse and transposed."""
    elevation, sun_az = sun_position(t, latitude)
    if elevation <= 0:
        return 0.0, 0.0
    sin_e = math.sin(math.radians(elevation))
    ghi = 1000.0 * sin_e**1.15 * (1.0 - 0.75 * cloud)
    if tilt is None or azimuth is None:
        return ghi, 0.0
    diffuse_share = 0.15 + 0.75 * cloud
    dhi = ghi * diffuse_share
    dni = (ghi - dhi) / sin_e
    beta = math.radians(tilt)
    cos_incidence = sin_e * math.cos(beta) + math.cos(math.radians(elevation)) * math.sin(beta) * math.cos(
        math.radians(sun_az - azimuth)
    )
    gti = dni * max(0.0, cos_incidence) + dhi * (1 + math.cos(beta)) / 2 + ghi * ALBEDO * (1 - math.cos(beta)) / 2
    return ghi, gti


def _sun_times(day: datetime, latitude: float) -> tuple[datetime, datetime]:
    doy = day.timetuple().tm_yday
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + doy) / 365)
    x = -math.tan(math.radians(latitude)) * math.tan(decl)
    half = math.degrees(math.acos(max(-1.0, min(1.0, x)))) / 15.0  # hours from noon
    noon = day + timedelta(hours=12)
    return noon - timedelta(hours=half), noon + timedelta(hours=half)


# --- the answer --------------------------------------------------------------------------------


def weather_code(cloud: float, rain_mm_h: float) -> int:
    if rain_mm_h > 0:
        return 65 if rain_mm_h > 4 else 63 if rain_mm_h > 1 else 61
    return 0 if cloud < 0.1 else 1 if cloud < 0.3 else 2 if cloud < 0.7 else 3


def forecast(
    state: PlantState, config: PlantConfig, params: dict[str, str], *, mean_cloud: float = 0.35
) -> dict[str, Any]:
    """The Open-Meteo answer for the plant at `state.time` (see module doc)."""
    now = state.time
    delta = now.utcoffset()
    offset = int(delta.total_seconds()) if delta is not None else 0
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = int(params.get("forecast_days", "3") or 3)
    tilt = float(params["tilt"]) if "tilt" in params else None
    # Open-Meteo's azimuth (0 = south) back to compass degrees
    azimuth = (float(params["azimuth"]) + 180.0) % 360.0 if "azimuth" in params else None
    lat = config.latitude
    hourly: dict[str, list[Any]] = {k: [] for k in ("time", "temperature_2m", "cloud_cover")}
    hourly |= {k: [] for k in ("precipitation_probability", "shortwave_radiation", "global_tilted_irradiance")}
    for i in range(24 * days):
        end = midnight + timedelta(hours=i + 1)
        mid = end - timedelta(minutes=30)
        ahead = max(0.0, (mid - now).total_seconds() / 3600)
        # clouds relax from what the plant has now to its mean over ~a day, with a daily swell
        cloud = mean_cloud + (state.cloud_cover - mean_cloud) * math.exp(-ahead / 18) + 0.1 * math.sin(i / 7.0)
        cloud = min(1.0, max(0.0, cloud))
        ghi, gti = irradiance(mid, lat, cloud, tilt, azimuth)
        doy = mid.timetuple().tm_yday
        hours = mid.hour + mid.minute / 60
        temp = 14.0 - 8.0 * math.cos(2 * math.pi * (doy - 20) / 365) + 5.0 * math.sin(math.pi * (hours - 9) / 12)
        hourly["time"].append(int(end.timestamp()))
        hourly["temperature_2m"].append(round(temp, 1))
        hourly["cloud_cover"].append(round(cloud * 100))
        hourly["precipitation_probability"].append(round(max(0.0, cloud - 0.6) * 200))
        hourly["shortwave_radiation"].append(round(ghi, 1))
        hourly["global_tilted_irradiance"].append(round(gti, 1))
    wanted = set(params.get("hourly", "").split(",")) | {"time"}
    doc: dict[str, Any] = {
        "latitude": lat,
        "longitude": float(params.get("longitude", "0") or 0),
        "utc_offset_seconds": offset,
        "timezone": params.get("timezone", "GMT"),
        "hourly": {k: v for k, v in hourly.items() if k in wanted},
    }
    if params.get("current"):
        elevation, _ = sun_position(now, lat)
        stamp = int(now.timestamp()) // 900 * 900
        rain = state.precipitation_mm_h
        doc["current"] = {
            "time": stamp,
            "interval": 900,
            "temperature_2m": round(state.ambient_celsius, 1),
            "relative_humidity_2m": round(state.outdoor_humidity_percent),
            "apparent_temperature": round(state.ambient_celsius - 0.1 * state.wind_kmh, 1),
            "precipitation": round(rain, 1),
            "weather_code": weather_code(state.cloud_cover, rain),
            "cloud_cover": round(state.cloud_cover * 100),
            "pressure_msl": round(state.pressure_hpa, 1),
            "wind_speed_10m": round(state.wind_kmh, 1),
            "wind_direction_10m": round((200 + 40 * math.sin(stamp / 7200)) % 360),
            "wind_gusts_10m": round(state.wind_kmh * 1.6, 1),
            "shortwave_radiation": round(state.irradiance_w_m2, 1),
            "is_day": 1 if elevation > 0 else 0,
        }
    if params.get("daily"):
        mids = [midnight + timedelta(days=d) for d in range(days)]
        rises_sets = [_sun_times(m, lat) for m in mids]
        doc["daily"] = {
            "time": [int(m.timestamp()) for m in mids],
            "sunrise": [int(r.timestamp()) for r, _ in rises_sets],
            "sunset": [int(s.timestamp()) for _, s in rises_sets],
        }
    return doc


class WeatherServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], plant: Plant, *, hang: float = 30.0) -> None:
        super().__init__(address, _Handler)
        self.plant = plant
        self.lock = threading.Lock()  # the plant has one owner at a time
        self.faults = WeatherFaults()
        self.hang = hang
        self.closing = threading.Event()
        self.requests = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the reader gave up waiting (a `timeout` fault): nothing to report
        super().handle_error(request, client_address)

    def control(self, line: str) -> str:
        words = line.split()
        try:
            if words[:1] == ["fault"] and len(words) >= 2:
                self.faults.arm(":".join(words[1:3]))
                return "ok"
            if words == ["clear"]:
                self.faults.clear()
                return "ok"
            if words == ["status"]:
                return f"ok faults={self.faults.describe()} requests={self.requests}"
        except ValueError as exc:
            return f"error {exc}"
        return f"error unknown command {line!r}"


class _Handler(BaseHTTPRequestHandler):
    server: WeatherServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/_control":
            self._send(200, self.server.control(params.get("cmd", "")).encode() + b"\n")
            return
        if parts.path != "/v1/forecast":
            self._send(404, b'{"error":true,"reason":"Not Found"}')
            return
        self.server.requests += 1
        fault = self.server.faults.take()
        if fault == "timeout":
            self.server.closing.wait(self.server.hang)
            fault = None
        if fault in ("400", "429", "500"):
            reason = {"400": "Parameter 'latitude' is invalid", "429": "Too many requests", "500": "Internal error"}
            headers = {"Retry-After": "60"} if fault == "429" else None
            body = json.dumps({"error": True, "reason": reason[fault]}).encode()
            self._send(int(fault), body, headers)
            return
        for need in ("latitude", "longitude"):
            try:
                float(params.get(need, ""))
            except ValueError:
                self._send(400, json.dumps({"error": True, "reason": f"Parameter '{need}' is missing"}).encode())
                return
        with self.server.lock:
            state = self.server.plant.step()
            doc = forecast(state, self.server.plant.config, params)
        body = json.dumps(doc, separators=(",", ":")).encode()
        if fault == "malformed":
            body = body[: len(body) // 2]
        self._send(200, body)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="solarstack sim weather", description="Simulated Open-Meteo forecast API")
    p.add_argument("--port", "--tcp", dest="port", type=tcp_port, default=8897, help="HTTP port (0: any free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--fault", action="append", default=[], help=f"{'|'.join(FAULTS)}[:N|always] at start")
    p.add_argument("--hang", type=float, default=30.0, help="seconds a `timeout` fault holds the answer")
    p.add_argument("--seed", type=int, default=1, help="plant model seed (same seed, same day as the others)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--utc-offset", type=float, default=0.0, help="local time zone of the sun, hours")
    p.add_argument("--latitude", type=float, default=PlantConfig().latitude, help="where the plant is")
    return p


def build(args: argparse.Namespace) -> WeatherServer:
    tz = timezone(timedelta(hours=args.utc_offset)) if args.utc_offset else UTC
    plant = Plant(seed=args.seed, speed=args.speed, config=PlantConfig(latitude=args.latitude, tz=tz))
    server = WeatherServer((args.host, args.port), plant, hang=args.hang)
    for fault in args.fault:
        server.faults.arm(fault)
    return server


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        setup_logging_from(os.environ)
        server = build(args)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"solarstack sim weather: {exc}", file=sys.stderr)
        return 2
    endpoint = f"http://{args.host}:{server.server_address[1]}"
    print(endpoint, flush=True)
    log.info("serving on %s", endpoint)

    def stop(signum: int, _frame: object) -> None:
        server.closing.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.closing.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

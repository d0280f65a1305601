"""Helpers for the web tests: a demo site on a real Mosquitto, a recorder, the web server as a subprocess.

`DemoSite` publishes what the readers publish, built from the real parts: one device
catalogue per device from `core.catalog.build` over the real PI30 and JK02 field tables,
their energy counters (PI30's derived `grid_power` included) and the PI30 settings
allow-list fitted to the unit — and NO Home Assistant discovery, as with HA_DISCOVERY=off;
inverter state decoded by the PI30 codec from reply frames (the QPIGS and QPIRI payloads
are the examples in the mpp-solar project's README/docs, a real PIP-5048 answer); a JK BMS
pack with 16 cells; a BME280 house sensor (protocols/bme280.py's table and `values`); the
weather device as the weather reader has it — devices/openmeteo.py asking the Open-Meteo
simulator (sim/weather.py) over real HTTP once at start, its 48 h series and PV forecast
for two planes included.
It also answers commands on `.../set/<setting>` and `.../query` the way a reader does:
the `core.command` envelope unpacked (a stale one refused), the PI30 `setter_command`
range check, then a read-back in the state — so the console round-trip runs end to end.
(When the inverter simulator and reader service land, the browser test can run them
instead; this keeps the web tests independent of their pace.)
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import requests
from paho.mqtt.enums import CallbackAPIVersion

from solarstack.core import catalog
from solarstack.core import command as command_payload
from solarstack.core.device_url import parse_device_url
from solarstack.core.errors import SettingError
from solarstack.core.fields import Reading
from solarstack.core.mqtt import MqttClient
from solarstack.core.settings import CommonSettings, load
from solarstack.devices import openmeteo as openmeteo_device
from solarstack.devices.bms import BATTERY_COUNTERS
from solarstack.protocols import bme280, jk02, pi30
from solarstack.protocols.pi30.energy import PI30_COUNTERS
from solarstack.services.web.settings import WebSettings
from solarstack.sim.plant import Plant
from solarstack.sim.weather import WeatherServer
from support import free_port, wait_for

# mpp-solar docs, PIP-5048MS: QPIGS and QPIRI answers (payload between "(" and the CRC).
QPIGS = "000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 00110110 00 00 00856 010"
QPIRI = "230.0 21.7 230.0 50.0 21.7 5000 4000 48.0 46.0 42.0 56.4 54.0 0 10 010 1 0 0 6 01 0 0 54.0 0 1"
TOKEN = "test-token-0123456789"

HOUSE_FIELDS = bme280.table(altitude=True)
#: The weather reader's device: PV planes as in docs/weather.md, an east and a west roof.
WEATHER_URL = "openmeteo+http://{address}?name=weather&latitude=45&longitude=7&arrays=east:2:30:90;west:2:30:270"
#: What the inverter reader's catalogue lists: the PI30 tables it polls and the counters'
#: fields (energy totals, today's figures, the derived grid power).
INVERTER_QUERIES = ("QPIGS", "QPIRI", "QMOD", "QPIWS", "QFLAG")
INVERTER_FIELDS = (
    *pi30.table("QPIGS"),
    *pi30.table("QPIRI"),
    *pi30.table("QMOD"),
    *(f for c in PI30_COUNTERS for f in c.fields()),
)
PACK_FIELDS = (*jk02.table(jk02.TYPE_CELL_INFO, "32"), *(f for c in BATTERY_COUNTERS for f in c.fields()))
DEVICES = ("inverter", "pack1", "house", "weather")


Broker = Any  # tests/conftest.py's Broker: .host .port


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class DemoSite:
    """Publishes discovery and states for four devices and answers inverter commands."""

    prefix = "solarstack"

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        settings = CommonSettings(mqtt_host=broker.host, mqtt_port=broker.port)
        self.client = MqttClient(settings, f"demo-{uuid.uuid4().hex[:8]}")
        self.lock = threading.Lock()
        self.commands: list[tuple[str, str]] = []
        self.silent: set[str] = set()  # devices that do not answer a refresh (a reader that is down)
        self.tick = 0
        self.inverter: dict[str, Any] = {
            **pi30.decode("QPIGS", pi30.reply_frame(QPIGS)),
            **pi30.decode("QPIRI", pi30.reply_frame(QPIRI)),
            **pi30.decode("QMOD", pi30.reply_frame("B")),
        }

    def start(self) -> DemoSite:
        self.client.start()
        assert self.client.wait_connected(5), "demo site could not reach the broker"
        self.weather = self._fetch_weather()
        self.client.subscribe(f"{self.prefix}/inverter/set/+", self._on_set)
        self.client.subscribe(f"{self.prefix}/inverter/query", self._on_query)
        self.client.subscribe(f"{self.prefix}/+/refresh", self._on_refresh)
        self.client.subscribe(f"{self.prefix}/refresh", self._on_refresh)
        self.publish_catalogues()
        for device in DEVICES:
            self.client.publish(f"{self.prefix}/{device}/availability", "online", retain=True)
        self.step()
        return self

    def stop(self) -> None:
        self.client.stop()

    @staticmethod
    def _fetch_weather() -> Reading:
        """One `forecast` of the real weather device against the simulator, then the simulator stops."""
        server = WeatherServer(("127.0.0.1", 0), Plant())
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            device = openmeteo_device.open_device(
                parse_device_url(WEATHER_URL.format(address=f"127.0.0.1:{server.server_address[1]}"))
            )
            try:
                return device.query(openmeteo_device.COMMAND)
            finally:
                device.close()
        finally:
            server.shutdown()
            server.server_close()

    # -- what the readers publish -----------------------------------------------------

    def catalogues(self) -> dict[str, str]:
        """Each device's catalogue message, as its reader builds it (core.catalog.build)."""
        ctx = pi30.context_from(self.inverter)
        return {
            "inverter": catalog.build(
                {"id": "inverter", "name": "Inverter", "kind": "inverter", "protocol": "pi30",
                 "manufacturer": "Voltronic", "model": "PIP-5048MS"},
                INVERTER_FIELDS,
                pi30.settings_for(ctx),
                INVERTER_QUERIES,
            ),
            "pack1": catalog.build(
                {"id": "pack1", "name": "Battery pack 1", "kind": "battery", "protocol": "jk02",
                 "manufacturer": "JK", "model": "BD6A20S10P"},
                PACK_FIELDS,
                (),
                ("cell_info",),
                array_sizes={"cell_voltages": 16, "cell_resistances": 16},
            ),
            "house": catalog.build(
                {"id": "house", "name": "Living room", "kind": "house", "protocol": "bme280", "model": "BME280"},
                HOUSE_FIELDS,
            ),
            "weather": catalog.build(
                {"id": "weather", "name": "Weather", "kind": "weather", "protocol": "openmeteo",
                 "manufacturer": "Open-Meteo", "model": "Forecast API"},
                self.weather.fields,
                (),
                ("forecast",),
                array_sizes={k: len(v) for k, v in self.weather.values.items() if isinstance(v, list)},
            ),
        }  # fmt: skip

    def publish_catalogues(self) -> None:
        for device, message in self.catalogues().items():
            self.client.publish(f"{self.prefix}/{device}/catalog", message, retain=True)

    def step(self) -> dict[str, dict[str, Any]]:
        """Publish one new state per device; values move with `tick` so pages visibly change."""
        with self.lock:
            self.tick += 1
            t = self.tick
            # Every value moves on each step but stays plausible however long a demo runs.
            wave = math.sin(t / 5)
            self.inverter.update(
                pv_input_power=round(1800 + 40 * t % 400 + 600 * wave),
                ac_output_active_power=round(650 + 150 * math.cos(t / 3)),
                battery_voltage=round(52.4 + 0.3 * wave, 2),
                battery_charging_current=6,
                battery_capacity=70 + t % 25,
                # what the reader derives and counts (core.energy; the AC input is absent: 0 W)
                grid_power=0.0,
                pv_energy=round(812.5 + 0.01 * t, 3),
                pv_energy_today=round(4.2 + 0.01 * t, 3),
                load_energy_today=2.5,
                battery_charge_energy_today=1.25,
                battery_discharge_energy_today=0.75,
                grid_import_energy_today=0.0,
            )
            cells = [round(3.30 + 0.004 * math.sin(i + t), 3) for i in range(16)]
            states = {
                "inverter": dict(self.inverter),
                "pack1": {
                    "cell_voltages": cells,
                    "cell_count": 16,
                    "average_cell_voltage": round(sum(cells) / 16, 3),
                    "delta_cell_voltage": round(max(cells) - min(cells), 3),
                    "max_cell_voltage": max(cells),
                    "min_cell_voltage": min(cells),
                    "voltage": round(sum(cells), 2),
                    "current": 6.2,
                    "power": round(sum(cells) * 6.2, 1),
                    "temperature_1": 21.5,
                    "temperature_2": 22.0,
                    "temperature_mos": 27.0,
                    "alarm_cell_overvoltage": False,
                    "balancing": t % 2 == 0,
                    "balancing_action": "charging" if t % 2 == 0 else "off",
                    "soc": 72 + t % 25,
                    "cycles": 17,
                    "battery_energy_charged_today": 1.5,
                    "battery_energy_discharged_today": 0.5,
                },
                "house": bme280.values(21.0 + 0.5 * wave, 1013.2, 48.0, altitude=120.0),
                "weather": dict(self.weather.values),
            }
        stamp = now_iso()
        states = {device: {"ts": stamp, **state} for device, state in states.items()}
        for device, state in states.items():
            self.client.publish(f"{self.prefix}/{device}/state", json.dumps(state), retain=True)
        return states

    # -- answering commands like a reader ------------------------------------------------

    def _on_set(self, topic: str, payload: bytes) -> None:
        setting = topic.rsplit("/", 1)[-1]
        result: dict[str, Any]
        try:
            value = command_payload.parse(payload, datetime.now(UTC)).value
        except SettingError as exc:
            self.client.publish(f"{topic}/result", json.dumps({"ok": False, "value": None, "error": str(exc)}))
            return
        with self.lock:
            self.commands.append((setting, value))
        try:
            pi30.setter_command(setting, value, pi30.context_from(self.inverter))
            readback = pi30.expected_readback(setting, value)
            with self.lock:
                if readback is not None:
                    self.inverter[setting] = readback
            result = {"ok": True, "value": readback, "error": None}
        except SettingError as exc:
            result = {"ok": False, "value": None, "error": str(exc)}
        self.client.publish(f"{topic}/result", json.dumps(result))
        if result["ok"]:
            self.client.publish(
                f"{self.prefix}/inverter/state", json.dumps({"ts": now_iso(), **self.inverter}), retain=True
            )

    def _on_query(self, topic: str, payload: bytes) -> None:
        try:
            command = command_payload.parse(payload, datetime.now(UTC), key="command").value
        except SettingError as exc:
            self.client.publish(f"{topic}/result", json.dumps({"ok": False, "command": None, "error": str(exc)}))
            return
        with self.lock:
            self.commands.append(("query", command))
            keys = [f.key for f in pi30.table(command)] if pi30.is_query(command) else []
            fields = {k: self.inverter[k] for k in keys if k in self.inverter}
        ok = bool(fields)
        result = {"ok": ok, "command": command, "fields": fields, "error": None if ok else "not answered"}
        self.client.publish(f"{topic}/result", json.dumps(result))

    def _on_refresh(self, topic: str, payload: bytes) -> None:
        """Poll now, as a reader answers `<prefix>/<device>/refresh` and `<prefix>/refresh`."""
        named = topic.split("/")[-2] if topic.count("/") == 2 else None
        for device in DEVICES if named is None else [named]:
            if device not in DEVICES or device in self.silent:
                continue
            with self.lock:
                self.commands.append(("refresh", device))
            self.client.publish(
                f"{self.prefix}/{device}/refresh/result", json.dumps({"ok": True, "polled": ["all"], "error": None})
            )


class Recorder:
    """A plain paho subscriber recording every (topic, payload) it sees."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"rec-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(5)

    def _on_message(self, client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload))

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _ in self.messages]

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def web_env(broker: Broker, port: int, **extra: str) -> dict[str, str]:
    """The web's environment; STATE_DIR (the login limiter's file) is a fresh directory unless given."""
    return {
        "STATE_DIR": tempfile.mkdtemp(prefix="solarstack-web-state-"),
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.port),
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "WEB_API_TOKEN": TOKEN,
        "WEB_SSE_HEARTBEAT": "2",
        "LOG_LEVEL": "WARNING",
        "HA_DISCOVERY": "off",  # the web reads catalogues only (the demo site publishes no discovery)
        **extra,
    }


def web_settings(broker: Broker, **extra: str) -> WebSettings:
    return load(WebSettings, web_env(broker, free_port(), **extra))


class WebServer:
    """`solarstack run web` (gunicorn gthread) as a subprocess on a free port."""

    def __init__(self, broker: Broker, workdir: Path, *args: str, **extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **web_env(broker, self.port, **{"STATE_DIR": str(workdir / "web-state"), **extra})}
        self.log = workdir / f"web-{self.port}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "solarstack.cli", "run", "web", *args],
                env=env,
                stdout=out,
                stderr=out,
                cwd=workdir,
            )

    def wait_ready(self, devices: int = 0, timeout: float = 20.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"web exited {self.proc.returncode}:\n{self.log.read_text()}")
            # Every worker must be ready: fresh connections land on either worker's accept loop,
            # so several in a row must all see the broker and the devices.
            try:
                for _ in range(8):
                    close = {"Connection": "close"}
                    if requests.get(self.url + "/ready", timeout=1, headers=close).status_code != 200:
                        return False
                    data = requests.get(self.url + "/api/data", timeout=1, headers=close).json()
                    # ...and every device with its catalogue (its kind), or a command is refused
                    catalogued = [d for d in data["devices"].values() if d.get("kind")]
                    if len(catalogued) < devices:
                        return False
                return True
            except requests.RequestException:
                return False

        wait_for(ready, timeout, interval=0.05, what="web ready with devices")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


class RealInverter:
    """`solarstack sim inverter --tcp 0` and `solarstack run inverter` as subprocesses."""

    @staticmethod
    def start(
        broker: Broker, workdir: Path, *, name: str = "siminv", units: int | None = None
    ) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
        """The pair serving device `name`; with `units`, a parallel system of that many units."""
        sim_log = workdir / "sim.log"
        parallel = ["--units", str(units)] if units else []
        with sim_log.open("wb") as out:
            sim = subprocess.Popen(
                [sys.executable, "-m", "solarstack.cli", "sim", "inverter", "--tcp", "0", "--speed", "60", *parallel],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = wait_for(lambda: re.search(r"tcp://[\d.]+:\d+", sim_log.read_text()), 10, what="simulator URL").group(0)
        env = {
            **os.environ,
            "MQTT_HOST": broker.host,
            "MQTT_PORT": str(broker.port),
            "INVERTER_DEVICES": f"pi30+{url}?name={name}" + (f"&units={units}" if units else ""),
            "INVERTER_POLL_SECONDS": "1",
            # the web must need no Home Assistant discovery: the catalogue is all it reads
            "HA_DISCOVERY": "off",
            "METRICS_PORT": "0",
            "STATE_DIR": str(workdir / "state"),
            "LOG_LEVEL": "WARNING",
        }
        with (workdir / "inverter.log").open("wb") as out:
            reader = subprocess.Popen(
                [sys.executable, "-m", "solarstack.cli", "run", "inverter"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return sim, reader


#: Three microinverters at noon, taking a connection whenever asked.
DTU_ARGS = ("--inverters", "3", "--start", "12:00", "--min-interval", "0")


class RealDTU:
    """`solarstack sim hoymiles --tcp 0` (three microinverters at noon) and `solarstack run hoymiles`."""

    @staticmethod
    def start(broker: Broker, workdir: Path, *, name: str = "simroof") -> tuple[subprocess.Popen[bytes], ...]:
        sim_log = workdir / "dtu-sim.log"
        with sim_log.open("wb") as out:
            sim = subprocess.Popen(
                [sys.executable, "-m", "solarstack.cli", "sim", "hoymiles", "--tcp", "0", *DTU_ARGS],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        found = wait_for(lambda: re.search(r"tcp://[\d.]+:(\d+)", sim_log.read_text()), 10, what="simulated DTU port")
        env = {
            **os.environ,
            "MQTT_HOST": broker.host,
            "MQTT_PORT": str(broker.port),
            "HOYMILES_DEVICES": f"hoymiles+tcp://127.0.0.1:{found.group(1)}?name={name}",
            "HOYMILES_INTERVAL_SECONDS": "2",
            "HA_DISCOVERY": "off",
            "METRICS_PORT": "0",
            "STATE_DIR": str(workdir / "dtu-state"),
            "LOG_LEVEL": "WARNING",
        }
        with (workdir / "hoymiles.log").open("wb") as out:
            reader = subprocess.Popen(
                [sys.executable, "-m", "solarstack.cli", "run", "hoymiles"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return sim, reader

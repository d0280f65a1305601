"""The bms reader end to end: simulators on real ptys -> `solarstack run bms` code -> a real Mosquitto.

Three packs (JK serial, Daly, VE.Direct) on three ptys, one reader process-equivalent
(its asyncio main in a thread), a plain paho subscriber as the observer. Then one pack
falls silent and comes back: availability and the link counters must follow.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from solarstack.core.poller import CircuitBreaker
from solarstack.core.settings import load
from solarstack.protocols import daly, jkserial, vedirect
from solarstack.services import wiring
from solarstack.services.bms import main as bms_main
from solarstack.services.bms.settings import BmsSettings
from solarstack.sim.bms import build_server
from solarstack.sim.stream import StreamServer
from support import MqttRecorder, free_port


@pytest.fixture
def sims() -> Iterator[dict[str, tuple[StreamServer, str]]]:
    servers = {}
    for proto in ("jkserial", "daly", "vedirect"):
        server = build_server(proto, interval=0.25)
        path = server.add_pty()
        servers[proto] = (server.start(), path)
    yield servers
    for server, _ in servers.values():
        server.stop()


class ReaderThread:
    """The reader's asyncio main on its own thread, stopped like SIGTERM would."""

    def __init__(self, settings: BmsSettings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.readers: list[Any] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    async def _main(self) -> None:
        self.stop_event = asyncio.Event()
        original = wiring.build_readers

        def capture(settings: BmsSettings, devices: Any, plan: Any, metrics: Any) -> list[Any]:
            readers = original(settings, devices, plan, metrics)
            for r in readers:
                # the production breaker waits 30 s before probing a silent pack; the
                # test shortens that wait (same class, injected like Poller allows)
                r.poller.breaker = CircuitBreaker(failure_threshold=2, reset_timeout=0.5)
            self.readers = readers
            return readers

        wiring.build_readers = capture  # type: ignore[assignment]
        try:
            await bms_main.serve(self.settings, self.stop_event)
        finally:
            wiring.build_readers = original  # type: ignore[assignment]

    def start(self) -> ReaderThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(15)
        assert not self.thread.is_alive(), "reader did not stop"


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def test_three_packs_published_then_one_drops_off_and_returns(
    mosquitto: Any, sims: dict[str, tuple[StreamServer, str]], tmp_path: Path, wait_for: Any
) -> None:
    watcher = MqttRecorder(mosquitto, ["solarstack/#", "homeassistant/#"])
    wait_for(watcher.subscribed.is_set, what="subscribed")
    devices = ",".join(
        [
            f"jkserial+serial://{sims['jkserial'][1]}?name=pack_jk&poll=0.3&timeout=0.5&group=bank",
            f"daly+serial://{sims['daly'][1]}?name=pack_daly&poll=0.3&timeout=0.3&retries=1&group=bank",
            f"vedirect+serial://{sims['vedirect'][1]}?name=shunt&poll=0.5&timeout=1",
        ]
    )
    port = free_port()
    settings = load(
        BmsSettings,
        {
            "BMS_DEVICES": devices,
            "MQTT_HOST": mosquitto.host,
            "MQTT_PORT": str(mosquitto.port),
            "STATE_DIR": str(tmp_path),
            "METRICS_PORT": str(port),
            "METRICS_HOST": "127.0.0.1",
        },
    )
    reader = ReaderThread(settings).start()
    try:
        tables = {"pack_jk": jkserial.READ_ALL, "pack_daly": daly.ALL_FIELDS, "shunt": vedirect.FIELDS}
        for device, table in tables.items():
            state = wait_for(lambda d=device: watcher.json(f"solarstack/{d}/state"), 10, what=f"{device} state")
            assert watcher.text(f"solarstack/{device}/availability") == "online"
            assert state["ts"].endswith("Z")
            assert isinstance(state["battery_energy_charged"], float)
            if device != "shunt":  # a shunt reports what its model has (a BMV lacks cells)
                missing = [f.key for f in table if f.key not in state]
                assert not missing, f"{device} lacks {missing}"
                assert len(state["cell_voltages"]) == 16
                assert all(3.0 < v < 3.6 for v in state["cell_voltages"])
                assert 40 < state["voltage"] < 60
        # the two packs in group "bank" are also one system device
        bank = wait_for(
            lambda: (b := watcher.json("solarstack/bank/state")) and b["packs_online"] == 2 and b, 10, what="bank"
        )
        assert bank["pack_count"] == 2 and 40 < bank["voltage"] < 60 and bank["full_capacity"] > 0
        assert watcher.text("solarstack/bank/availability") == "online"
        assert "packs_online" in wait_for(lambda: watcher.json("homeassistant/device/bank/config"), 10)["cmps"]
        # every device, the group too, tells consumers what it is in its catalogue
        for device, kind in (("bank", "battery_group"), ("pack_jk", "battery"), ("shunt", "shunt")):
            cat = wait_for(lambda d=device: watcher.json(f"solarstack/{d}/catalog"), 10, what=f"{device} catalogue")
            assert cat["device"]["kind"] == kind
        assert {f["role"] for f in watcher.json("solarstack/bank/catalog")["fields"]} >= {"soc", "battery_power"}
        shunt = watcher.json("solarstack/shunt/state")
        for key in ("voltage", "current", "soc", "consumed_capacity", "energy_charged", "energy_discharged"):
            assert key in shunt, key

        # once the first reading told the cell count, discovery carries one sensor per cell
        def cells_discovered() -> Any:
            cfg = watcher.json("homeassistant/device/pack_jk/config")
            return cfg if cfg and "cell_voltages_16" in cfg["cmps"] else None

        cfg = wait_for(cells_discovered, 10, what="per-cell discovery")
        # and Home Assistant coming online gets it again
        sent = watcher.topics().count("homeassistant/device/pack_jk/config")
        watcher.client.publish("homeassistant/status", "online", qos=1)
        wait_for(
            lambda: watcher.topics().count("homeassistant/device/pack_jk/config") > sent,
            10,
            what="discovery re-sent on HA birth",
        )
        cmps = cfg["cmps"]
        assert cfg["dev"]["sw"] == "11.XW_S11.26___"  # the firmware the pack reported
        assert cmps["cell_voltages_01"]["unit_of_meas"] == "V"
        assert cmps["alarm_cell_overvoltage"]["p"] == "binary_sensor"
        assert cmps["battery_energy_charged"]["stat_cla"] == "total_increasing"
        assert cmps["battery_energy_charged"]["unit_of_meas"] == "kWh"
        text = _metrics(port)
        assert 'solarstack_device_up{device="pack_daly"} 1.0' in text
        assert 'solarstack_cell_voltages_volts{cell="16",device="pack_jk"}' in text
        assert 'solarstack_battery_energy_charged_joules_total{device="shunt"}' in text

        # the Daly pack falls silent: offline, errors counted; then it answers again
        daly_server = sims["daly"][0]
        daly_server.set_fault("silence", None)
        wait_for(lambda: watcher.text("solarstack/pack_daly/availability") == "offline", 20, what="offline")
        text = _metrics(port)
        assert 'solarstack_device_up{device="pack_daly"} 0.0' in text
        assert 'solarstack_poll_errors_total{device="pack_daly",kind="timeout"}' in text
        assert watcher.text("solarstack/pack_jk/availability") == "online"  # the others go on
        wait_for(lambda: watcher.json("solarstack/bank/state")["packs_online"] == 1, 10, what="bank without daly")
        before = watcher.json("solarstack/pack_daly/state")["ts"]
        daly_server.clear_faults()
        wait_for(lambda: watcher.text("solarstack/pack_daly/availability") == "online", 20, what="back online")
        wait_for(lambda: watcher.json("solarstack/pack_daly/state")["ts"] > before, 10, what="fresh state")
        assert 'solarstack_device_up{device="pack_daly"} 1.0' in _metrics(port)
        wait_for(lambda: watcher.json("solarstack/bank/state")["packs_online"] == 2, 10, what="bank whole again")
        reader.stop()
        assert reader.error is None, reader.error
        # a clean stop says goodbye on every pack's availability topic
        for device in ("pack_jk", "pack_daly", "shunt", "bank"):
            wait_for(lambda d=device: watcher.text(f"solarstack/{d}/availability") == "offline", 5, what=device)
    finally:
        reader.stop()
        watcher.close()

"""Soak harness: runs the whole simulated stack through a faulted, sped-up day and judges it.

`python -m solarstack.soak [--seed N] [--hours H] [--speed X]` (`make soak`): the stack is
`solarstack dev`'s own (dev.py `Stack`: the shipped broker config and ACL, every simulator and
service of the registry in services/registry.py, Prometheus), with these changes only:

- time: every simulator's plant runs `--speed` times faster (`--speed`, `--seed` passed to each
  simulator that takes them; the house sensor's in-reader fake bus gets `fake_speed`), and the
  readers poll every `--poll` wall seconds (`<READER>_POLL_SECONDS` and `<READER>_INTERVAL_SECONDS`
  for every reader of the registry — each knows one of the two —, and the BMS URL's `poll=`);
  nothing else is tuned: the breakers' probes and the MQTT reconnects follow the poll by their
  shipped defaults (probe at the next poll; reconnect at least twice a poll);
- one more device: a second PI30 inverter on a pty (`inverter_pty`), so unplug is also tried
  the way a USB adapter does it (the pty hangs up, a new one appears behind the same link);
- the sink: Debian's InfluxDB 1.6 when installed (writes idempotent on (device, ts), as in
  production), else VictoriaMetrics (`--sink` chooses);
- the simulators with a control port get one (faults), and the harness taps MQTT.

The schedule (schedule.py) is drawn from the seed; the verdicts come from analysis.py; the report
and plot from report.py. The harness is a top layer, like dev.py: nothing imports it, and it
imports no service code (it drives `solarstack run|sim` processes from the outside).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from solarstack.core.device_url import parse_device_list
from solarstack.core.log import setup_logging
from solarstack.dev import _CLI, Child, Stack, allocate_ports, port_open, repo_root
from solarstack.services.registry import SERVICES, SIMULATORS, readers
from solarstack.soak import analysis
from solarstack.soak.homeassistant import HomeAssistant, wait_for
from solarstack.soak.probes import EnergyTruth, InfluxReader, Tap, VictoriaReader, rss_of_group, written_by_group
from solarstack.soak.report import HaCheck, Report, plot, render
from solarstack.soak.schedule import FULL, SHORT, Event, Kind, Profile, Targets, needed, plan

log = logging.getLogger("solarstack.soak")

HOST = "127.0.0.1"
PTY_DEVICE = "inverter_pty"
DATABASE = "solarstack"
SAMPLE_EVERY = 2.0  # seconds between RSS and plant-energy samples
READY_TIMEOUT = 30.0
DRAIN_TIMEOUT = 120.0  # seconds the sink may take to hold every published state after the run
HA_EXTRA = "recorder:\nenergy:\n"  # configuration.yaml beyond the minimal one
HA_SETTLE = 120.0  # seconds HA may take after the window to show every energy sensor again


def _number(state: str | None) -> bool:
    try:
        return state is not None and float(state) == float(state)
    except ValueError:
        return False


@dataclass
class Options:
    seed: int
    hours: float  # simulated hours of the faulted window
    speed: float  # simulated seconds per wall second
    poll: float  # readers' poll interval, wall seconds
    profile: Profile
    workdir: Path
    out: Path
    sink: str = "auto"  # influxdb1 | victoria-metrics | auto
    warmup: float = 20.0  # wall seconds before the window opens (first polls, catalogues)
    plan_only: bool = False  # print the schedule, run nothing
    ha: Path | None = None  # a Home Assistant venv: attach it, validate its energy statistics after

    @property
    def window(self) -> float:
        return self.hours * 3600.0 / self.speed


class PortPool:
    """Free loopback ports, each handed out once: every one is held bound until all are chosen
    (asking the kernel one at a time, as `allocate_ports(0)` does, can give the same port twice)."""

    def __init__(self, count: int) -> None:
        socks = []
        try:
            for _ in range(count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((HOST, 0))
                socks.append(sock)
            self._free = [int(s.getsockname()[1]) for s in socks]
        finally:
            for sock in socks:
                sock.close()

    def take(self) -> int:
        return self._free.pop()


def _sim_options(name: str) -> set[str]:
    """Which of --speed, --seed, --control `solarstack sim <name>` takes (from its --help)."""
    out = subprocess.run(
        [sys.executable, "-c", _CLI, "sim", name, "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    return {opt for opt in ("--speed", "--seed", "--control") if opt in out}


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return 200 <= int(response.status) < 300
    except OSError:
        return False


def _control(port: int, line: str) -> str:
    with socket.create_connection((HOST, port), timeout=2.0) as sock:
        sock.sendall(line.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            buf += chunk
    return buf.decode().strip()


@dataclass
class Soak:
    opts: Options
    stack: Stack = field(init=False)
    pool: PortPool = field(init=False)
    control_ports: dict[str, int] = field(default_factory=dict)  # device -> its simulator's control port
    sim_child: dict[str, str] = field(default_factory=dict)  # device -> its simulator's child name
    reader_devices: dict[str, list[str]] = field(default_factory=dict)  # reader -> device ids
    truths: dict[str, EnergyTruth] = field(default_factory=dict)
    lifetimes: Counter[str] = field(default_factory=Counter)
    held: set[str] = field(default_factory=set)  # children down on purpose (a fault)
    unexpected: list[str] = field(default_factory=list)
    retry_at: dict[str, float] = field(default_factory=dict)  # child -> when the sampler restarts it
    retry_delay: dict[str, float] = field(default_factory=dict)
    rss: list[analysis.RssSample] = field(default_factory=list)
    cleared: list[analysis.Cleared] = field(default_factory=list)
    breaks: list[analysis.Break] = field(default_factory=list)
    injected: list[tuple[float, Event]] = field(default_factory=list)  # (wall clock, event)
    lock: threading.RLock = field(default_factory=threading.RLock)
    stopping: threading.Event = field(default_factory=threading.Event)
    sink_kind: str = ""
    sink_url: str = ""
    tap: Tap | None = None
    ha: HomeAssistant | None = None

    # -- building -----------------------------------------------------------------------------
    def build(self) -> None:
        o = self.opts
        names = list(allocate_ports(0, HOST))
        self.pool = PortPool(len(names) + len(SIMULATORS) + 8)
        ports = {name: self.pool.take() for name in names}
        self.stack = Stack(root=repo_root(), workdir=o.workdir, host=HOST, ports=ports)
        self.stack.build()
        speed, seed, poll = f"{o.speed:g}", str(o.seed), f"{o.poll:g}"
        for sim in SIMULATORS:
            child = self.child(sim.compose)
            offered = _sim_options(sim.name)
            extra = [a for opt, v in (("--speed", speed), ("--seed", seed)) if opt in offered for a in (opt, v)]
            if "--control" in offered:
                port = self.pool.take()
                extra += ["--control", str(port)]
                self.control_ports[sim.device] = port
            child.argv += extra
            self.sim_child[sim.device] = sim.compose
        self._add_pty_inverter(speed, seed)
        timeout = f"{max(0.5, o.poll / 2):g}"  # see below
        for service in readers():
            child = self.child(service.name)
            assert service.devices_var is not None
            env = child.env
            # Readers name their interval differently (INVERTER_POLL_SECONDS, WEATHER_INTERVAL_SECONDS,
            # HOYMILES_INTERVAL_SECONDS, …); a variable a reader does not know is ignored.
            upper = service.name.upper()
            env[f"{upper}_POLL_SECONDS"] = env[f"{upper}_INTERVAL_SECONDS"] = poll
            # Half a poll, as production keeps it well under one (3 s of 10): a request lost as a
            # fault clears (a silent device's) must time out before the next slot, or that slot is
            # skipped and the device read a poll late. A loopback device answers in ms.
            env[f"{upper}_TIMEOUT"] = timeout
            env[f"{upper}_RETRIES"] = "1"
            if service.name == "bms":  # the BMS reader's poll and timeout are device-URL options
                timing = f"poll={poll}&timeout={timeout}"
                env[service.devices_var] = ",".join(
                    f"{u}&{timing}" if "?" in u else f"{u}?{timing}" for u in env[service.devices_var].split(",")
                )
            if service.demo_devices and "fake=plant" in env[service.devices_var]:
                env[service.devices_var] = env[service.devices_var].replace(
                    "fake=plant", f"fake=plant&fake_speed={speed}&fake_seed={seed}"
                )
            self.reader_devices[service.name] = [u.name for u in parse_device_list(env[service.devices_var])]
        self.child("inverter").env["INVERTER_SLOW_POLL_SECONDS"] = "30"
        self._choose_sink()

    def child(self, name: str) -> Child:
        return next(c for c in self.stack.children if c.name == name)

    def _add_pty_inverter(self, speed: str, seed: str) -> None:
        link = self.opts.workdir / "ttyINVERTER"
        port = self.pool.take()
        argv = [sys.executable, "-c", _CLI, "sim", "inverter", "--pty", "--link", str(link)]
        argv += ["--control", str(port), "--speed", speed, "--seed", seed]
        logs = self.opts.workdir / "logs"
        env = dict(self.child(SIMULATORS[0].compose).env)
        pty = Child("sim-inverter-pty", argv, env, logs / "sim-inverter-pty.log", lambda: port_open(HOST, port))
        at = self.stack.children.index(self.child(SIMULATORS[0].compose))
        self.stack.children.insert(at + 1, pty)
        url = f"pi30+serial://{link}?name={PTY_DEVICE}"
        for name in ("mosquitto", "inverter"):  # the broker's ACL is made from the readers' device lists
            env_of = self.child(name).env
            env_of["INVERTER_DEVICES"] = f"{env_of['INVERTER_DEVICES']},{url}"
        self.control_ports[PTY_DEVICE] = port
        self.sim_child[PTY_DEVICE] = pty.name

    def _choose_sink(self) -> None:
        want = self.opts.sink
        influxd = shutil.which("influxd")
        if want == "influxdb1" or (want == "auto" and influxd):
            if influxd is None:
                raise SystemExit("soak: --sink influxdb1 but influxd is not installed (apt-get install influxdb)")
            self._use_influxdb1(influxd)
        elif not any(c.name == "victoria-metrics" for c in self.stack.children):
            raise SystemExit("soak: no sink: install influxdb or victoria-metrics")
        else:
            self.sink_kind = "victoria-metrics"
            self.sink_url = f"http://{HOST}:{self.stack.ports['influx']}"

    def _use_influxdb1(self, influxd: str) -> None:
        port = self.stack.ports["influx"]
        d = self.opts.workdir / "influxdb"
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "influxdb.conf"
        conf.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "{HOST}:{self.pool.take()}"\n'
            f'[meta]\n  dir = "{d / "meta"}"\n'
            f'[data]\n  dir = "{d / "data"}"\n  wal-dir = "{d / "wal"}"\n  query-log-enabled = false\n'
            f'[http]\n  bind-address = "{HOST}:{port}"\n  log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n"
            "[subscriber]\n  enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
        )
        self.sink_kind = "influxdb1"
        self.sink_url = f"http://{HOST}:{port}"
        reader = InfluxReader(self.sink_url, DATABASE)

        def ready() -> bool:
            if not port_open(HOST, port):
                return False
            try:
                reader.create_database()  # idempotent; the collector writes to it
            except OSError:
                return False
            return True

        vm = [i for i, c in enumerate(self.stack.children) if c.name == "victoria-metrics"]
        logs = self.opts.workdir / "logs"
        child = Child(
            "influxdb", [influxd, "-config", str(conf)], dict(self.child("mosquitto").env), logs / "influxdb.log", ready
        )
        if vm:
            self.stack.children[vm[0]] = child
        else:
            self.stack.children.insert(1, child)
        self.child("collector").env.update(
            INFLUX_URL=self.sink_url, INFLUX_API="v1", INFLUX_DATABASE=DATABASE, INFLUX_TIMEOUT="5"
        )

    @property
    def sink_child(self) -> str:
        return "influxdb" if self.sink_kind == "influxdb1" else "victoria-metrics"

    # -- processes --------------------------------------------------------------------------------
    def start_child(self, child: Child) -> None:
        with self.lock:
            child.start()
            self.lifetimes[child.name] += 1

    def wait_ready(self, child: Child, timeout: float = READY_TIMEOUT) -> float:
        deadline = time.monotonic() + timeout
        while child.ready is not None and not child.ready():
            if time.monotonic() > deadline or not child.alive:
                log.warning("%s is not ready (log %s):\n%s", child.name, child.log_path, child.log_tail())
                break
            time.sleep(0.02)
        return time.time()

    def stop_child(self, child: Child, sig: signal.Signals) -> None:
        with self.lock:
            self.held.add(child.name)
        child.signal_group(sig)
        if child.proc is not None:
            try:
                child.proc.wait(10.0)
            except subprocess.TimeoutExpired:
                child.signal_group(signal.SIGKILL)
                child.proc.wait(5.0)
        # what the leader forked (gunicorn's workers) goes with it
        child.signal_group(signal.SIGKILL)

    def restart_child(self, child: Child) -> float:
        self.start_child(child)
        at = self.wait_ready(child)
        with self.lock:
            self.held.discard(child.name)
        return at

    def start(self) -> None:
        creds = self.stack.passwords
        for child in self.stack.children:
            self.start_child(child)
            self.wait_ready(child)
            if child.name == "mosquitto":
                self.tap = Tap(HOST, self.stack.ports["mqtt"], "homeassistant", creds["homeassistant"]).start()
        for device, port in self.control_ports.items():
            # Simulators that answer `energy` (the inverter family, sim/inverter.py) report their
            # plant's exact integrals; the others are not energy-checked.
            with contextlib.suppress(OSError):
                if _control(port, "energy").startswith("ok clock="):
                    self.truths[device] = EnergyTruth(device, HOST, port)

    def _sampler(self) -> None:
        next_sample = 0.0
        while not self.stopping.wait(0.2):
            with self.lock:
                for child in self.stack.children:
                    if child.name in self.held or child.alive:
                        continue
                    # like a container's restart policy: again after 0.5 s, doubling up to 10 s
                    mono = time.monotonic()
                    if child.name not in self.retry_at:
                        code = child.proc.returncode if child.proc else None
                        self.unexpected.append(f"{time.time():.1f} {child.name} exited with {code}")
                        log.error("%s exited unexpectedly (%s):\n%s", child.name, code, child.log_tail())
                        for device in self._devices_of_child(child.name):
                            self.breaks.append(
                                analysis.Break(device, time.time(), time.time() + 15 + 5 * self.opts.poll)
                            )
                        if child.name in self.sim_child.values():
                            self._bump_truth(child.name)
                        delay = self.retry_delay.get(child.name, 0.5)
                        self.retry_at[child.name] = mono + delay
                        self.retry_delay[child.name] = min(delay * 2, 10.0)
                    elif mono >= self.retry_at[child.name]:
                        del self.retry_at[child.name]
                        self.start_child(child)
            now = time.time()
            if now < next_sample:
                continue
            next_sample = now + SAMPLE_EVERY
            for child in self.stack.children:
                if child.proc is not None and child.alive:
                    mb = rss_of_group(child.proc.pid)
                    if mb is not None:
                        written = written_by_group(child.proc.pid)
                        self.rss.append(analysis.RssSample(child.name, self.lifetimes[child.name], now, mb, written))
            for device, truth in self.truths.items():
                if self.sim_child[device] not in self.held:
                    truth.sample()

    def _devices_of_child(self, name: str) -> list[str]:
        return self.reader_devices.get(name, []) + [d for d, c in self.sim_child.items() if c == name]

    def _bump_truth(self, child_name: str) -> None:
        for device, name in self.sim_child.items():
            if name == child_name and device in self.truths:
                self.truths[device].lifetime += 1

    # -- faults -----------------------------------------------------------------------------------
    def inject(self, event: Event) -> None:
        began = time.time()
        self.injected.append((began, event))
        log.info("fault: %s", event.describe())
        kind, target = event.kind, event.target
        devices: list[str] = []
        if kind is Kind.UNPLUG:
            child = self.child(target)
            self.stop_child(child, signal.SIGTERM)
            time.sleep(event.duration)
            self._bump_truth(child.name)
            cleared = self.restart_child(child)
            devices = self._devices_of_child(child.name)
        elif kind is Kind.PTY_UNPLUG:
            port = self.control_ports[target]
            _control(port, "fault disconnect 1")
            deadline = time.monotonic() + 10 * self.opts.poll + 5
            while "disconnect" in _control(port, "status") and time.monotonic() < deadline:
                time.sleep(0.05)
            cleared = time.time()
            devices = [target]
        elif kind in (Kind.CRC, Kind.NAK, Kind.SILENT):
            port = self.control_ports[target]
            arm = {Kind.CRC: "fault crc @0.5", Kind.NAK: "fault nak always", Kind.SILENT: "fault silence always"}
            _control(port, arm[kind])
            time.sleep(event.duration)
            _control(port, "clear")
            cleared = time.time()
            devices = [target]
        elif kind in (Kind.BROKER, Kind.SINK_DOWN, Kind.WEB_RESTART):
            child = self.child(
                {Kind.BROKER: "mosquitto", Kind.SINK_DOWN: self.sink_child, Kind.WEB_RESTART: "web"}[kind]
            )
            self.stop_child(child, signal.SIGTERM)
            time.sleep(event.duration)
            cleared = self.restart_child(child)
        elif kind in (Kind.COLLECTOR_KILL, Kind.READER_KILL):
            child = self.child("collector" if kind is Kind.COLLECTOR_KILL else target)
            self.stop_child(child, signal.SIGKILL)
            cleared = self.restart_child(child)
            devices = self.reader_devices.get(child.name, [])
        else:  # pragma: no cover - every kind is handled above
            raise AssertionError(kind)
        for device in devices:
            # the reader integrates again from its next reading after the fault
            self.breaks.append(analysis.Break(device, began, cleared + 2 * self.opts.poll))
        self.cleared.append(analysis.Cleared(event.describe(), str(kind), cleared))

    # -- the run ----------------------------------------------------------------------------------
    def targets(self) -> Targets:
        return Targets(
            tcp_simulators=tuple(s.compose for s in SIMULATORS),
            controlled_devices=tuple(d for d in self.control_ports if d != PTY_DEVICE),
            pty_devices=(PTY_DEVICE,),
            readers=tuple(s.name for s in readers()),
        )

    def run(self) -> Report:
        o = self.opts
        events = plan(o.seed, o.window, self.targets(), o.profile)
        print(f"soak: seed {o.seed}; {len(events)} faults in {o.window / 60:.1f} min of wall clock", flush=True)
        for e in events:
            print(f"  +{e.at:7.1f} s  {e.describe()}", flush=True)
        started = time.time()
        self.start()
        sampler = threading.Thread(target=self._sampler, name="soak-sampler", daemon=True)
        sampler.start()
        try:
            collector = self.child("collector")
            port = int(collector.env["METRICS_PORT"])
            deadline = time.monotonic() + READY_TIMEOUT
            while not _http_ok(f"http://{HOST}:{port}/ready") and time.monotonic() < deadline:
                time.sleep(0.1)
            if o.ha is not None:
                self._attach_ha(o.ha)
            time.sleep(o.warmup)
            opened = time.time()
            print(f"soak: stack up in {opened - started:.0f} s; faults begin", flush=True)
            last_note = time.monotonic()
            for event in events:
                while time.time() < opened + event.at:
                    time.sleep(0.05)
                    if time.monotonic() - last_note > 60:
                        last_note = time.monotonic()
                        self._progress(opened)
                try:
                    self.inject(event)
                except (OSError, subprocess.SubprocessError) as exc:
                    # a fault that could not be injected (its target died meanwhile) is reported, not fatal
                    self.unexpected.append(f"{time.time():.1f} could not inject {event.describe()}: {exc}")
                    log.error("could not inject %s: %s", event.describe(), exc)
            while time.time() < opened + o.window:
                time.sleep(0.2)
            closed = time.time()
            print("soak: window closed; waiting for the sink to hold every state", flush=True)
            stored, drained = self._drain(opened, closed)
            report = self._judge(events, opened, closed, stored, drained)
            if self.ha is not None:
                report.ha = self._check_ha(self.ha)
        finally:
            self.stopping.set()
            sampler.join(5)
            if self.tap is not None:
                self.tap.stop()
            if self.ha is not None:
                self.ha.stop()
            self.stack.stop_all()
        return report

    def _attach_ha(self, venv: Path) -> None:
        """A real Home Assistant on the stack's broker as the `homeassistant` user, with the
        recorder and the Energy dashboard, for the whole faulted window."""
        print(f"soak: starting Home Assistant from {venv}", flush=True)
        self.ha = HomeAssistant(venv / "bin" / "python", self.opts.workdir / "homeassistant", extra_config=HA_EXTRA)
        self.ha.add_mqtt(HOST, self.stack.ports["mqtt"], "homeassistant", self.stack.passwords["homeassistant"])

    def _check_ha(self, ha: HomeAssistant) -> HaCheck:
        """What HA's Energy dashboard says of every energy sensor after the faulted day, once each
        shows a number again (the last fault's device back, HA's entities caught up)."""

        def settled() -> list[str] | None:
            sensors = ha.energy_sensors()
            states = {s["entity_id"]: s["state"] for s in ha.api("GET", "/api/states")}
            return sensors if sensors and all(_number(states.get(e)) for e in sensors) else None

        try:
            sensors = wait_for(settled, HA_SETTLE, interval=1.0, what="every energy sensor in HA showing a number")
            return HaCheck(len(sensors), ha.energy_issues(sensors))
        except Exception as exc:  # HA's verdict is one line of the report, never the loss of the report
            log.exception("asking Home Assistant failed")
            return HaCheck(0, {"": [f"asking HA failed: {type(exc).__name__}: {exc}"]})

    def _progress(self, opened: float) -> None:
        assert self.tap is not None
        n = len(self.tap.snapshot())
        hours = (time.time() - opened) * self.opts.speed / 3600
        print(f"soak: {hours:5.1f} simulated h, {len(self.injected)} faults so far, {n} states tapped", flush=True)

    def _sink_points(self) -> dict[str, list[int]]:
        reader = (
            InfluxReader(self.sink_url, DATABASE) if self.sink_kind == "influxdb1" else VictoriaReader(self.sink_url)
        )
        return reader.points()

    @property
    def resolution_ns(self) -> int:
        return 1 if self.sink_kind == "influxdb1" else 1_000_000

    def _drain(self, opened: float, closed: float) -> tuple[dict[str, list[int]], float]:
        """Wait until the sink holds every state published inside the window (or time runs out)."""
        assert self.tap is not None
        began = time.monotonic()
        stored: dict[str, list[int]] = {}
        while True:
            try:
                stored = self._sink_points()
            except (OSError, RuntimeError) as exc:
                log.warning("sink not readable yet: %s", exc)
            d = analysis.delivery(
                self.tap.snapshot(),
                stored,
                since_ns=int(opened * 1e9),
                until_ns=int(closed * 1e9),
                resolution_ns=self.resolution_ns,
            )
            if d.lost == 0 or time.monotonic() - began > DRAIN_TIMEOUT:
                return stored, time.monotonic() - began
            time.sleep(2.0)

    def _judge(
        self, events: Sequence[Event], opened: float, closed: float, stored: dict[str, list[int]], drained: float
    ) -> Report:
        assert self.tap is not None
        o = self.opts
        states = self.tap.snapshot()
        catalogs = dict(self.tap.catalogs)
        since, until = int(opened * 1e9), int(closed * 1e9)
        window_states = [s for s in states if since <= s.ts_ns <= until]
        delivered = analysis.delivery(states, stored, since_ns=since, until_ns=until, resolution_ns=self.resolution_ns)
        polls: dict[str, float] = {}
        counters: dict[str, list[str]] = {}
        roles: dict[str, dict[str, str]] = {}
        for device, cat in catalogs.items():
            interval = (cat.get("device") or {}).get("interval")
            polls[device] = float(interval) if isinstance(interval, int | float) and interval else o.poll
            fields = cat.get("fields") or []
            # our energy totals (integrated, or a device's meter held by the reader): never down.
            # Other totals a device reports itself (a BMS's cycle count) restart with the device.
            counters[device] = [
                f["key"]
                for f in fields
                if f.get("state_class") == "total_increasing"
                and f.get("device_class") == "energy"
                and not f["key"].endswith("_today")
            ]
            roles[device] = {f["role"]: f["key"] for f in fields if f.get("role")}
        tapped = {s.device for s in window_states}
        polls = {d: p for d, p in polls.items() if d in tapped}
        recoveries = analysis.recovery(self.cleared, states, polls)
        checked, drops = analysis.monotonic(window_states, counters)
        energies: list[analysis.EnergyCheck] = []
        for device, truth in self.truths.items():
            flows = {flow: roles.get(device, {}).get(f"{flow}_energy", "") for flow in ("pv", "load")}
            flows = {f: k for f, k in flows.items() if k}
            max_gap = 3 * polls.get(device, o.poll) + 5.0  # the reader's own rule (services/reader.py)
            energies += analysis.energy(
                device, window_states, truth.samples, flows, speed=o.speed, max_gap=max_gap, breaks=self.breaks
            )
        slopes = analysis.rss_slope(self.rss, speed=o.speed, warmup=o.warmup)
        ours = [s.name for s in SERVICES]
        idle, peak = analysis.memory_total(self.rss, ours, opened)
        # the raw records, to look into a verdict afterwards
        records = {
            "window": [opened, closed],
            "cleared": [c._asdict() for c in self.cleared],
            "breaks": [b._asdict() for b in self.breaks],
            "states": [[s.device, s.ts_ns, round(s.arrived, 4), s.retained] for s in states],
            "truth": {d: [t._asdict() for t in truth.samples] for d, truth in self.truths.items()},
        }
        (o.workdir / "records.json").write_text(json.dumps(records))
        return Report(
            seed=o.seed,
            speed=o.speed,
            hours=o.hours,
            poll=o.poll,
            sink=self.sink_kind,
            window=(opened, closed),
            events=[(at, e.describe(), str(e.kind)) for at, e in self.injected],
            faults=Counter(str(e.kind) for e in events),
            delivery=delivered,
            drained=drained,
            recoveries=recoveries,
            counters_checked=checked,
            drops=drops,
            energies=energies,
            slopes=slopes,
            writes=analysis.write_rates(self.rss),
            ours=ours,
            memory=(idle, peak),
            rss=self.rss,
            unexpected=self.unexpected,
            tap_bad=self.tap.bad,
        )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m solarstack.soak", description=__doc__.splitlines()[0] if __doc__ else None
    )
    p.add_argument("--seed", type=int, default=None, help="fault schedule and plant seed (default: drawn, and printed)")
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours under faults (default 24)")
    p.add_argument("--speed", type=float, default=30.0, help="simulated seconds per wall second (default 30, >= 10)")
    p.add_argument("--poll", type=float, default=2.0, help="readers' poll interval, wall seconds (default 2)")
    p.add_argument("--short", action="store_true", help="the CI profile: every kind of fault once, short outages")
    p.add_argument("--sink", choices=("auto", "influxdb1", "victoria-metrics"), default="auto")
    p.add_argument("--workdir", type=Path, default=None, help="logs and data (default: a new temp dir)")
    p.add_argument("--out", type=Path, default=Path("artifacts/soak"), help="report and plot (default artifacts/soak)")
    p.add_argument("--plan", action="store_true", help="print the fault schedule of the seed and stop (nothing runs)")
    p.add_argument(
        "--ha",
        type=Path,
        default=None,
        metavar="VENV",
        help="attach a real Home Assistant from this venv (tests/discovery/install_ha.sh 2025.4 builds one) and"
        " validate its Energy dashboard statistics after the run",
    )
    return p


def options(argv: Sequence[str] | None = None) -> Options:
    args = _parser().parse_args(list(argv) if argv is not None else None)
    if args.speed < 10:
        raise SystemExit("soak: --speed must be at least 10 (a simulated day in at most 2.4 h)")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="solarstack-soak-"))
    return Options(
        plan_only=args.plan,
        seed=seed,
        hours=args.hours,
        speed=args.speed,
        poll=args.poll,
        profile=SHORT if args.short else FULL,
        workdir=workdir.resolve(),
        out=args.out,
        sink=args.sink,
        ha=args.ha,
    )


def soak(opts: Options, on_signal: Callable[[], None] | None = None) -> Report:
    """Build, run and judge one soak; the report and plot are written under `opts.out`."""
    opts.workdir.mkdir(parents=True, exist_ok=True)
    run = Soak(opts)
    run.build()
    shortest = needed(run.targets(), opts.profile, opts.seed)
    if shortest > opts.window:
        raise SystemExit(
            f"soak: the faults need {shortest:.0f} s but {opts.hours:g} h at {opts.speed:g}x is {opts.window:.0f} s"
        )
    if opts.plan_only:
        for e in plan(opts.seed, opts.window, run.targets(), opts.profile):
            print(f"  +{e.at:7.1f} s  {e.describe()}", flush=True)
        raise SystemExit(0)
    report = run.run()
    opts.out.mkdir(parents=True, exist_ok=True)
    stem = opts.out / f"soak-{opts.seed}"
    text = render(report)
    Path(f"{stem}.txt").write_text(text)
    Path(f"{stem}.json").write_text(json.dumps(report.summary(), indent=2, sort_keys=True))
    report.plot_path = plot(report, Path(f"{stem}.png"))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    setup_logging(os.environ.get("LOG_LEVEL", "WARNING"), "text")
    opts = options(argv)
    print(f"soak: seed {opts.seed} (reproduce: make soak SEED={opts.seed}); workdir {opts.workdir}", flush=True)

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        report = soak(opts)
    except KeyboardInterrupt:
        print("soak: interrupted", file=sys.stderr)
        return 130
    print(render(report), flush=True)
    if report.plot_path is not None:
        print(f"plot: {report.plot_path}", flush=True)
    with contextlib.suppress(OSError):
        print(f"report: {opts.out / f'soak-{opts.seed}.txt'}", flush=True)
    return 0 if report.passed else 1

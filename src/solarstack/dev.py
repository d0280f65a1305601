"""`solarstack dev`: the whole stack as local processes, simulated, without Docker.

Top layer (a supervisor, like docker compose for one machine): it starts Mosquitto with the
SHIPPED config, ACL template and entrypoint (mosquitto/; passwords generated per run),
Prometheus and VictoriaMetrics (the InfluxDB-compatible sink) when their binaries are
installed, every simulator and service of the registry (services/registry.py), prints the
URLs, restarts a child that dies (logged, with back-off) and on Ctrl-C / SIGTERM stops every
child's process group.

It must NOT import service code (children run the same `solarstack run|sim …` entry points the
containers use), must not touch system configs or the system broker on 1883, and must not
leave a process behind.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from solarstack.core.log import setup_logging
from solarstack.services.registry import SERVICES, SIMULATORS, Service

log = logging.getLogger("solarstack.dev")

# The same entry point as the containers: `solarstack run <service>` / `solarstack sim <name>`.
_CLI = "import sys; from solarstack.cli import main; sys.exit(main())"

MQTT_USERS = (*(s.mqtt_user for s in SERVICES), "homeassistant")

# Port offsets from --port-base (0 = let the kernel pick each one): the servers of the stack,
# each simulator's TCP port, each service's metrics port (the web serves its own on "web").
_PORTS = (
    *("mqtt", "prometheus", "influx", "web"),
    *(f"sim_{s.name}" for s in SIMULATORS),
    *(f"m_{s.name}" for s in SERVICES if s.port_var == "METRICS_PORT"),
)

_SETTINGS_PREFIXES: tuple[str, ...] = (
    *("MQTT_", "HA_", "INFLUX_", "PROMETHEUS_", "METRICS_", "STATE_DIR", "LOG_FORMAT"),
    *(f"{s.name.upper()}_" for s in SERVICES),
)
DEFAULT_PORT_BASE = 18830
RESTART_MIN_DELAY = 1.0
RESTART_MAX_DELAY = 30.0
STOP_GRACE = 8.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def repo_root() -> Path:
    """The checkout holding mosquitto/ (editable install), else the current directory."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "mosquitto" / "mosquitto.conf").is_file() else Path.cwd()


def mosquitto_config(shipped: str, *, port: int, host: str, auth_dir: Path, user: str) -> str:
    """The shipped mosquitto.conf with only the listener, paths and run-as user changed."""
    out = []
    for line in shipped.splitlines():
        key = line.split(maxsplit=1)[0] if line.strip() else ""
        if key == "listener":
            line = f"listener {port} {host}"
        elif key == "password_file":
            line = f"password_file {auth_dir / 'passwd'}"
        elif key == "acl_file":
            line = f"acl_file {auth_dir / 'acl'}"
        elif key == "persistence_location":
            line = f"persistence_location {auth_dir}/"
        out.append(line)
    # Started as root, mosquitto would switch to user `mosquitto`, who cannot read our 0700 dir.
    out.append(f"user {user}")
    return "\n".join(out) + "\n"


def prometheus_config(targets: Mapping[str, str], interval: str = "15s", rules: Path | None = None) -> str:
    """Scrape config with one job per service, named like the compose services; with `rules`
    (the repo's prometheus/rules/, when it exists) its recording and alert rules are loaded too."""
    lines = ["global:", f"  scrape_interval: {interval}", f"  evaluation_interval: {interval}"]
    if rules is not None:
        lines += ["rule_files:", f"  - '{rules / '*.yml'}'"]
    lines.append("scrape_configs:")
    for job, target in targets.items():
        lines += [f"  - job_name: {job}", "    static_configs:", f"      - targets: ['{target}']"]
    return "\n".join(lines) + "\n"


@dataclass
class Child:
    """One supervised process: restarted with back-off when it dies, unless we are stopping."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    ready: Callable[[], bool] | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    next_start: float = 0.0
    delay: float = RESTART_MIN_DELAY

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            # Own session: one killpg stops the child and anything it forked.
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: signal.Signals) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def log_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Stack:
    """Builds the children from what is installed and supervises them."""

    root: Path
    workdir: Path
    host: str
    ports: dict[str, int]
    units: int = 1  # a simulated parallel inverter system of this many units (docs/parallel.md)
    passwords: dict[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    # -- building ---------------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        # The caller's own solarstack settings (a real .env exported) must not leak into the demo.
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTINGS_PREFIXES)}
        env.update(
            MQTT_HOST=self.host,
            MQTT_PORT=str(self.ports["mqtt"]),
            MQTT_PREFIX="solarstack",
            METRICS_HOST=self.host,
            PYTHONUNBUFFERED="1",
        )
        return env

    def _add(self, name: str, argv: list[str], env: dict[str, str], ready: Callable[[], bool] | None = None) -> None:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.children.append(Child(name, argv, env, logs / f"{name}.log", ready))

    def _units_option(self, sim: str) -> str:
        return f"&units={self.units}" if sim == "inverter" and self.units > 1 else ""

    def _units_args(self, sim: str) -> list[str]:
        return ["--units", str(self.units)] if sim == "inverter" and self.units > 1 else []

    def _listening(self, port: int) -> Callable[[], bool]:
        return lambda: port_open(self.host, port)

    def build(self) -> None:
        self.passwords = {user: secrets.token_urlsafe(18) for user in MQTT_USERS}
        devices: dict[str, list[str]] = {}
        for sim in SIMULATORS:
            url = sim.url(self.host, self.ports[f"sim_{sim.name}"])
            devices.setdefault(sim.reader, []).append(url + self._units_option(sim.name))
        for service in SERVICES:  # in-process simulated devices (the house sensor's fake I2C bus)
            if service.demo_devices:
                devices.setdefault(service.name, []).append(service.demo_devices)

        self._build_mosquitto(devices)
        have_influx = self._build_victoria_metrics()
        scrape: dict[str, str] = {}
        for sim in SIMULATORS:
            port = self.ports[f"sim_{sim.name}"]
            self._add(
                sim.compose,
                [sys.executable, "-c", _CLI, *sim.command(self.host, port), *self._units_args(sim.name)],
                self._base_env(),
                self._listening(port),
            )
        for service in SERVICES:
            env = self._service_env(service, devices, have_influx)
            port = int(env[service.port_var])
            scrape[service.name] = f"{self.host}:{port}"
            self._add(service.name, [sys.executable, "-c", _CLI, *service.command], env, self._listening(port))
        self._build_prometheus(scrape)
        self.urls["mqtt"] = f"mqtt://{self.host}:{self.ports['mqtt']} (credentials: {self.workdir / 'credentials.env'})"
        self.urls["web"] = f"http://{self.host}:{self.ports['web']}/"
        for name, target in scrape.items():
            self.urls[f"{name} metrics"] = f"http://{target}/metrics"

    def _build_mosquitto(self, devices: Mapping[str, list[str]]) -> None:
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        auth = self.workdir / "mosquitto"
        auth.mkdir(parents=True, exist_ok=True)
        os.chmod(auth, 0o700)
        shipped = (self.root / "mosquitto" / "mosquitto.conf").read_text()
        conf = auth / "mosquitto.conf"
        conf.write_text(
            mosquitto_config(shipped, port=self.ports["mqtt"], host=self.host, auth_dir=auth, user=getpass.getuser())
        )
        env = self._base_env()
        env.update(MOSQUITTO_CONF=str(conf), MOSQUITTO_ACL_TEMPLATE=str(self.root / "mosquitto" / "acl.template"))
        env.update({f"MQTT_PASSWORD_{u.upper()}": p for u, p in self.passwords.items()})
        env.update({s.devices_var: ",".join(devices.get(s.name, ())) for s in SERVICES if s.devices_var})
        creds = self.workdir / "credentials.env"
        creds.touch(mode=0o600)
        creds.write_text("".join(f"MQTT_PASSWORD_{u.upper()}={p}\n" for u, p in self.passwords.items()))
        entrypoint = str(self.root / "mosquitto" / "entrypoint.sh")
        self._add("mosquitto", ["sh", entrypoint, mosquitto, "-c", str(conf)], env, self._listening(self.ports["mqtt"]))

    def _build_victoria_metrics(self) -> bool:
        binary = shutil.which("victoria-metrics")
        if binary is None:
            log.warning(
                "victoria-metrics not installed: no InfluxDB-compatible sink (apt-get install victoria-metrics)"
            )
            return False
        port = self.ports["influx"]
        argv = [
            binary,
            f"-httpListenAddr={self.host}:{port}",
            f"-storageDataPath={self.workdir / 'victoria-metrics'}",
            "-retentionPeriod=7d",
            "-search.latencyOffset=0s",
        ]
        self._add("victoria-metrics", argv, self._base_env(), self._listening(port))
        self.urls["influx (VictoriaMetrics)"] = f"http://{self.host}:{port}/"
        return True

    def _build_prometheus(self, scrape: Mapping[str, str]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            log.warning("prometheus not installed: no metrics history (apt-get install prometheus)")
            return
        port = self.ports["prometheus"]
        conf = self.workdir / "prometheus.yml"
        rules = self.root / "prometheus" / "rules"
        conf.write_text(prometheus_config(scrape, interval="5s", rules=rules if rules.is_dir() else None))
        argv = [
            binary,
            f"--config.file={conf}",
            f"--storage.tsdb.path={self.workdir / 'prometheus'}",
            f"--web.listen-address={self.host}:{port}",
            "--storage.tsdb.retention.time=7d",
        ]
        self._add("prometheus", argv, self._base_env(), self._listening(port))
        self.urls["prometheus"] = f"http://{self.host}:{port}/"

    def _service_env(self, service: Service, devices: Mapping[str, list[str]], have_influx: bool) -> dict[str, str]:
        env = self._base_env()
        env.update(
            MQTT_USERNAME=service.mqtt_user,
            MQTT_PASSWORD=self.passwords[service.mqtt_user],
            STATE_DIR=str(self.workdir / "state" / service.name),
            METRICS_PORT=str(self.ports.get(f"m_{service.name}", 0)),
            LOG_LEVEL=os.environ.get("LOG_LEVEL", "INFO"),
        )
        if service.devices_var:
            env[service.devices_var] = ",".join(devices.get(service.name, ()))
        if service.name == "web":
            env.update(
                WEB_HOST=self.host,  # where --host says (loopback by default), never the model's 0.0.0.0
                WEB_PORT=str(self.ports["web"]),
                WEB_API_TOKEN=self.passwords["web"],
                PROMETHEUS_URL=f"http://{self.host}:{self.ports['prometheus']}",
            )
        if service.name == "collector" and have_influx:
            # VictoriaMetrics takes the v2 write path and ignores org, bucket and token
            env.update(
                INFLUX_URL=f"http://{self.host}:{self.ports['influx']}",
                INFLUX_API="v2",
                INFLUX_TOKEN="dev",
                INFLUX_ORG="solarstack",
            )
        return env

    # -- running ----------------------------------------------------------------------------
    def start_all(self, ready_timeout: float = 20.0) -> None:
        """Start children in order, each after the one before answers on its port."""
        for child in self.children:
            if self.stopping.is_set():
                return
            child.start()
            log.info("started %s (pid %d)", child.name, child.proc.pid if child.proc else -1)
            deadline = time.monotonic() + ready_timeout
            while child.ready is not None and not child.ready():
                if not child.alive or time.monotonic() > deadline or self.stopping.wait(0.05):
                    if not self.stopping.is_set():
                        log.warning("%s is not ready (see %s):\n%s", child.name, child.log_path, child.log_tail())
                    break

    def supervise(self, poll: float = 0.2) -> None:
        """Restart dead children with doubling back-off (reset after a minute of good running)."""
        while not self.stopping.wait(poll):
            now = time.monotonic()
            for child in self.children:
                if child.alive:
                    if now - child.started_at > 60.0:
                        child.delay = RESTART_MIN_DELAY
                    continue
                if child.proc is not None:
                    code = child.proc.returncode
                    child.proc = None
                    child.next_start = now + child.delay
                    log.error(
                        "%s exited with %s; restarting in %.0f s (log %s):\n%s",
                        child.name,
                        code,
                        child.delay,
                        child.log_path,
                        child.log_tail(),
                    )
                    child.delay = min(child.delay * 2, RESTART_MAX_DELAY)
                elif now >= child.next_start:
                    child.restarts += 1
                    child.start()
                    log.info(
                        "restarted %s (pid %d, restart #%d)",
                        child.name,
                        child.proc.pid if child.proc else -1,
                        child.restarts,
                    )

    def stop_all(self) -> None:
        """SIGTERM every process group (services first, broker last), then SIGKILL stragglers."""
        self.stopping.set()
        for child in reversed(self.children):
            child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for child in reversed(self.children):
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s: killing it", child.name, STOP_GRACE)
            # The leader may be gone while something it forked lingers: sweep the group.
            child.signal_group(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(2.0)


def allocate_ports(base: int, host: str) -> dict[str, int]:
    if base:
        return {name: base + i for i, name in enumerate(_PORTS)}
    # Every socket stays bound until all are chosen: asking the kernel one port at a time can
    # hand out the same port twice (seen in the soak: Prometheus and the web on one port).
    socks: list[socket.socket] = []
    try:
        for _ in _PORTS:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((host, 0))
        return {name: int(sock.getsockname()[1]) for name, sock in zip(_PORTS, socks, strict=True)}
    finally:
        for sock in socks:
            sock.close()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="solarstack dev", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument(
        "--workdir", type=Path, default=Path(".state/dev"), help="logs, data, credentials (default .state/dev)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address every server binds to (default 127.0.0.1)")
    p.add_argument(
        "--port-base",
        type=int,
        default=None,
        help=f"first of {len(_PORTS)} ports (default {DEFAULT_PORT_BASE}, free ones if taken); 0 = free ports",
    )
    p.add_argument("--root", type=Path, default=None, help="checkout holding mosquitto/ (default: found)")
    p.add_argument(
        "--units",
        type=int,
        default=1,
        choices=range(1, 10),
        metavar="N",
        help="simulate a parallel inverter system of N units, 2..9 (default 1: one inverter)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(argv) if argv is not None else None)
    # The demo's console reads as text whatever the caller's LOG_FORMAT (not passed on either).
    setup_logging("INFO", "text")
    root = (args.root or repo_root()).resolve()
    if not (root / "mosquitto" / "entrypoint.sh").is_file():
        print(
            f"solarstack dev: no mosquitto/entrypoint.sh under {root}; run it from the checkout or pass --root",
            file=sys.stderr,
        )
        return 2
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    ports = allocate_ports(args.port_base or DEFAULT_PORT_BASE, args.host)
    busy = [f"{n}={p}" for n, p in ports.items() if port_open(args.host, p)]
    if busy and args.port_base:
        print(f"solarstack dev: ports already in use: {', '.join(busy)}; pick another --port-base", file=sys.stderr)
        return 2
    if busy or args.port_base == 0:
        if busy:
            log.warning("ports %s are in use: using free ports instead", ", ".join(busy))
        ports = allocate_ports(0, args.host)
    stack = Stack(root=root, workdir=workdir, host=args.host, ports=ports, units=args.units)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stack.stopping.set()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stack.build()
        stack.start_all()
        if not stack.stopping.is_set():
            width = max(len(k) for k in stack.urls)
            print(
                "\n".join(f"  {k:<{width}}  {stack.urls[k]}" for k in sorted(stack.urls, key=lambda k: k != "web")),
                flush=True,
            )
            print(
                f"solarstack dev: ready ({len(stack.children)} processes, logs in {workdir / 'logs'}); Ctrl-C stops",
                flush=True,
            )
            stack.supervise()
    finally:
        stack.stop_all()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    print("solarstack dev: stopped", flush=True)
    return 0

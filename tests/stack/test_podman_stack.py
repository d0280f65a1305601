"""The compose stack for real, under rootful podman (no Docker engine here).

Every image is built from our Dockerfiles on a local stand-in base (a debootstrap'd Debian
plus Python, passed as PYTHON_IMAGE: no registry), the `demo` profile comes up through a real
compose implementation (Compose v2) talking to podman's Docker API socket, with a test
override replacing what cannot run here: InfluxDB by VictoriaMetrics (it accepts InfluxDB
writes) and no Grafana. Podman runs no healthchecks without systemd, so a loop runs them
every second. Then: every healthcheck passes, simulated readings reach /api/data,
Prometheus has every target up, and `down -v` leaves nothing behind. Image sizes and idle
memory per container are written to artifacts/stack-figures.json.

Everything podman keeps (storage, images, networks) lives under a cache dir that survives
between runs (SOLARSTACK_TEST_CACHE, default /var/cache/solarstack-test as root), through
our own CONTAINERS_CONF / CONTAINERS_STORAGE_CONF: the machine's podman set-up is untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from compose_model import SECRETS

from solarstack.services.registry import SERVICES, SIMULATORS
from support import free_port, wait_for

pytestmark = [pytest.mark.podman, pytest.mark.slow, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]
# One stack at a time per cache (parallel pytest runs share the images): a lock file serialises
# them, and the project name is unique so a crashed run's leftovers are recognisable.
PROJECT = f"solarstacktest{os.getpid()}"
PROJECT_PREFIX = "solarstacktest"
NS = "localhost/solarstack-test"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
# Not there yet: a server still starting, an answer not yet whole.
RETRY = (OSError, ValueError)


def _cache_dir() -> Path:
    if os.environ.get("SOLARSTACK_TEST_CACHE"):
        return Path(os.environ["SOLARSTACK_TEST_CACHE"])
    if os.geteuid() == 0:
        return Path("/var/cache/solarstack-test")
    return Path.home() / ".cache" / "solarstack-test"


def _missing_tools() -> list[str]:
    return [t for t in ("podman", "debootstrap", "runc", "iptables") if shutil.which(t) is None]


if os.geteuid() != 0 or _missing_tools():
    pytest.skip(f"needs root and {', '.join(_missing_tools()) or 'podman'} (make deps)", allow_module_level=True)


def _debian_mirror() -> str:
    """The Debian mirror this machine uses (deb822 or one-line sources)."""
    for src in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if not src.is_file():
            continue
        for line in src.read_text().splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and "security" not in words[1]:
                return words[1]
            if words[:1] == ["deb"] and "security" not in line:
                return next(w for w in words[1:] if w.startswith("http"))
    return "http://deb.debian.org/debian"


# Stand-ins for the upstream images (built FROM the debootstrap'd base; names carry a hash of
# their definition so a change rebuilds them).
PYTHON_STANDIN = """\
FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python3-venv \\
    && rm -rf /var/lib/apt/lists/* && ln -s /usr/bin/python3 /usr/local/bin/python
# This machine's egress CA (tests only; never in our Dockerfiles).
COPY host-ca.crt /etc/ssl/certs/host-ca.crt
ENV PIP_CERT=/etc/ssl/certs/host-ca.crt SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt
"""
INFRA_STANDIN = """\
FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends mosquitto mosquitto-clients \\
        prometheus victoria-metrics wget && rm -rf /var/lib/apt/lists/* \\
    && mkdir -p /mosquitto/config /mosquitto/data /prometheus /var/lib/influxdb2 \\
    && chown 1883:1883 /mosquitto/data && chown 65534:65534 /prometheus \\
    && chown 1000:1000 /var/lib/influxdb2
"""
PROMETHEUS_STANDIN = """\
FROM {infra}
ENTRYPOINT ["/usr/bin/prometheus"]
"""

# What cannot run here, replaced: InfluxDB 2 -> VictoriaMetrics (InfluxDB write API), no Grafana.
OVERRIDE = """\
services:
  influxdb:
    image: {infra}
    entrypoint: ["/usr/bin/victoria-metrics"]
    command: ["-httpListenAddr=:8086", "-storageDataPath=/var/lib/influxdb2", "-retentionPeriod=1d",
              "-search.latencyOffset=0s"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8086/health"]
"""


def _tag(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class Podman:
    """podman with our own containers.conf / storage.conf under the cache dir."""

    cache: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cache.mkdir(parents=True, exist_ok=True)
        conf = self.cache / "containers.conf"
        storage = self.cache / "storage.conf"
        # runc: crun rejects the hybrid cgroup layout here. Ulimits: root lacks CAP_SYS_RESOURCE.
        conf.write_text(
            "[containers]\n"
            'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
            "[engine]\n"
            'runtime = "runc"\n'
            f'tmp_dir = "{self.cache}/tmp"\n'
            "[network]\n"
            f'network_config_dir = "{self.cache}/networks"\n'
        )
        storage.write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{self.cache}/storage"\nrunroot = "{self.cache}/runroot"\n'
        )
        self.env = {
            **os.environ,
            "CONTAINERS_CONF": str(conf),
            "CONTAINERS_STORAGE_CONF": str(storage),
        }

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def image_exists(self, name: str) -> bool:
        return self.run("image", "exists", name, check=False).returncode == 0

    def build(self, name: str, containerfile: str, context: Path, files: dict[str, Path] | None = None) -> str:
        if self.image_exists(name):
            return name
        context.mkdir(parents=True, exist_ok=True)
        (context / "Containerfile").write_text(containerfile)
        for dest, src in (files or {}).items():
            shutil.copy(src, context / dest)
        self.run(
            "build", "--format", "docker", "-t", name, "-f", str(context / "Containerfile"), str(context), timeout=900
        )
        return name


def ensure_base(podman: Podman) -> str:
    """A debootstrap'd Debian bookworm (minbase), imported once and kept in the cache."""
    name = f"{NS}/bookworm-minbase:1"
    if podman.image_exists(name):
        return name
    rootfs = podman.cache / "bookworm-rootfs"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    subprocess.run(
        ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), _debian_mirror()],
        check=True,
        capture_output=True,
        timeout=900,
    )
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["podman", "import", "-", name], stdin=tar.stdout, env=podman.env, check=True, capture_output=True)
    tar.wait()
    shutil.rmtree(rootfs)
    return name


@dataclass
class StandIns:
    python: str
    infra: str
    prometheus: str


def ensure_standins(podman: Podman, base: str) -> StandIns:
    ctx = podman.cache / "contexts"
    py = PYTHON_STANDIN.format(base=base)
    infra = INFRA_STANDIN.format(base=base)
    # The two apt-heavy images build side by side (most of a cold run is waiting on the mirror).
    with ThreadPoolExecutor(2) as pool:
        python_job = pool.submit(podman.build, f"{NS}/python:{_tag(py)}", py, ctx / "python", {"host-ca.crt": HOST_CA})
        infra_job = pool.submit(podman.build, f"{NS}/infra:{_tag(infra)}", infra, ctx / "infra")
        python_image, infra_image = python_job.result(), infra_job.result()
    prom = PROMETHEUS_STANDIN.format(infra=infra_image)
    prom_image = podman.build(f"{NS}/prometheus:{_tag(prom)}", prom, ctx / "prometheus")
    return StandIns(python_image, infra_image, prom_image)


def app_services() -> list[str]:
    """Our services and simulators (built from services/Dockerfile), by compose name: the registry's."""
    return [row.compose for row in (*SERVICES, *SIMULATORS)]


def _http_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return json.loads(resp.read())


class HealthLoop(threading.Thread):
    """Runs `podman healthcheck run` on every container of the project each second (no systemd)."""

    def __init__(self, podman: Podman) -> None:
        super().__init__(daemon=True)
        self.podman = podman
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            ps = self.podman.run(
                "ps", "--filter", f"label=com.docker.compose.project={PROJECT}", "--format", "{{.Names}}", check=False
            )
            for name in ps.stdout.split():
                self.podman.run("healthcheck", "run", name, check=False, timeout=30)


@dataclass
class Stack:
    podman: Podman
    compose: list[str]
    env: dict[str, str]
    services: list[str]
    ports: dict[str, int]
    images: dict[str, str] = field(default_factory=dict)  # our services (with a build) -> image

    def __call__(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.compose, *args], env=self.env, capture_output=True, text=True, cwd=ROOT, timeout=timeout
        )


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_leftovers(podman: Podman) -> None:
    """Containers, volumes and networks of an earlier run that was killed (we hold the lock)."""
    for kind in ("ps -a", "volume ls", "network ls"):
        fmt = "{{.Labels}} {{.ID}}" if kind == "ps -a" else "{{.Labels}} {{.Name}}"
        out = podman.run(*kind.split(), "--format", fmt, check=False).stdout
        ids = [
            line.rsplit(" ", 1)[1]
            for line in out.splitlines()
            if f"com.docker.compose.project:{PROJECT_PREFIX}" in line
        ]
        if ids:
            rm = ["rm", "-f", "-v"] if kind == "ps -a" else [kind.split()[0], "rm", "-f"]
            podman.run(*rm, *ids, check=False)


@pytest.fixture(scope="module")
def stack(compose_v2: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    podman = Podman(_cache_dir())
    with _exclusive(podman.cache / "stack.lock"):
        _remove_leftovers(podman)
        yield from _stack(podman, compose_v2, tmp_path_factory)


def _stack(podman: Podman, compose_v2: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = ensure_base(podman)
    standins = ensure_standins(podman, base)

    tmp = tmp_path_factory.mktemp("podman-stack")
    sock = tmp / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{sock}"],
        env=podman.env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "podman-service.log").open("wb"),
    )
    wait_for(sock.exists, 30, 0.5, what="the podman API socket")

    override = tmp / "docker-compose.test.yml"
    override.write_text(OVERRIDE.format(infra=standins.infra))
    ports = {k: free_port() for k in ("mqtt", "web", "prometheus", "influxdb")}
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp),
        "DOCKER_HOST": f"unix://{sock}",
        "DOCKER_BUILDKIT": "0",
        "COMPOSE_PROJECT_NAME": PROJECT,
        "PYTHON_IMAGE": standins.python,
        "MOSQUITTO_IMAGE": standins.infra,
        "PROMETHEUS_IMAGE": standins.prometheus,
        "SOLARSTACK_REGISTRY": NS,
        "SOLARSTACK_VERSION": "test",
        **{name: f"{value}-test" for name, value in SECRETS.items()},
        "MQTT_PUBLISH_ADDRESS": "127.0.0.1",
        "WEB_PUBLISH_ADDRESS": "127.0.0.1",
        "MQTT_PUBLISH_PORT": str(ports["mqtt"]),
        "WEB_PUBLISH_PORT": str(ports["web"]),
        "PROMETHEUS_PUBLISH_PORT": str(ports["prometheus"]),
        "INFLUXDB_PUBLISH_PORT": str(ports["influxdb"]),
    }
    compose = [str(compose_v2), "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml")]
    compose += ["-f", str(override), "--profile", "demo"]
    probe = Stack(podman, compose, env, [], ports)
    model = json.loads(probe("config", "--format", "json").stdout)
    services = ["mosquitto", "influxdb", "prometheus", *app_services()]
    images = {n: svc["image"] for n, svc in model["services"].items() if "build" in svc and n in services}
    stack = Stack(podman, compose, env, services, ports, images)
    try:
        yield stack
    finally:
        stack("down", "-v", "--remove-orphans", timeout=180)
        service.terminate()
        service.wait(10)


def test_stack_builds_comes_up_healthy_and_serves_readings(stack: Stack) -> None:
    podman = stack.podman
    # One service per image: sim-inverter and sim-bms share the sim image.
    built = list({stack.images[s]: s for s in reversed(stack.services) if s in stack.images}.values())
    started = time.monotonic()
    result = stack("build", *built)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    build_seconds = time.monotonic() - started
    podman.run("image", "prune", "-f", check=False)  # the previous build's now-untagged images

    loop = HealthLoop(podman)
    loop.start()
    try:
        started = time.monotonic()
        result = stack("up", "-d", "--no-build", *stack.services, timeout=600)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

        def health() -> dict[str, str]:
            out = podman.run(
                "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}", "--format", "json"
            ).stdout
            return {
                c["Labels"]["com.docker.compose.service"]: podman.run(
                    "inspect", c["Id"], "--format", "{{.State.Health.Status}}"
                ).stdout.strip()
                for c in json.loads(out or "[]")
            }

        statuses = wait_for(
            lambda: (h := health()) and all(v == "healthy" for v in h.values()) and h,
            180,
            0.5,
            what="every healthcheck",
            ignore=RETRY,
        )
        assert set(statuses) == set(stack.services)
        healthy_seconds = time.monotonic() - started

        # Prometheus scrapes every service that runs, by its compose name.
        prom = f"http://127.0.0.1:{stack.ports['prometheus']}"
        scraped = {"prometheus", *(s.name for s in SERVICES)}

        def targets_up() -> dict[str, str]:
            active = _http_json(f"{prom}/api/v1/targets")["data"]["activeTargets"]  # type: ignore[index]
            jobs = {t["labels"]["job"]: t["health"] for t in active}
            return jobs if all(jobs.get(j) == "up" for j in scraped) else {}

        wait_for(targets_up, 60, 0.5, what=f"prometheus targets {sorted(scraped)} up", ignore=RETRY)

        # Simulated readings reach the web's /api/data.
        devices = {s.device for s in SIMULATORS}
        url = f"http://127.0.0.1:{stack.ports['web']}/api/data"
        wait_for(
            lambda: all(f'"{d}"' in json.dumps(_http_json(url)) for d in devices),
            60,
            0.5,
            what=f"{sorted(devices)} in /api/data",
            ignore=RETRY,
        )

        figures = _figures(podman)
        figures["build_seconds"] = round(build_seconds, 1)
        figures["up_to_healthy_seconds"] = round(healthy_seconds, 1)
        out = ROOT / "artifacts" / "stack-figures.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        loop.stop.set()
        loop.join(10)

    result = stack("down", "-v", "--remove-orphans", timeout=180)
    assert result.returncode == 0, result.stderr
    label = f"label=com.docker.compose.project={PROJECT}"
    assert podman.run("ps", "-a", "-q", "--filter", label).stdout.strip() == ""
    assert podman.run("volume", "ls", "-q", "--filter", label).stdout.strip() == ""
    assert podman.run("network", "ls", "-q", "--filter", label).stdout.strip() == ""


def _figures(podman: Podman) -> dict[str, object]:
    """Image sizes and idle memory per container (podman stats, one sample)."""
    images = json.loads(podman.run("images", "--format", "json").stdout or "[]")
    sizes = {}
    for img in images:
        for name in img.get("Names") or []:
            if name.startswith(f"{NS}/") and name.endswith(":test"):
                sizes[name.removeprefix(f"{NS}/").removesuffix(":test")] = round(img["Size"] / 1e6, 1)
    stats = podman.run("stats", "--no-stream", "--format", "json").stdout
    memory = {
        s["name"].removeprefix(f"{PROJECT}_").removeprefix(f"{PROJECT}-"): s["mem_usage"]
        for s in json.loads(stats or "[]")
    }
    return {"image_size_mb": sizes, "idle_memory": memory}

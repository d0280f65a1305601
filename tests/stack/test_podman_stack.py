"""The compose stack for real, under rootful podman (no Docker engine here).

Every image is built from our Dockerfiles on a local stand-in base (scripts/build_images.py's
debootstrap'd Debian plus Python, passed as PYTHON_IMAGE: no registry), the `demo` profile
comes up through a real compose implementation (Compose v2) talking to podman's Docker API
socket, with a test override replacing what cannot run here: InfluxDB by VictoriaMetrics (it
accepts InfluxDB writes) and no Grafana. Podman runs no healthchecks without systemd, so a
loop runs them every second. Then: every healthcheck passes, simulated readings reach
/api/data, Prometheus has every target up, and `down -v` leaves nothing behind. Image sizes
and idle memory per container are written to artifacts/stack-figures.json.

Everything podman keeps (storage, images, networks) lives under a cache dir that survives
between runs (SOLARSTACK_TEST_CACHE, default /var/cache/solarstack-test as root), through
our own CONTAINERS_CONF / CONTAINERS_STORAGE_CONF (build_images.Podman, shared with
scripts/build_images.py and test_arm64.py): the machine's podman set-up is untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
sys.path.insert(0, str(ROOT / "scripts"))
import build_images  # noqa: E402

# One stack at a time per cache (parallel pytest runs share the images): a lock file serialises
# them, and the project name is unique so a crashed run's leftovers are recognisable.
PROJECT = f"solarstacktest{os.getpid()}"
PROJECT_PREFIX = "solarstacktest"
ARCH = build_images.host_arch()
# Not there yet: a server still starting, an answer not yet whole.
RETRY = (OSError, ValueError)


def _missing_tools() -> list[str]:
    return [t for t in ("podman", "debootstrap", "runc", "iptables") if shutil.which(t) is None]


if os.geteuid() != 0 or _missing_tools():
    pytest.skip(f"needs root and {', '.join(_missing_tools()) or 'podman'} (make deps)", allow_module_level=True)


# Stand-ins for the upstream images besides Python (build_images.PYTHON_STANDIN), built FROM the
# debootstrap'd base; names carry a hash of their definition so a change rebuilds them.
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


@dataclass
class StandIns:
    python: str
    infra: str
    prometheus: str


def ensure_standins(podman: build_images.Podman) -> StandIns:
    base = build_images.ensure_base(podman, ARCH)
    infra = INFRA_STANDIN.format(base=base)
    # The two apt-heavy images build side by side (most of a cold run is waiting on the mirror).
    with ThreadPoolExecutor(2) as pool:
        python_job = pool.submit(build_images.ensure_python_standin, podman, ARCH)
        infra_job = pool.submit(build_images.ensure_standin, podman, ARCH, "infra", infra)
        python_image, infra_image = python_job.result(), infra_job.result()
    prom = PROMETHEUS_STANDIN.format(infra=infra_image)
    prom_image = build_images.ensure_standin(podman, ARCH, "prometheus", prom)
    return StandIns(python_image, infra_image, prom_image)


def app_services() -> list[str]:
    """Our services and simulators (built from services/Dockerfile), by compose name: the registry's."""
    return [row.compose for row in (*SERVICES, *SIMULATORS)]


def _http_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return json.loads(resp.read())


class HealthLoop(threading.Thread):
    """Runs `podman healthcheck run` on every container of the project each second (no systemd)."""

    def __init__(self, podman: build_images.Podman) -> None:
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
    podman: build_images.Podman
    compose: list[str]
    env: dict[str, str]
    services: list[str]
    ports: dict[str, int]
    images: dict[str, str] = field(default_factory=dict)  # our services (with a build) -> image

    def __call__(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.compose, *args], env=self.env, capture_output=True, text=True, cwd=ROOT, timeout=timeout
        )


def _remove_leftovers(podman: build_images.Podman) -> None:
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
    podman = build_images.Podman(build_images.cache_dir())
    with build_images.exclusive(podman.cache / "stack.lock"):
        _remove_leftovers(podman)
        yield from _stack(podman, compose_v2, tmp_path_factory)


def _stack(podman: build_images.Podman, compose_v2: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    standins = ensure_standins(podman)

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
        "SOLARSTACK_REGISTRY": build_images.NS,
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


def _figures(podman: build_images.Podman) -> dict[str, object]:
    """Image sizes and idle memory per container (podman stats, one sample)."""
    images = json.loads(podman.run("images", "--format", "json").stdout or "[]")
    sizes = {}
    for img in images:
        for name in img.get("Names") or []:
            if name.startswith(f"{build_images.NS}/") and name.endswith(":test"):
                sizes[name.removeprefix(f"{build_images.NS}/").removesuffix(":test")] = round(img["Size"] / 1e6, 1)
    stats = podman.run("stats", "--no-stream", "--format", "json").stdout
    memory = {
        s["name"].removeprefix(f"{PROJECT}_").removeprefix(f"{PROJECT}-"): s["mem_usage"]
        for s in json.loads(stats or "[]")
    }
    return {"image_size_mb": sizes, "idle_memory": memory}

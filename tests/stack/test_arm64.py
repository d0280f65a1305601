"""Every image of ours for linux/arm64 (the Raspberry Pi), built and run under QEMU emulation.

scripts/build_images.py builds each image (one per pyproject extra, the registry's) on an arm64
Debian bookworm from `debootstrap --arch arm64` plus Python, through QEMU user emulation
(qemu-user-static registered with binfmt_misc). Then, per image: podman says it is arm64,
`uname -m` inside says aarch64, `solarstack --help` runs through the image's entry point. Every
service of the registry then runs from its arm64 image (host network), with the arm64
simulators as its devices, against the shipped Mosquitto (the `shipped_broker` fixture, on
the host), until its `/health` answers. One image also goes into a multi-arch manifest with
its amd64 build, which must list both architectures.

Cached like the podman stack test (same cache dir and podman config, shared bases): a warm run
rebuilds nothing but the layers the source touched. Build and run times go to
artifacts/arm64-figures.json.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from compose_model import resolved

from solarstack.services.registry import SERVICES, SIMULATORS
from support import free_port, wait_for

pytestmark = [pytest.mark.podman, pytest.mark.slow, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_images  # noqa: E402

TAG = "multiarch"  # <NS>/<image>:multiarch-<arch>, and the manifest <NS>/<image>:multiarch
LABEL = f"solarstack-arm64-smoke={os.getpid()}"
FIGURES = ROOT / "artifacts" / "arm64-figures.json"


def _missing() -> list[str]:
    tools = [t for t in ("podman", "debootstrap", "runc", "iptables") if shutil.which(t) is None]
    if build_images.host_arch() != "arm64" and not Path("/usr/lib/binfmt.d/qemu-aarch64.conf").exists():
        tools.append("qemu-user-static")
    return tools


if os.geteuid() != 0 or _missing():
    pytest.skip(f"needs root and {', '.join(_missing()) or 'podman'} (make deps)", allow_module_level=True)


def _figures(**more: object) -> None:
    old = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text(json.dumps({**old, **more}, indent=2) + "\n")


@dataclass
class Arm64:
    podman: build_images.Podman
    images: dict[str, str]  # image (pyproject extra) -> its arm64 image name

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.podman.run("run", "--rm", "--network", "none", *args, check=False, timeout=timeout)


@pytest.fixture(scope="module")
def arm64() -> Iterator[Arm64]:
    podman = build_images.Podman(build_images.cache_dir())
    with build_images.exclusive(podman.cache / "arm64-test.lock"):
        started = time.monotonic()
        base = build_images.ensure_python_standin(podman, "arm64")
        base_seconds = time.monotonic() - started
        built = [
            build_images.build(podman, image, "arm64", base, f"{build_images.NS}/{image}:{TAG}-arm64")
            for image in build_images.images()
        ]
        _figures(
            arm64_base_seconds=round(base_seconds, 1),
            arm64_build_seconds=round(time.monotonic() - started, 1),
            arm64_images={b.image: {"seconds": b.seconds, "size_mb": b.size_mb} for b in built},
        )
        podman.run("image", "prune", "-f", check=False)  # layers the previous build left untagged
        yield Arm64(podman, {b.image: b.name for b in built})


def test_every_image_is_arm64_and_runs_solarstack(arm64: Arm64) -> None:
    started = time.monotonic()
    for image, name in arm64.images.items():
        assert arm64.podman.architecture(name) == "arm64", image
        uname = arm64.run("--entrypoint", "uname", name, "-m")
        assert uname.stdout.strip() == "aarch64", (image, uname.stdout, uname.stderr)
        helped = arm64.run(name, "--help")  # the image's own entry point: `solarstack`
        assert helped.returncode == 0, (image, helped.stderr[-2000:])
        assert "usage: solarstack" in helped.stdout, (image, helped.stdout[:500])
    _figures(arm64_cli_seconds=round(time.monotonic() - started, 1))


def test_a_manifest_holds_amd64_and_arm64_under_one_tag(arm64: Arm64) -> None:
    podman = arm64.podman
    amd64_base = build_images.ensure_python_standin(podman, "amd64")
    image = "sim"  # any one will do: the manifest is the point (and the sim image runs in the demo)
    amd64 = build_images.build(podman, image, "amd64", amd64_base, f"{build_images.NS}/{image}:{TAG}-amd64")
    name = f"{build_images.NS}/{image}:{TAG}"
    build_images.manifest(podman, name, [amd64.name, arm64.images[image]])
    assert build_images.manifest_arches(podman, name) == ["amd64", "arm64"]
    # the tag resolves per platform: what a Pi pulling it would run
    uname = podman.run(
        "run", "--rm", "--network", "none", "--platform", "linux/arm64", "--entrypoint", "uname", name, "-m",
        check=False,
    )  # fmt: skip
    assert uname.stdout.strip() == "aarch64", uname.stderr


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _health(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as resp:
        return resp.status == 200


def test_every_service_answers_health_under_emulation(
    arm64: Arm64, shipped_broker: object, compose_v2: Path, tmp_path: Path
) -> None:
    """Each service runs from its arm64 image as compose runs it (its environment from the
    compose model), on the host's network: the shipped broker and arm64 simulators on loopback."""
    podman = arm64.podman
    model = resolved(compose_v2, tmp_path)["services"]
    started = time.monotonic()
    sims = {sim.reader: (sim, free_port()) for sim in SIMULATORS}

    def start(name: str, image: str, env: dict[str, str], command: tuple[str, ...]) -> None:
        flags = [f"--env={k}={v}" for k, v in env.items()]
        podman.run(
            "run", "-d", "--name", f"arm64smoke{os.getpid()}-{name}", "--label", LABEL, "--network", "host",
            *flags, image, *command,
        )  # fmt: skip

    try:
        for sim, port in sims.values():
            start(f"sim-{sim.name}", arm64.images[sim.extra], {}, sim.command("127.0.0.1", port))
        # The services' ports are picked once the simulators listen: on the host's network a
        # simulator's own ephemeral ports (a control port) could take a port picked before.
        wait_for(
            lambda: _fail_if_exited(podman) or all(_listening(port) for _, port in sims.values()),
            120,
            0.5,
            what="the arm64 simulators listening",
        )
        ports = {svc.name: free_port() for svc in SERVICES}
        for svc in SERVICES:
            env = {k: str(v) for k, v in (model.get(svc.compose, {}).get("environment") or {}).items()}
            env.update(
                MQTT_HOST="127.0.0.1",
                MQTT_PORT=str(shipped_broker.port),  # type: ignore[attr-defined]
                MQTT_PASSWORD=shipped_broker.passwords[svc.mqtt_user],  # type: ignore[attr-defined]
                METRICS_HOST="127.0.0.1",
                WEB_HOST="127.0.0.1",
                INFLUX_URL=f"http://127.0.0.1:{free_port()}",  # nothing there: the collector spools
                PROMETHEUS_URL=f"http://127.0.0.1:{free_port()}",
            )
            env[svc.port_var] = str(ports[svc.name])
            if svc.name in sims:
                sim, port = sims[svc.name]
                env[svc.devices_var or ""] = sim.url("127.0.0.1", port)
            start(svc.compose, arm64.images[svc.extra], env, svc.command)

        def every_health() -> bool:
            _fail_if_exited(podman)
            return all(_health(ports[svc.name]) for svc in SERVICES)

        wait_for(every_health, 300, 1.0, what="every arm64 service's /health", ignore=(OSError,))
        _figures(arm64_health_seconds=round(time.monotonic() - started, 1))
    finally:
        ids = podman.run("ps", "-a", "-q", "--filter", f"label={LABEL}", check=False).stdout.split()
        if ids:
            podman.run("rm", "-f", "-t", "2", *ids, check=False, timeout=120)


def _fail_if_exited(podman: build_images.Podman) -> None:
    """A service that exited will never answer: fail at once with its log."""
    out = podman.run("ps", "-a", "--filter", f"label={LABEL}", "--filter", "status=exited", "--format", "{{.Names}}")
    for name in out.stdout.split():
        logs = podman.run("logs", name, check=False)
        raise AssertionError(f"{name} exited:\n{logs.stdout[-2000:]}{logs.stderr[-2000:]}")

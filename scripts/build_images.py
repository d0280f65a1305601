#!/usr/bin/env python3
"""Build every solarstack image for linux/amd64 and linux/arm64 with podman, and a multi-arch
manifest (one tag for both) — docs/install-pi.md says how to push it and run it on a Pi.

    scripts/build_images.py                               every image, this machine's arch
    scripts/build_images.py --arch arm64                  every image for the Pi (QEMU emulation)
    scripts/build_images.py --arch amd64,arm64 --push     both, a manifest per image, pushed
    scripts/build_images.py --python-image python:3.12-slim   a real base from a registry

The images are the ones docker-compose.yml builds: services/Dockerfile with one pyproject
extra each (the `extra` of every row in src/solarstack/services/registry.py; the image is named
after it). `<registry>/<image>:<version>-<arch>` per architecture, and the manifest list
`<registry>/<image>:<version>` holding both.

Without --python-image the base is a local stand-in for python:3.12-slim (the one
tests/stack/test_podman_stack.py builds on too): Debian bookworm from `debootstrap --arch
<arch>` imported into podman, plus python3, pip and venv (and this machine's CA bundle, so pip
works behind an intercepting proxy: a stand-in for building here, not a base to publish from).
Another architecture runs under QEMU user emulation: Debian's qemu-user-static, registered
with binfmt_misc here if nothing has done it (no systemd on CI machines).

Everything podman keeps lives under one cache dir (SOLARSTACK_TEST_CACHE, default
/var/cache/solarstack-test as root), with our own containers.conf and storage.conf, shared
with the podman stack test: the bases are built once and kept, and a second run reuses every
layer (dependencies sit in their own layer per extra, before the source is copied).

Standard library only (and the registry, which imports nothing), so it runs with python3 and
no virtualenv; tests/stack/test_podman_stack.py and test_arm64.py import it (its podman, bases,
stand-ins and cache).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from solarstack.services.registry import SERVICES, SIMULATORS  # noqa: E402

#: Where the stand-in bases live (the podman stack test's images too).
NS = "localhost/solarstack-test"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
ARCHES = ("amd64", "arm64")
#: Debian's name for an architecture -> what `uname -m` says there, and its binfmt_misc entry.
UNAME = {"amd64": "x86_64", "arm64": "aarch64"}
BINFMT = {"arm64": "qemu-aarch64", "amd64": "qemu-x86_64"}
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")

# The python:3.12-slim stand-in (its name is a hash of this text and the base: a change rebuilds it).
PYTHON_STANDIN = """\
FROM {base}
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python3-venv \\
    && rm -rf /var/lib/apt/lists/* && ln -s /usr/bin/python3 /usr/local/bin/python
# This machine's egress CA (tests only; never in our Dockerfiles).
COPY host-ca.crt /etc/ssl/certs/host-ca.crt
ENV PIP_CERT=/etc/ssl/certs/host-ca.crt SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt
"""


class BuildError(RuntimeError):
    """A step failed; the message says which and what to do."""


def host_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def cache_dir() -> Path:
    if os.environ.get("SOLARSTACK_TEST_CACHE"):
        return Path(os.environ["SOLARSTACK_TEST_CACHE"])
    if os.geteuid() == 0:
        return Path("/var/cache/solarstack-test")
    return Path.home() / ".cache" / "solarstack-test"


def images() -> list[str]:
    """Our images, one per pyproject extra, in registry order (compose names them the same)."""
    return list(dict.fromkeys(row.extra for row in (*SERVICES, *SIMULATORS)))


def _tag(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@contextlib.contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class Podman:
    """podman with our own containers.conf / storage.conf under the cache dir (the machine's
    podman set-up is untouched)."""

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
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise BuildError(f"podman {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def exists(self, name: str) -> bool:
        return self.run("image", "exists", name, check=False).returncode == 0

    def architecture(self, name: str) -> str:
        return self.run("image", "inspect", "--format", "{{.Architecture}}", name).stdout.strip()


def ensure_binfmt(arch: str) -> None:
    """Let this kernel run `arch` binaries through QEMU (a no-op for the host's own arch).

    Debian's qemu-user-static ships the binfmt_misc entries in /usr/lib/binfmt.d; without
    systemd nobody loads them, so we do: mount binfmt_misc if needed, register the one entry
    (its F flag opens the interpreter now, so containers can use it). Idempotent."""
    if arch == host_arch():
        return
    entry = BINFMT.get(arch)
    conf = Path(f"/usr/lib/binfmt.d/{entry}.conf")
    if entry is None or not conf.exists():
        raise BuildError(f"cannot run {arch} binaries here: install qemu-user-static (make deps)")
    if (BINFMT_DIR / entry).exists():
        return
    if os.geteuid() != 0:
        raise BuildError(f"{arch} emulation is not registered: as root, run {' '.join(sys.argv)} once (or make deps)")
    if not (BINFMT_DIR / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)], check=True)
    with contextlib.suppress(FileExistsError):  # registered by someone else meanwhile
        (BINFMT_DIR / "register").write_text(conf.read_text().strip() + "\n")


def debian_mirror() -> str:
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


def base_name(arch: str) -> str:
    # amd64 keeps the name it had before there were other arches: a cached base stays valid
    return f"{NS}/bookworm-minbase:1" if arch == "amd64" else f"{NS}/bookworm-minbase-{arch}:1"


def ensure_base(podman: Podman, arch: str) -> str:
    """A debootstrap'd Debian bookworm (minbase) for `arch`, imported once and kept."""
    name = base_name(arch)
    with exclusive(podman.cache / f"base-{arch}.lock"):
        if podman.exists(name):
            return name
        ensure_binfmt(arch)
        rootfs = podman.cache / ("bookworm-rootfs" if arch == "amd64" else f"bookworm-rootfs-{arch}")
        if rootfs.exists():
            shutil.rmtree(rootfs)
        # a foreign arch's second stage runs under QEMU through binfmt_misc
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--arch={arch}", "bookworm", str(rootfs), debian_mirror()],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if done.returncode != 0:
            raise BuildError(f"debootstrap --arch={arch} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        podman_import = subprocess.run(
            ["podman", "import", "--arch", arch, "-", name],
            stdin=tar.stdout,
            env=podman.env,
            capture_output=True,
            text=True,
        )
        tar.wait()
        shutil.rmtree(rootfs)
        if podman_import.returncode != 0:
            raise BuildError(f"podman import failed: {podman_import.stderr}")
        return name


def ensure_standin(podman: Podman, arch: str, kind: str, text: str, files: Mapping[str, Path] | None = None) -> str:
    """`<NS>/<kind>:<hash of text>` for `arch`, built from the Containerfile `text` (with `files`
    copied into its context: name there -> source) once and kept."""
    name = f"{NS}/{kind}:{_tag(text)}"
    with exclusive(podman.cache / f"{kind}-{arch}.lock"):
        if podman.exists(name):
            return name
        ctx = podman.cache / "contexts" / (kind if arch == "amd64" else f"{kind}-{arch}")
        ctx.mkdir(parents=True, exist_ok=True)
        (ctx / "Containerfile").write_text(text)
        for dest, src in (files or {}).items():
            shutil.copy(src, ctx / dest)
        podman.run("build", "--platform", f"linux/{arch}", "--format", "docker", "-t", name, str(ctx), timeout=1800)
        return name


def ensure_python_standin(podman: Podman, arch: str) -> str:
    """The python:3.12-slim stand-in for `arch`: the base plus python3, pip, venv."""
    text = PYTHON_STANDIN.format(base=ensure_base(podman, arch))
    return ensure_standin(podman, arch, "python", text, {"host-ca.crt": HOST_CA})


@dataclass(frozen=True)
class Built:
    image: str  # the pyproject extra it installs, and its name
    arch: str
    name: str  # <registry>/<image>:<version>-<arch>
    seconds: float
    size_mb: float


def build(podman: Podman, image: str, arch: str, python_image: str, name: str) -> Built:
    """services/Dockerfile for one extra and one architecture (every cached layer reused).

    The build stage is tagged too (`<NS>/build-<image>:<arch>`): its layers — the dependencies,
    minutes under emulation — are no final image's parents, so untagged they would be
    "dangling" and the first `podman image prune` (the stack test runs one) would drop them."""
    ensure_binfmt(arch)
    started = time.monotonic()
    common = ["--platform", f"linux/{arch}", "--format", "docker", "--layers"]
    common += ["-f", str(ROOT / "services" / "Dockerfile")]
    common += ["--build-arg", f"PYTHON_IMAGE={python_image}", "--build-arg", f"EXTRA={image}"]
    podman.run("build", *common, "--target", "build", "-t", f"{NS}/build-{image}:{arch}", str(ROOT), timeout=3600)
    podman.run("build", *common, "-t", name, str(ROOT), timeout=3600)  # the build stage: all cached now
    seconds = time.monotonic() - started
    got = podman.architecture(name)
    if got != arch:
        raise BuildError(f"{name} came out {got}, not {arch}: is the base image {python_image} for {arch}?")
    size = json.loads(podman.run("image", "inspect", name).stdout)[0]["Size"]
    return Built(image, arch, name, round(seconds, 1), round(size / 1e6, 1))


def manifest(podman: Podman, name: str, members: Sequence[str]) -> None:
    """A manifest list `name` holding `members` (replaced if it exists: a rebuild moves the tag)."""
    if podman.run("manifest", "exists", name, check=False).returncode == 0:
        podman.run("manifest", "rm", name)
    podman.run("manifest", "create", name)
    for member in members:
        podman.run("manifest", "add", name, f"containers-storage:{member}")


def manifest_arches(podman: Podman, name: str) -> list[str]:
    listing = json.loads(podman.run("manifest", "inspect", name).stdout)
    return sorted(m["platform"]["architecture"] for m in listing.get("manifests", []))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--arch", default=host_arch(), help="comma-separated: amd64,arm64 (default: this machine's)")
    parser.add_argument("--images", default=",".join(images()), help=f"comma-separated (default: {','.join(images())})")
    parser.add_argument("--registry", default=os.environ.get("SOLARSTACK_REGISTRY") or "ghcr.io/solarstack")
    parser.add_argument("--version", default=os.environ.get("SOLARSTACK_VERSION") or "latest")
    parser.add_argument(
        "--python-image",
        help="base image for every arch (e.g. python:3.12-slim from a registry; podman pulls each arch);"
        " default: the local debootstrap stand-in",
    )
    parser.add_argument("--no-manifest", action="store_true", help="per-arch tags only")
    parser.add_argument(
        "--push", action="store_true", help="push every manifest with all its images (podman login first)"
    )
    parser.add_argument("--json", type=Path, help="write the build figures here")
    args = parser.parse_args(argv)

    arches = [a.strip() for a in args.arch.split(",") if a.strip()]
    wanted = [i.strip() for i in args.images.split(",") if i.strip()]
    unknown = [a for a in arches if a not in ARCHES] + [i for i in wanted if i not in images()]
    if unknown:
        parser.error(f"unknown arch or image: {', '.join(unknown)}")
    if shutil.which("podman") is None:
        print("build_images: podman is missing: make deps", file=sys.stderr)
        return 1

    podman = Podman(cache_dir())
    started = time.monotonic()
    built: list[Built] = []
    try:
        for arch in arches:
            ensure_binfmt(arch)
            t0 = time.monotonic()
            base = args.python_image or ensure_python_standin(podman, arch)
            print(f"base {arch}: {base} ({time.monotonic() - t0:.0f} s)", flush=True)
            for image in wanted:
                b = build(podman, image, arch, base, f"{args.registry}/{image}:{args.version}-{arch}")
                built.append(b)
                print(f"built {b.name} ({b.arch}, {b.size_mb} MB) in {b.seconds} s", flush=True)
        manifests: dict[str, list[str]] = {}
        if not args.no_manifest:
            for image in wanted:
                name = f"{args.registry}/{image}:{args.version}"
                manifest(podman, name, [b.name for b in built if b.image == image])
                manifests[name] = manifest_arches(podman, name)
                print(f"manifest {name}: {', '.join(manifests[name])}", flush=True)
        if args.push:
            for name in manifests:
                podman.run("manifest", "push", "--all", name, f"docker://{name}", timeout=1800)
                print(f"pushed {name}", flush=True)
    except BuildError as exc:
        print(f"build_images: {exc}", file=sys.stderr)
        return 1
    figures = {
        "total_seconds": round(time.monotonic() - started, 1),
        "images": [asdict(b) for b in built],
        "manifests": manifests,
    }
    print(f"done in {figures['total_seconds']} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

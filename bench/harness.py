"""Benchmark harness (bench/ only, not part of the package): real processes, measured.

What the bench_*.py scripts share: a child process timed from spawn to exit with its
peak RSS from os.wait4 (the kernel's own ru_maxrss, not sampling), CPU seconds and
memory of a running process from /proc, a Mosquitto on a free loopback port with its
own config, the inverter simulator on a pty, and the mpp-solar CLI in its own venv
under .cache/bench (created on first use with pip, pinned). Must not import solarstack:
the scripts measure it from the outside, as a user runs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MOSQUITTO = "/usr/sbin/mosquitto"
#: The comparison tool and the version measured (pinned so figures stay comparable).
MPPSOLAR_SPEC = "mppsolar==0.16.56"
MPPSOLAR_VENV = ROOT / ".cache" / "bench" / "mppsolar-venv"


@dataclass(frozen=True)
class Run:
    """One finished child process."""

    wall_s: float
    cpu_s: float  # user + system time of the child itself
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_measured(argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 60.0) -> Run:
    """Spawn argv, wait for it, and return wall time (spawn to exit) and peak RSS.

    The child is reaped with os.wait4, which hands back its own rusage: ru_maxrss is
    this child's high-water mark (kB on Linux), not the benchmark's. Output goes to
    temporary files so no pipe-draining thread runs while we time it.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env or child_env(), stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        watchdog = threading.Timer(timeout, proc.kill)  # a hung child is killed, then reported
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        return Run(
            wall,
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024.0,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a live process in MB."""
    found = {"VmRSS:": 0.0, "VmHWM:": 0.0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0] + ":"
        if key in found:
            found[key] = int(line.split()[1]) / 1024.0
    return found["VmRSS:"], found["VmHWM:"]


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f}/{five:.1f} on {os.cpu_count()} cores"


def child_env(**extra: str) -> dict[str, str]:
    """This environment for a measured child, minus PYTHONDONTWRITEBYTECODE.

    An installed package runs from byte-compiled files (pip writes them for the
    mpp-solar venv); an editable checkout gets them on first import, unless that
    variable forbids it and every run compiles our sources again.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def solarstack_exe() -> str:
    """The console script next to this interpreter (what a user runs), else `solarstack` on PATH."""
    return shutil.which("solarstack", path=str(Path(sys.executable).parent)) or "solarstack"


class Processes:
    """Background children, stopped in reverse start order (readers before their broker)."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[str]] = []

    def start(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[str]:
        proc: subprocess.Popen[str] = subprocess.Popen(argv, text=True, **kwargs)
        self._procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()


@contextlib.contextmanager
def processes() -> Iterator[Processes]:
    procs = Processes()
    try:
        yield procs
    finally:
        procs.stop_all()


def start_mosquitto(procs: Processes, workdir: Path) -> int:
    """A Mosquitto of our own on a free loopback port (never the system one); returns the port."""
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    procs.start([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return port


def start_inverter_sim(procs: Processes, *args: str) -> str:
    """`solarstack sim inverter --pty ARGS…`; returns the pty path it prints first."""
    sim = procs.start([solarstack_exe(), "sim", "inverter", "--pty", *args], stdout=subprocess.PIPE, env=child_env())
    assert sim.stdout is not None
    path = sim.stdout.readline().strip()
    if not path.startswith("/"):
        raise SystemExit(f"simulator did not print a pty path (exit {sim.poll()})")
    return path


def mppsolar_venv() -> Path:
    """The bin/ of a venv holding the mpp-solar CLI, created with pip on first use."""
    bindir = MPPSOLAR_VENV / "bin"
    if not (bindir / "mpp-solar").exists():
        print(f"(creating {MPPSOLAR_VENV.relative_to(ROOT)} with {MPPSOLAR_SPEC})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(MPPSOLAR_VENV)], check=True)
        subprocess.run([str(bindir / "pip"), "install", "-q", MPPSOLAR_SPEC], check=True)
    return bindir

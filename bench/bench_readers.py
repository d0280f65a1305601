"""Benchmark: the house and weather readers at their default intervals — CPU share and RSS
against the readers' targets (`make bench` prints bench_reader.py's inverter figures beside).

Real parts: a Mosquitto of our own, the weather simulator over real HTTP, the house reader on
the fake I2C bus its demo uses (the registry's `demo_devices`), each reader a child process
configured only through its environment. The window starts once /ready answers 200 and the
first state is out (start-up and discovery are not what we measure). CPU is utime + stime
from /proc/<pid>/stat over the window; memory is VmHWM (peak RSS) at the end.

    .venv/bin/python bench/bench_readers.py [--seconds 60]

Targets (issue 10): below 1 % of one core and below 40 MB, like the other readers.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # bench/ is not a package: the harness sits beside this script

from solarstack.services.registry import SERVICES, SIMULATORS

CPU_TARGET = 1.0  # percent of one core
RSS_TARGET = 40.0  # MB


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def device_url(name: str, procs: harness.Processes) -> str:
    """The reader's device: its simulator started here, or its in-process demo device."""
    service = next(s for s in SERVICES if s.name == name)
    sim = next((s for s in SIMULATORS if s.reader == name), None)
    if sim is None:
        assert service.demo_devices, f"{name} has neither a simulator nor a demo device"
        return service.demo_devices
    proc = procs.start(
        [harness.solarstack_exe(), *sim.command("127.0.0.1", 0)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=harness.child_env(),
    )
    assert proc.stdout is not None
    endpoint = proc.stdout.readline().strip()
    return sim.url("127.0.0.1", int(endpoint.rsplit(":", 1)[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="measuring window (default 60)")
    args = ap.parse_args(argv)
    rows = []
    for name in ("house", "weather"):
        service = next(s for s in SERVICES if s.name == name)
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp, harness.processes() as procs:
            work = Path(tmp)
            port = harness.start_mosquitto(procs, work)
            metrics_port = harness.free_port()
            assert service.devices_var is not None
            env = harness.child_env(
                MQTT_HOST="127.0.0.1",
                MQTT_PORT=str(port),
                STATE_DIR=str(work / "state"),
                METRICS_HOST="127.0.0.1",
                METRICS_PORT=str(metrics_port),
                LOG_LEVEL="WARNING",
                **{service.devices_var: device_url(name, procs)},
            )
            reader = procs.start([harness.solarstack_exe(), *service.command], env=env)
            deadline = time.monotonic() + 30
            while not ready(metrics_port):
                if reader.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{name} reader: not ready (exit {reader.poll()})")
                time.sleep(0.1)
            c0, t0 = harness.cpu_seconds(reader.pid), time.monotonic()
            while time.monotonic() < t0 + args.seconds:
                if reader.poll() is not None:
                    raise SystemExit(f"{name} reader exited with {reader.returncode}")
                time.sleep(1.0)
            c1, t1 = harness.cpu_seconds(reader.pid), time.monotonic()
            _, hwm = harness.memory_mb(reader.pid)
        rows.append((name, 100.0 * (c1 - c0) / (t1 - t0), hwm))

    print(f"readers at their default intervals, {args.seconds:.0f} s window ({harness.load_average()}):")
    for name, cpu, hwm in rows:
        print(
            f"  {name:<8} CPU {cpu:.2f} % of one core (< {CPU_TARGET:g} %) -> {harness.verdict(cpu < CPU_TARGET)};"
            f" peak RSS {hwm:.1f} MB (< {RSS_TARGET:g} MB) -> {harness.verdict(hwm < RSS_TARGET)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

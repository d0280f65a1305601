"""Benchmark: the bms reader with 4 packs polled every 5 s — CPU share of one core and RSS.

Real parts: four simulator processes on ptys (2 x JK serial, Daly, VE.Direct), a
Mosquitto on a free loopback port with its own config, and `solarstack run bms` as a
child process configured only through its environment, exactly as a container runs it.
CPU is the reader's utime + stime from /proc over the measuring window (after a warm-up
that covers start-up and discovery); RSS is VmRSS at the end (and the peak, VmHWM).

    .venv/bin/python bench/bench_bms.py [--seconds 60] [--poll 5]

Targets (issue 3): below 2 % of one core and below 45 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import MOSQUITTO, cpu_seconds, free_port, memory_mb, wait_port  # bench/ is not a package

CPU_TARGET = 2.0  # percent of one core
RSS_TARGET = 45.0  # MB


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="measuring window")
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--poll", type=float, default=5.0)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-bms-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        port = free_port()
        conf = work / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        procs.append(subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.DEVNULL, text=True))
        wait_port(port)

        urls = []
        for i, proto in enumerate(("jkserial", "jkserial", "daly", "vedirect")):
            sim = subprocess.Popen(
                [sys.executable, "-m", "solarstack.cli", "sim", "bms", "--protocol", proto, "--pty", "--seed", str(i)],
                stdout=subprocess.PIPE,
                text=True,
            )
            procs.append(sim)
            assert sim.stdout is not None
            path = sim.stdout.readline().strip()
            urls.append(f"{proto}+serial://{path}?name=pack{i + 1}&poll={args.poll:g}")

        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "BMS_DEVICES": ",".join(urls),
            "MQTT_HOST": "127.0.0.1",
            "MQTT_PORT": str(port),
            "STATE_DIR": str(work / "state"),
            "METRICS_PORT": str(free_port()),
            "METRICS_HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
        exe = shutil.which("solarstack", path=str(Path(sys.executable).parent)) or "solarstack"
        reader = subprocess.Popen([exe, "run", "bms"], env=env, text=True)
        procs.append(reader)
        time.sleep(args.warmup)  # start-up, first polls, discovery: not what we measure
        if reader.poll() is not None:
            raise SystemExit(f"reader exited with {reader.returncode}")
        c0, t0 = cpu_seconds(reader.pid), time.monotonic()
        time.sleep(args.seconds)
        c1, t1 = cpu_seconds(reader.pid), time.monotonic()
        rss, hwm = memory_mb(reader.pid)
        cpu = 100.0 * (c1 - c0) / (t1 - t0)
        print(f"bms reader, 4 packs every {args.poll:g} s, {args.seconds:g} s window:")
        print(f"  CPU {cpu:.2f} % of one core (target < {CPU_TARGET:g} %)")
        print(f"  RSS {rss:.1f} MB, peak {hwm:.1f} MB (target < {RSS_TARGET:g} MB)")
        ok = cpu < CPU_TARGET and rss < RSS_TARGET
        print("  PASS" if ok else "  FAIL")
        return 0 if ok else 1
    finally:
        for p in reversed(procs):  # the reader first, so it says goodbye while the broker is up
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

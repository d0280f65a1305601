"""Benchmark: `solarstack run inverter` polling QPIGS every second — CPU share of one core and RSS.

Real parts: the inverter simulator on a pty, a Mosquitto of our own on a free loopback
port, and the reader as a child process configured only through its environment
(INVERTER_COMMANDS=QPIGS:1), as a container runs it. The window starts once /ready
answers 200 and a few polls went through (start-up, identification and discovery are
not what we measure). CPU is the reader's utime + stime from /proc/<pid>/stat over the
window; memory is VmHWM (peak RSS) at the end. /metrics is read at both ends of the
window to show the polls really happened, once a second, without errors.

    .venv/bin/python bench/bench_reader.py [--seconds 60] [--env NAME=VALUE ...]

Targets (issue 2): below 1 % of one core and below 40 MB.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # bench/ is not a package: the harness sits beside this script

CPU_TARGET = 1.0  # percent of one core
RSS_TARGET = 40.0  # MB
POLLS = re.compile(r'^solarstack_polls_total\{[^}]*command="QPIGS"[^}]*\} ([0-9.e+]+)$', re.M)
ERRORS = re.compile(r"^solarstack_poll_errors_total\{[^}]*\} ([0-9.e+]+)$", re.M)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def counts(metrics_url: str) -> tuple[float, float]:
    """(QPIGS polls, poll errors of any kind) from the reader's /metrics."""
    _, body = get(metrics_url)
    return sum(float(v) for v in POLLS.findall(body)), sum(float(v) for v in ERRORS.findall(body))


def wait_until(what: str, check: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise SystemExit(f"reader: {what} not within {timeout:g} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="measuring window (default 60)")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra reader environment")
    args = ap.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.env)

    with tempfile.TemporaryDirectory(prefix="bench-reader-") as tmp, harness.processes() as procs:
        work = Path(tmp)
        port = harness.start_mosquitto(procs, work)
        pty = harness.start_inverter_sim(procs)
        metrics_port = harness.free_port()
        env = harness.child_env(
            INVERTER_DEVICES=f"pi30+serial://{pty}?name=inverter1",
            INVERTER_COMMANDS="QPIGS:1",
            MQTT_HOST="127.0.0.1",
            MQTT_PORT=str(port),
            STATE_DIR=str(work / "state"),
            METRICS_HOST="127.0.0.1",
            METRICS_PORT=str(metrics_port),
            LOG_LEVEL="WARNING",
            **extra,
        )
        reader = procs.start([harness.solarstack_exe(), "run", "inverter"], env=env)
        base = f"http://127.0.0.1:{metrics_port}"

        def alive() -> bool:
            if reader.poll() is not None:
                raise SystemExit(f"reader exited with {reader.returncode}")
            return True

        wait_until("/ready 200", lambda: alive() and get(f"{base}/ready")[0] == 200, 30.0)
        wait_until("3 QPIGS polls", lambda: counts(f"{base}/metrics")[0] >= 3, 15.0)

        polls0, errors0 = counts(f"{base}/metrics")
        c0, t0 = harness.cpu_seconds(reader.pid), time.monotonic()
        deadline = t0 + args.seconds
        while time.monotonic() < deadline:  # the reader runs untouched; we only watch it stays up
            alive()
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        c1, t1 = harness.cpu_seconds(reader.pid), time.monotonic()
        rss, hwm = harness.memory_mb(reader.pid)
        polls1, errors1 = counts(f"{base}/metrics")

    cpu = 100.0 * (c1 - c0) / (t1 - t0)
    polls = polls1 - polls0
    shown = "".join(f", {k}={v}" for k, v in extra.items())
    print(f"inverter reader, QPIGS every 1 s, {t1 - t0:.0f} s window{shown} ({harness.load_average()}):")
    print(f"  polls in window {polls:.0f} (expected ~{t1 - t0:.0f}), poll errors {errors1 - errors0:.0f}")
    print(f"  CPU {cpu:.2f} % of one core (target < {CPU_TARGET:g} %) -> {harness.verdict(cpu < CPU_TARGET)}")
    print(
        f"  peak RSS {hwm:.1f} MB, now {rss:.1f} MB (target < {RSS_TARGET:g} MB) -> {harness.verdict(hwm < RSS_TARGET)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

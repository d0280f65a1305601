"""Benchmark: the collector's throughput from a real Mosquitto into VictoriaMetrics on one core,
next to a plain paho subscriber's raw rate on the same broker in the same run; publish-to-sink
latency; RSS.

Real parts: a Mosquitto of our own (max_inflight_messages as the shipped config has it, unless
--inflight; max_queued_messages unlimited so the backlog below is never cut), VictoriaMetrics,
`solarstack run collector` as a child process configured only by its environment.

- **throughput** (a drain): both clients first open their persistent sessions and leave; then
  `mosquitto_pub -l` queues --messages states of 30 fields (over 10 devices) for both; then
  each client alone, pinned to one core (taskset), takes its backlog. Its rate is measured
  from its first to its last message (start-up is not measured): the raw subscriber counts
  arrivals (QoS 1, acknowledged by paho on arrival, nothing parsed); the collector's count is
  solarstack_collector_points_written_total, sampled every 20 ms — points stored in
  VictoriaMetrics, each acknowledged to the broker only after its write.
- **latency**: states published live at --rate per second, each with its publish time as `ts`,
  through a small recording HTTP proxy between the collector and VictoriaMetrics: a point's
  latency is the time its write request returned minus its `ts`.
- **RSS**: the collector's peak (VmHWM) at the end.

    .venv/bin/python bench/bench_collector.py [--messages 60000] [--rate 2000] [--inflight N]

Targets (issue 11): >= 10,000 messages/s of 30 fields, and >= 1/3 of the raw subscriber's rate.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # bench/ is not a package: the harness sits beside this script

VICTORIA_METRICS = "/usr/bin/victoria-metrics"
MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
DEVICES = 10
FIELDS = 30
THROUGHPUT_TARGET = 10_000.0
RAW_SHARE_TARGET = 1 / 3
#: the core the measured client runs on (the broker, the sink and the publishers get the others)
CORE = 1

RAW_SUBSCRIBER = r"""
import sys, time, threading
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
port, n, first_only = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
got = 0
first = last = 0.0
done = threading.Event()
def on_message(c, u, m):
    global got, first, last
    got += 1
    if got == 1:
        first = time.perf_counter()
    if got >= n:
        last = time.perf_counter()
        done.set()
c = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw", clean_session=False)
c.on_connect = lambda c, u, f, rc, p: c.subscribe("solarstack/+/state", qos=1)
c.on_subscribe = lambda *a: done.set() if first_only else None
c.on_message = on_message
c.connect("127.0.0.1", port)
c.loop_start()
done.wait(300)
c.disconnect(); c.loop_stop()
print(got, first, last)
"""


def shipped_inflight() -> int:
    found = re.search(
        r"(?m)^max_inflight_messages\s+(\d+)", (harness.ROOT / "mosquitto" / "mosquitto.conf").read_text()
    )
    return int(found.group(1)) if found else 20


def state(device: int, i: int, ts: str) -> str:
    """One state of 30 fields: 24 floats, 4 integers, a boolean and a string."""
    doc: dict[str, object] = {"ts": ts}
    for f in range(24):
        doc[f"value_{f:02d}"] = round(100.0 + f + i / 1000 + device / 10, 3)
    for f in range(4):
        doc[f"count_{f}"] = i + f
    doc["charging"] = i % 2 == 0
    doc["mode"] = "battery"
    return json.dumps(doc, separators=(",", ":"))


def catalog(device: int) -> str:
    dev = f"dev{device:02d}"
    return json.dumps({"schema": 1, "device": {"id": dev, "name": dev, "kind": "inverter"}, "fields": []})


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as resp:
            return int(resp.status) == 200
    except OSError:
        return False


def wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def pinned(argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(CORE), *argv]


class RecordingProxy:
    """Forwards POSTs to the sink and records (time the answer came back, the body's timestamps)."""

    def __init__(self, target: str) -> None:
        self.records: list[tuple[float, list[int]]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                req = urllib.request.Request(target + self.path, data=body, method="POST")
                for k in ("Content-Type", "Authorization"):
                    if self.headers.get(k):
                        req.add_header(k, self.headers[k])
                with urllib.request.urlopen(req, timeout=10) as resp:
                    status, answer = resp.status, resp.read()
                done = time.time()
                stamps = [int(line.rsplit(b" ", 1)[1]) for line in body.splitlines() if line.strip()]
                proxy.records.append((done, stamps))
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=60_000, help="states in the backlog (default 60000)")
    ap.add_argument("--rate", type=float, default=2000.0, help="live states per second for latency (default 2000)")
    ap.add_argument("--seconds", type=float, default=5.0, help="latency window (default 5)")
    ap.add_argument("--inflight", type=int, default=0, help="broker max_inflight_messages (default: the shipped)")
    args = ap.parse_args(argv)
    n = args.messages - args.messages % DEVICES
    inflight = args.inflight or shipped_inflight()
    others = ",".join(str(c) for c in range(os.cpu_count() or 1) if c != CORE) or str(CORE)

    with tempfile.TemporaryDirectory(prefix="bench-collector-") as tmp, harness.processes() as procs:
        work = Path(tmp)
        mqtt_port = harness.free_port()
        conf = work / "mosquitto.conf"
        conf.write_text(
            f"listener {mqtt_port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"max_inflight_messages {inflight}\nmax_queued_messages 0\nmax_queued_bytes 0\n"
        )
        procs.start(
            ["taskset", "-c", others, harness.MOSQUITTO, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        harness.wait_port(mqtt_port)
        vm_port = harness.free_port()
        procs.start(
            [
                "taskset",
                "-c",
                others,
                VICTORIA_METRICS,
                f"-httpListenAddr=127.0.0.1:{vm_port}",
                f"-storageDataPath={work / 'vm'}",
                "-retentionPeriod=100y",
                "-loggerLevel=ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        harness.wait_port(vm_port)
        proxy = RecordingProxy(f"http://127.0.0.1:{vm_port}")

        metrics_port = harness.free_port()
        env = harness.child_env(
            MQTT_HOST="127.0.0.1",
            MQTT_PORT=str(mqtt_port),
            STATE_DIR=str(work / "state"),
            METRICS_HOST="127.0.0.1",
            METRICS_PORT=str(metrics_port),
            LOG_LEVEL="WARNING",
            INFLUX_URL=f"http://127.0.0.1:{vm_port}",
            INFLUX_API="v2",
            COLLECTOR_CLIENT_ID="bench-collector",
        )

        def start_collector(url: str | None = None) -> subprocess.Popen[str]:
            e = dict(env, INFLUX_URL=url) if url else env
            proc = procs.start(pinned([harness.solarstack_exe(), "run", "collector"]), env=e)
            wait(lambda: ready(metrics_port), 30, "collector /ready")
            return proc

        def stop(proc: subprocess.Popen[str]) -> None:
            proc.terminate()
            proc.wait(30)

        # 1. both sessions exist, the catalogues are retained, then both clients leave
        pub = [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(mqtt_port), "-q", "1"]
        for d in range(DEVICES):
            subprocess.run([*pub, "-r", "-t", f"solarstack/dev{d:02d}/catalog", "-m", catalog(d)], check=True)
        subprocess.run(
            [sys.executable, "-c", RAW_SUBSCRIBER, str(mqtt_port), "0", "1"], check=True, capture_output=True
        )
        collector = start_collector()
        wait(lambda: Path(work / "state" / "collector" / "kinds.json").exists(), 10, "catalogues seen")
        stop(collector)

        # 2. the backlog: n states queued for both sessions
        base = time.time() - 86_400
        feeders = []
        for d in range(DEVICES):
            lines = "\n".join(state(d, i, iso(base + i * 0.001)) for i in range(n // DEVICES)) + "\n"
            feeders.append(
                subprocess.Popen(
                    ["taskset", "-c", others, *pub, "-t", f"solarstack/dev{d:02d}/state", "-l"],
                    stdin=subprocess.PIPE,
                    text=True,
                )
            )
            assert feeders[-1].stdin is not None
            feeders[-1].stdin.write(lines)
            feeders[-1].stdin.close()
        for f in feeders:
            f.wait(300)

        # 3. raw subscriber drains its backlog, pinned
        raw = subprocess.run(
            pinned([sys.executable, "-c", RAW_SUBSCRIBER, str(mqtt_port), str(n), "0"]),
            check=True,
            capture_output=True,
            text=True,
            env=harness.child_env(),
        )
        got, first, last = raw.stdout.split()
        if int(got) < n:
            raise SystemExit(f"raw subscriber got {got} of {n}")
        raw_rate = (n - 1) / (float(last) - float(first))

        # 4. the collector drains its backlog, pinned
        collector = procs.start(pinned([harness.solarstack_exe(), "run", "collector"]), env=env)
        samples: list[tuple[float, float]] = []
        deadline = time.monotonic() + 600
        while True:
            try:
                written = metric(metrics_port, "solarstack_collector_points_written_total")
            except OSError:
                written = 0.0
            samples.append((time.perf_counter(), written))
            if written >= n:
                break
            if collector.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"collector: {written:.0f} of {n} written (exit {collector.poll()})")
            time.sleep(0.02)
        # from the first sample with points written (one batch in) to the last
        start = next((t, w) for t, w in samples if w > 0)
        end = samples[-1]
        rate = (end[1] - start[1]) / (end[0] - start[0])
        stop(collector)

        # 5. latency: live states through the recording proxy
        collector = start_collector(f"http://127.0.0.1:{proxy.port}")
        live = subprocess.Popen(
            ["taskset", "-c", others, *pub, "-t", "solarstack/dev00/state", "-l"], stdin=subprocess.PIPE, text=True
        )
        assert live.stdin is not None
        total = int(args.rate * args.seconds)
        began = time.monotonic()
        for i in range(total):
            delay = began + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            live.stdin.write(state(0, i, iso(time.time())) + "\n")
            live.stdin.flush()
        live.stdin.close()
        live.wait(30)
        wait(lambda: metric(metrics_port, "solarstack_collector_points_written_total") >= total, 60, "live states")
        latencies = sorted(done - ts / 1e9 for done, stamps in proxy.records for ts in stamps)
        _, hwm = harness.memory_mb(collector.pid)
        stop(collector)
        proxy.server.shutdown()

    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(len(latencies) * 0.95)] * 1000
    share = rate / raw_rate
    print(f"collector into VictoriaMetrics, {n} states of {FIELDS} fields, one core ({harness.load_average()}):")
    print(f"  broker max_inflight_messages {inflight}")
    print(f"  raw paho subscriber   {raw_rate:9,.0f} messages/s")
    print(
        f"  collector             {rate:9,.0f} messages/s = {rate * FIELDS:,.0f} fields/s"
        f" (>= {THROUGHPUT_TARGET:,.0f}) -> {harness.verdict(rate >= THROUGHPUT_TARGET)};"
        f" {share:.2f} of raw (>= {RAW_SHARE_TARGET:.2f}) -> {harness.verdict(share >= RAW_SHARE_TARGET)}"
    )
    print(f"  publish-to-sink latency at {args.rate:g}/s: p50 {p50:.1f} ms, p95 {p95:.1f} ms ({len(latencies)} points)")
    print(f"  collector peak RSS {hwm:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

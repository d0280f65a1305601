"""Issue 8, item 8: live streams must not starve the API — through real gunicorn (the default: one worker).

One address opens 1,000 `/api/stream` connections and keeps them; meanwhile a poller reads
`/api/data` on fresh connections, as a Home Assistant REST sensor does. The stream caps
(WEB_STREAMS_PER_CLIENT per worker, WEB_STREAMS per worker, below WEB_THREADS) admit a
few and refuse the rest at once with 503 + Retry-After, so `/api/data` keeps its threads.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import requests
from web_support import DemoSite, WebServer, wait_for

FLOOD = 1000
WORKERS = 1  # `solarstack run web`'s default
PER_CLIENT = 8  # WEB_STREAMS_PER_CLIENT default
P99_BOUND = 0.100


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples) or [0.0]
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _p99(samples: list[float]) -> float:
    return _quantile(samples, 0.99)


def _ms(samples: list[float], q: float) -> str:
    return f"{_quantile(samples, q) * 1000:.1f} ms"


class DataPoller(threading.Thread):
    """GET /api/data in a loop, a fresh connection each time; records each latency (2 s cap)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(daemon=True)
        self.host, self.port = host, port
        self.latencies: list[float] = []
        self.started: list[float] = []  # monotonic start of each sample
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.started.append(time.monotonic())
            started = time.perf_counter()
            conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
            try:
                conn.request("GET", "/api/data", headers={"Connection": "close"})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    self.failures.append(f"status {resp.status}")
            except OSError as exc:
                self.failures.append(repr(exc))
            finally:
                conn.close()
            self.latencies.append(time.perf_counter() - started)


FLOODER = """
import socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
request = f"GET /api/stream HTTP/1.1\\r\\nHost: {host}:{port}\\r\\nAccept: text/event-stream\\r\\n\\r\\n".encode()
socks = []
for _ in range(count):
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(request)
    socks.append(sock)
for sock in socks:
    try:
        head = sock.recv(4096)
    except OSError:
        head = b""
    status = head[9:12].decode() or "---"
    retry = "retry" if b"\\r\\nRetry-After: " in head else "-"
    print(status, retry, flush=True)
sys.stdin.read()  # hold every connection open until the test closes our stdin
"""


def test_stream_flood_from_one_address_leaves_api_data_fast(web_server: WebServer, site: DemoSite) -> None:
    host, port = "127.0.0.1", web_server.port
    poller = DataPoller(host, port)
    poller.start()
    wait_for(lambda: len(poller.latencies) >= 20, 10, what="baseline /api/data samples")
    # The flood comes from another process, as from another host: it must not share our GIL.
    flooder = subprocess.Popen(
        [sys.executable, "-c", FLOODER, host, str(port), str(FLOOD)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert flooder.stdin is not None and flooder.stdout is not None
    try:
        first_sample = len(poller.latencies)
        answers = [flooder.stdout.readline().split() for _ in range(FLOOD)]
        all_open = time.monotonic()
        # Measure with every flood connection open (admitted streams and refused keep-alives).
        wait_for(lambda: sum(t > all_open for t in poller.started) >= 300, 30, what="300 samples under the flood")
        assert flooder.poll() is None, "the flood's connections were closed early"
    finally:
        poller.stop.set()
        poller.join(5)
        flooder.stdin.close()
        flooder.wait(10)
    samples = list(zip(poller.started, poller.latencies, strict=False))[first_sample:]
    opening = [latency for t, latency in samples if t <= all_open]
    during = [latency for t, latency in samples if t > all_open]

    assert len(answers) == FLOOD, f"only {len(answers)} of {FLOOD} stream attempts were answered"
    admitted = [a for a in answers if a[0] == "200"]
    refused = [a for a in answers if a[0] == "503"]
    assert 1 <= len(admitted) <= WORKERS * PER_CLIENT, len(admitted)
    assert len(admitted) + len(refused) == FLOOD
    assert all(a[1] == "retry" for a in refused)
    assert not poller.failures, poller.failures[:5]
    p99 = _p99(during)
    print(
        f"\n/api/data with {FLOOD} stream attempts open: {len(during)} samples, p50 {_ms(during, 0.5)},"
        f" p99 {_ms(during, 0.99)}, max {_ms(during, 1.0)};"
        f" while they were being opened: {len(opening)} samples, max {_ms(opening, 1.0)}"
    )
    assert p99 < P99_BOUND, f"/api/data p99 {p99 * 1000:.0f} ms with {FLOOD} stream attempts open"
    # Opening a thousand connections at full speed queues /api/data briefly, never for long.
    assert max(opening, default=0.0) < 1.5, f"/api/data took {max(opening):.2f} s while the flood opened"

    # Closing the streams (the flooder has exited) frees their places: the address gets one again.
    def stream_admitted() -> bool:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        try:
            conn.request("GET", "/api/stream", headers={"Connection": "close"})
            return conn.getresponse().status == 200
        finally:
            conn.close()

    wait_for(lambda: all(stream_admitted() for _ in range(4)), 15, interval=0.5, what="streams admitted again")


def test_stream_cap_counts_each_address_separately_and_in_total(mosquitto: Any, site: DemoSite, tmp_path: Any) -> None:
    """One worker, WEB_STREAMS_PER_CLIENT=2 and WEB_STREAMS=3: two addresses share the total."""
    server = WebServer(
        mosquitto, tmp_path, "--workers", "1", WEB_THREADS="8", WEB_STREAMS="3", WEB_STREAMS_PER_CLIENT="2"
    )
    socks: list[socket.socket] = []
    try:
        server.wait_ready(devices=4)

        def open_stream(source: str) -> bytes:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5, source_address=(source, 0))
            sock.sendall(b"GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(sock)
            return sock.recv(4096)

        a = [open_stream("127.0.0.2")[:12] for _ in range(3)]
        assert a == [b"HTTP/1.1 200", b"HTTP/1.1 200", b"HTTP/1.1 503"]  # per address: 2
        b = [open_stream("127.0.0.3")[:12] for _ in range(2)]
        assert b == [b"HTTP/1.1 200", b"HTTP/1.1 503"]  # in total: 3
        # Threads are left for the API: 8 threads, 3 held by streams.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
        conn.request("GET", "/api/data")
        assert conn.getresponse().status == 200
        conn.close()
        metrics = requests.get(server.url + "/metrics", timeout=2).text
        assert "solarstack_web_stream_refusals_total 2.0" in metrics
    finally:
        for sock in socks:
            sock.close()
        server.stop()

"""`solarstack run web` under gunicorn (gthread) against a real Mosquitto: readiness, live stream, shutdown."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from web_support import DemoSite, WebServer, wait_for


class SseClient:
    """A raw-socket SSE reader: records (arrival time, event, data) for every event."""

    def __init__(self, url: str, source: str = "127.0.0.1") -> None:
        host_port = url.removeprefix("http://")
        host, port = host_port.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0))
        self.sock.sendall(
            f"GET /api/stream HTTP/1.1\r\nHost: {host_port}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        self.events: list[tuple[float, str, Any]] = []
        self.comments = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        buf = b""
        try:
            while chunk := self.sock.recv(65536):
                buf += chunk
                while b"\n\n" in buf:
                    block, buf = buf.split(b"\n\n", 1)
                    self._block(block.decode(errors="replace"))
        except OSError:
            return

    def _block(self, block: str) -> None:
        event, data = "message", []
        for line in block.splitlines():
            if line.startswith(":"):
                self.comments += 1
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if data:
            with self.lock:
                self.events.append((time.monotonic(), event, json.loads("\n".join(data))))

    def states(self, device: str) -> list[tuple[float, dict[str, Any]]]:
        with self.lock:
            return [(t, d["state"]) for t, e, d in self.events if e == "state" and d["device"] == device]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def one_worker(mosquitto: Any, site: DemoSite, tmp_path: Path) -> Iterator[WebServer]:
    """One worker, so /metrics describes the same process that serves the stream."""
    server = WebServer(mosquitto, tmp_path, "--workers", "1")
    server.wait_ready(devices=4)
    yield server
    server.stop()


def test_stream_pushes_each_new_state_and_keeps_alive(one_worker: WebServer, site: DemoSite) -> None:
    web_server = one_worker
    client = SseClient(web_server.url)
    try:
        wait_for(lambda: any(e == "snapshot" for _, e, _ in client.events), 5, what="snapshot")
        snapshot = next(d for _, e, d in client.events if e == "snapshot")
        assert set(snapshot["devices"]) == {"inverter", "pack1", "house", "weather"}
        sent = time.monotonic()
        states = site.step()
        want = states["inverter"]["ts"]
        arrived = wait_for(lambda: [t for t, s in client.states("inverter") if s.get("ts") == want], 2, what="event")
        assert arrived[0] - sent < 2.0
        # WEB_SSE_HEARTBEAT=2: an idle stream carries keep-alive comments.
        wait_for(lambda: client.comments >= 1, 5, what="keep-alive")
    finally:
        client.close()

    # A closed client's queue goes away once a write to it fails (at the next event or keep-alive).
    def streams() -> float:
        site.step()
        text = requests.get(web_server.url + "/metrics", timeout=2).text
        line = next(ln for ln in text.splitlines() if ln.startswith("solarstack_web_stream_clients "))
        return float(line.split()[1])

    wait_for(lambda: streams() == 0, 10, interval=0.2, what="stream cleaned up")


def test_many_stream_clients_and_clean_shutdown(web_server: WebServer, site: DemoSite) -> None:
    # 30 browsers on 30 LAN addresses (one address may hold only WEB_STREAMS_PER_CLIENT per worker).
    clients = [SseClient(web_server.url, f"127.0.3.{n}") for n in range(1, 31)]
    try:
        wait_for(lambda: all(c.events for c in clients), 10, what="30 snapshots")
        want = site.step()["house"]["ts"]
        wait_for(
            lambda: all(any(s.get("ts") == want for _, s in c.states("house")) for c in clients),
            3,
            what="every client got the event",
        )
        # Data requests still answer while 30 streams are open.
        assert requests.get(web_server.url + "/api/data", timeout=2).status_code == 200
    finally:
        started = time.monotonic()
        code = web_server.stop()
        for c in clients:
            c.close()
    assert code == 0
    assert time.monotonic() - started < 10


def test_login_session_works_across_workers(mosquitto: Any, site: DemoSite, tmp_path: Path) -> None:
    """Two workers must share the session key, or a login would work on one only."""
    # A command limit well above the 12 sent: they may all land on one worker, whose own bucket
    # holds 10 (the limit is tested in test_api.py; here only the shared session is).
    server = WebServer(mosquitto, tmp_path, "--workers", "2", WEB_PASSWORD="pw", WEB_COMMAND_RATE="600")
    try:
        server.wait_ready(devices=4)
        http = requests.Session()
        form = http.get(server.url + "/login", timeout=5).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token
        resp = http.post(server.url + "/login", data={"password": "pw", "csrf_token": token.group(1)}, timeout=5)
        assert resp.status_code == 200 and resp.url.endswith("/")
        csrf = re.search(r'data-csrf="([^"]+)"', resp.text)
        assert csrf
        for _ in range(12):
            # Fresh connections spread over both workers' accept loops.
            r = requests.post(
                server.url + "/api/command",
                json={"device": "inverter", "command": "QMOD"},
                headers={"X-CSRF-Token": csrf.group(1), "Connection": "close"},
                cookies=http.cookies,
                timeout=10,
            )
            assert r.status_code == 200, r.text
            assert r.json()["result"]["fields"] == {"mode": "battery"}
    finally:
        server.stop()

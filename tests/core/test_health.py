"""/health /ready /metrics over real HTTP: the asyncio server and the WSGI app."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from solarstack.core.errors import ConfigError
from solarstack.core.health import HealthServer, Readiness, check_listen
from solarstack.core.metrics import ServiceMetrics


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def test_asyncio_server_routes() -> None:
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, "inverter")
    metrics.device_up("inv1", True)
    state = {"ready": Readiness(False, "MQTT not connected")}

    async def scenario() -> None:
        server = HealthServer(registry, lambda: state["ready"], service="inverter", host="127.0.0.1", port=0)
        port = await server.start()
        base = f"http://127.0.0.1:{port}"
        status, ctype, body = await asyncio.to_thread(get, base + "/health")
        assert status == 200 and ctype == "application/json"
        assert json.loads(body)["status"] == "ok"
        status, _, body = await asyncio.to_thread(get, base + "/ready")
        assert status == 503 and json.loads(body) == {
            "ready": False,
            "service": "inverter",
            "reason": "MQTT not connected",
        }
        state["ready"] = Readiness(True)
        status, _, body = await asyncio.to_thread(get, base + "/ready")
        assert status == 200 and json.loads(body)["ready"] is True
        status, ctype, body = await asyncio.to_thread(get, base + "/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        assert b'solarstack_device_up{device="inv1"} 1.0' in body
        status, _, _ = await asyncio.to_thread(get, base + "/nope")
        assert status == 404
        # garbage on the socket must not break the server
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x16\x03\x01garbage\r\n\r\n")
        await writer.drain()
        assert (await reader.read()).startswith(b"HTTP/1.1 400")
        writer.close()
        status, _, _ = await asyncio.to_thread(get, base + "/health")
        assert status == 200
        await server.stop()

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_broken_readiness_check_answers_503() -> None:
    def broken() -> Readiness:
        raise RuntimeError("boom")

    async def scenario() -> tuple[int, bytes]:
        server = HealthServer(CollectorRegistry(), broken, service="bms", host="127.0.0.1", port=0)
        port = await server.start()
        status, _, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/ready")
        await server.stop()
        return status, body

    status, body = asyncio.run(scenario())
    assert status == 503 and "boom" in json.loads(body)["reason"]


def test_a_port_taken_after_the_start_check_is_a_config_error_not_a_traceback() -> None:
    """check_listen() runs at start; a port taken between that and start() still gives the
    one-line ConfigError that names METRICS_PORT."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = HealthServer(CollectorRegistry(), lambda: Readiness(True), service="t", host="127.0.0.1", port=port)
        with pytest.raises(ConfigError, match=f"METRICS_PORT={port} is already in use"):
            asyncio.run(server.start())
        with pytest.raises(ConfigError, match=f"METRICS_PORT={port} is already in use"):
            check_listen("127.0.0.1", port)

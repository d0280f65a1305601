"""Service layer (web): /health, /ready and /metrics for the web service itself.

/health answers while the process serves; /ready only once the MQTT subscriber is
connected; /metrics is this app's own prometheus-client registry (no process-global
registry, so several apps in one test process do not collide). This module must not
serve pages or commands.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

ops = Blueprint("ops", __name__)


class WebMetrics:
    """Counters and gauges of one app."""

    def __init__(self, clients: Callable[[], int], connected: Callable[[], bool]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "solarstack_web_requests", "HTTP requests served", ["endpoint", "status"], registry=self.registry
        )
        self.stream_refusals = Counter(
            "solarstack_web_stream_refusals", "live streams refused with 503 (caps full)", registry=self.registry
        )
        stream = Gauge("solarstack_web_stream_clients", "open live-stream connections", registry=self.registry)
        stream.set_function(lambda: float(clients()))
        up = Gauge("solarstack_web_mqtt_connected", "1 while the MQTT subscriber is connected", registry=self.registry)
        up.set_function(lambda: 1.0 if connected() else 0.0)

    def install(self, app: Flask) -> None:
        @app.after_request
        def count(response: Response) -> Response:
            self.requests.labels(request.endpoint or "none", str(response.status_code)).inc()
            return response


def _connected() -> bool:
    check: Callable[[], bool] = current_app.extensions["solarstack_connected"]
    return check()


@ops.get("/health")
def health() -> Response:
    return jsonify(status="ok")


@ops.get("/ready")
def ready() -> tuple[Response, int]:
    if _connected():
        return jsonify(status="ready"), 200
    return jsonify(status="waiting for the MQTT broker"), 503


@ops.get("/metrics")
def metrics() -> Response:
    registry: CollectorRegistry = current_app.extensions["solarstack_metrics"].registry
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

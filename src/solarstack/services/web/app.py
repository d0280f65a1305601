"""Service layer (web): the Flask app factory.

`create_app(settings, store, history)` wires the blueprints to the objects it is given —
no module-level state, so tests build as many apps as they like. The MQTT side (the
subscriber feeding `store`, the command desk publishing) is built by main.py and passed
in through `commands` and `connected`; without them the app serves what the store holds
and refuses commands with 503. This module must not start threads or connect anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask, url_for

from solarstack.core.topics import Topics
from solarstack.services.web import auth
from solarstack.services.web.api import api
from solarstack.services.web.auth import SECURITY_HEADERS
from solarstack.services.web.bodies import MAX_BODY_BYTES
from solarstack.services.web.control import Commands
from solarstack.services.web.energy import EnergyTotals, system_zone
from solarstack.services.web.history import History
from solarstack.services.web.ops import WebMetrics, ops
from solarstack.services.web.pages import pages
from solarstack.services.web.settings import WebSettings
from solarstack.services.web.store import StateStore
from solarstack.services.web.streams import StreamGate


def create_app(
    settings: WebSettings,
    store: StateStore,
    history: History,
    *,
    commands: Commands | None = None,
    connected: Callable[[], bool] | None = None,
    energy: EnergyTotals | None = None,
) -> Flask:
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config["SOLARSTACK_SSE_HEARTBEAT"] = settings.web_sse_heartbeat
    app.config["JSON_SORT_KEYS"] = False
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES + 1  # every body, JSON or form (see bodies.py)
    app.extensions["solarstack_store"] = store
    app.extensions["solarstack_history"] = history
    # Energy tables in the process's time zone (TZ), as the readers roll their daily figures over.
    app.extensions["solarstack_energy"] = energy or EnergyTotals(settings.prometheus_url, system_zone(settings.tz))
    app.extensions["solarstack_commands"] = commands or Commands(
        store, lambda: None, Topics(settings.mqtt_prefix, settings.ha_discovery_prefix), settings.web_command_timeout
    )
    app.extensions["solarstack_connected"] = connected or (lambda: False)
    metrics = WebMetrics(lambda: store.client_count, app.extensions["solarstack_connected"])
    app.extensions["solarstack_metrics"] = metrics
    metrics.install(app)
    auth.install(app, settings)
    app.register_blueprint(ops)
    app.register_blueprint(api)
    app.register_blueprint(pages)
    # Assets may be cached for a day; their URLs carry `?v=` (newest asset's mtime), so an
    # upgrade is picked up at once.
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 86400
    # …except the ES modules under js/: they import each other by plain relative URLs, which
    # carry no `?v=`, so the browser revalidates them (a 304 while unchanged).
    app.get_send_file_max_age = _module_max_age  # type: ignore[method-assign]
    version = asset_version(Path(app.static_folder or "."))
    app.jinja_env.globals["asset"] = lambda filename: url_for("static", filename=filename, v=version)
    if not app.extensions["solarstack_guard"].login_required:
        app.wsgi_app = DataFastPath(app.wsgi_app, store, metrics)  # type: ignore[method-assign]
    # Outermost: a refused stream costs microseconds and no Flask request (streams.py).
    gate = StreamGate(app.wsgi_app, settings.stream_limit, settings.web_streams_per_client, metrics.stream_refusals.inc)
    app.extensions["solarstack_streams"] = gate
    app.wsgi_app = gate  # type: ignore[method-assign]
    return app


def _module_max_age(filename: str | None) -> int | None:
    return 0 if filename is not None and filename.startswith("js/") else 86400


def asset_version(static: Path) -> str:
    newest = max((p.stat().st_mtime for p in static.rglob("*") if p.is_file()), default=0.0)
    return format(int(newest), "x")


class DataFastPath:
    """WSGI middleware answering `GET /api/data` straight from the store's cached JSON.

    /api/data is what scripts, Home Assistant REST sensors and other dashboards poll, often
    several at once; through Flask's full request cycle (context, session, URL map, hooks)
    it cost ~0.5 ms of CPU, here ~0.02 ms, same body and headers. Installed only while
    reading is open (no login required), so it bypasses no access check.
    """

    def __init__(self, inner: Callable[..., Iterable[bytes]], store: StateStore, metrics: WebMetrics) -> None:
        self._inner = inner
        self._store = store
        self._counter = metrics.requests.labels("api.data", "200")
        self._headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), *SECURITY_HEADERS]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/api/data" or environ.get("REQUEST_METHOD") != "GET":
            return self._inner(environ, start_response)
        body = self._store.snapshot_json()
        start_response("200 OK", [*self._headers, ("Content-Length", str(len(body)))])
        self._counter.inc()
        return [body]

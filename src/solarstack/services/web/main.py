"""Service layer (web): `solarstack run web` — gunicorn (gthread) serving the app, one MQTT subscriber.

gunicorn is driven programmatically (no config file): the master forks the worker(s)
and each worker builds its own store, history, MQTT client and app in `load()`, after
the fork, so no socket or thread crosses it. A worker's exit stops its MQTT client
(publishing nothing: the web has no availability topic) and ends its live streams.
Logging goes through the one set-up every service uses (core/log.py: LOG_LEVEL,
LOG_FORMAT=json gives one JSON object per line), gunicorn's own lines included (`_RootLogger`).
This module must not hold module-level state or read the environment at import time.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import resource
import secrets
import signal
from dataclasses import dataclass
from typing import Any

from flask import Flask
from pydantic import SecretStr

from solarstack.core.log import setup_logging
from solarstack.core.settings import load
from solarstack.services.web.settings import WebSettings

log = logging.getLogger(__name__)

#: Points per field the in-memory history keeps when Prometheus has the history: an hour at a
#: 5 s poll, so the charts still show the last hour while Prometheus is away.
FALLBACK_POINTS = 720


@dataclass
class Running:
    """A built app with its subscriber; `close_streams` ends live streams, `shutdown` everything."""

    app: Flask
    store: Any
    client: Any
    history: Any = None

    def close_streams(self) -> None:
        self.store.close()

    def shutdown(self) -> None:
        self.store.close()
        self.client.stop()


def build(settings: WebSettings) -> Running:
    """The app wired to a started MQTT subscriber."""
    from solarstack.core.mqtt import MqttClient
    from solarstack.core.topics import Topics
    from solarstack.services.web.app import create_app
    from solarstack.services.web.control import Commands
    from solarstack.services.web.feed import Feed
    from solarstack.services.web.history import History, PrometheusHistory, RingHistory
    from solarstack.services.web.store import StateStore

    store = StateStore(stale_seconds=settings.web_stale_seconds)
    if settings.prometheus_url:
        # Prometheus keeps the history; the ring only answers while it cannot, so it holds the
        # last hour or so, not WEB_HISTORY_POINTS (each worker keeps its own: at 20,000 points of
        # ~110 bytes for each of a few hundred fields, the soak saw the web grow without end)
        history: History = PrometheusHistory(settings.prometheus_url, RingHistory(FALLBACK_POINTS))
    else:
        history = RingHistory(settings.web_history_points)
    # Several gunicorn workers each run a subscriber: the client id must differ per process.
    client = MqttClient(settings, f"solarstack-web-{os.getpid()}")
    topics = Topics(settings.mqtt_prefix, settings.ha_discovery_prefix)
    commands = Commands(store, lambda: client, topics, settings.web_command_timeout)
    Feed(store, history, commands, topics).attach(client)
    client.start()
    app = create_app(settings, store, history, commands=commands, connected=lambda: client.connected)
    return Running(app, store, client, history)


#: Idle keep-alive connections a worker keeps on top of its threads. gunicorn's gthread
#: worker closes a connection beyond that room "gracefully" on its one event-loop thread,
#: waiting up to 2 s for the peer to hang up — a client flooding refused live streams
#: (streams.py) and never closing them would stall every other request that long per
#: connection. Kept alive instead, they are dropped after the keep-alive timeout without
#: waiting. Room for 1,024 per worker; each costs one file descriptor.
KEEPALIVE_ROOM = 1024


def _worker_connections(threads: int) -> int:
    """Connections per worker: threads plus KEEPALIVE_ROOM, as far as open files allow (the
    soft limit is raised toward the hard one, which any process may do)."""
    wanted = threads + KEEPALIVE_ROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted + 128:
        target = wanted + 128 if hard == resource.RLIM_INFINITY else min(wanted + 128, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < wanted + 128:
        log.warning("only %d open files allowed: room for %d idle connections per worker", soft, soft - 128 - threads)
        return max(threads + 1, soft - 128)
    return wanted


def _server(settings: WebSettings, workers: int) -> Any:
    from gunicorn.app.base import BaseApplication
    from gunicorn.glogging import Logger

    class _RootLogger(Logger):  # type: ignore[misc]
        """gunicorn's error log through the root logger set up by core/log.py (its own
        handlers and format would print plain text whatever LOG_FORMAT says)."""

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for handler in list(self.error_log.handlers):
                self.error_log.removeHandler(handler)
            self.error_log.propagate = True

    connections = _worker_connections(settings.web_threads)

    class WebServer(BaseApplication):  # type: ignore[misc]
        def __init__(self) -> None:
            self._running: Running | None = None
            super().__init__()

        def load_config(self) -> None:
            options = {
                "bind": f"{settings.web_host}:{settings.web_port}",
                "worker_class": "gthread",
                "workers": workers,
                # Each open live stream holds a thread for as long as the tab is open.
                "threads": settings.web_threads,
                "worker_connections": connections,
                "graceful_timeout": 5,
                "timeout": 60,
                "keepalive": 5,
                "accesslog": None,
                "errorlog": "-",
                "logger_class": _RootLogger,
                "loglevel": settings.log_level.lower(),
                "proc_name": "solarstack-web",
                # the workers' heartbeat file is touched every second: in RAM, not on the SD card
                "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
                "post_worker_init": self._on_worker_start,
                "worker_exit": self._on_worker_exit,
            }
            # gunicorn 24+ opens a control socket in $HOME by default; a service needs none, and
            # two instances on one host (tests, several sites) would fight over its path.
            if "control_socket_disable" in self.cfg.settings:
                options["control_socket_disable"] = True
            for key, value in options.items():
                self.cfg.set(key, value)

        def _on_worker_start(self, _worker: Any) -> None:
            # gunicorn's SIGTERM handler only stops accepting; open live streams would hold the
            # worker for the whole graceful timeout. End them first, then let gunicorn go on.
            previous = signal.getsignal(signal.SIGTERM)

            def on_term(signum: int, frame: Any) -> None:
                if self._running is not None:
                    self._running.close_streams()
                if callable(previous):
                    previous(signum, frame)

            signal.signal(signal.SIGTERM, on_term)

        def _on_worker_exit(self, _arbiter: Any, _worker: Any) -> None:
            if self._running is not None:
                self._running.shutdown()

        def load(self) -> Flask:
            self._running = build(settings)
            return self._running.app

    return WebServer()


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="solarstack run web", description="the web UI (gunicorn gthread)")
    parser.add_argument("--port", type=int, help="override WEB_PORT")
    parser.add_argument("--host", help="override WEB_HOST")
    # One worker by default: a home's few tabs are far below one worker's 2,400 req/s on
    # /api/data, and a second costs ~13 MB on a Pi whose stack aims at 250 MB. Two use both
    # cores of a small machine (6,000 req/s, p99 56 -> 29 ms) where many people watch.
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gunicorn worker processes (default 1); each runs its own MQTT subscriber and store",
    )
    args = parser.parse_args(argv)
    settings = load(WebSettings)
    given = (("web_port", args.port), ("web_host", args.host))
    overrides = {k: v for k, v in given if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)
    if settings.web_secret_key is None:
        # One random key for all workers (made before the fork), or a login made through one
        # worker would be rejected by the other. It still changes on every restart.
        settings = settings.model_copy(update={"web_secret_key": SecretStr(secrets.token_hex(32))})
    if settings.web_password is not None:
        # Fail at start with one line, not in every worker: the login limiter's file must be writable.
        from solarstack.services.web.logins import LoginLimiter

        LoginLimiter.per_minute_and_hour(settings.state_dir, 1, 1).close()
    setup_logging(settings.log_level, settings.log_format)
    if settings.web_api_token is None and settings.web_password is None:
        log.warning("neither WEB_API_TOKEN nor WEB_PASSWORD is set: every command will be refused")
    server = _server(settings, max(1, args.workers))
    _share_with_workers()
    server.run()
    return 0


def _share_with_workers() -> None:
    """Import in the master what every worker's `build()` imports, then freeze the GC, so the
    workers inherit those modules copy-on-write instead of each loading its own (the soak's
    footprint: ~10 MB less per worker). Importing starts nothing: no thread, no socket (app.py
    and the modules `build()` uses promise that). `gc.freeze()` keeps the collector from writing
    to the inherited objects' headers, which would copy their pages into every worker."""
    import gc

    import solarstack.core.mqtt
    import solarstack.core.topics
    import solarstack.services.web.app
    import solarstack.services.web.control
    import solarstack.services.web.feed
    import solarstack.services.web.history
    import solarstack.services.web.store  # noqa: F401

    gc.collect()
    gc.freeze()

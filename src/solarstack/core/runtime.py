"""Core layer: run a service's asyncio main with signal handling and exit codes.

`run_service(main)` creates the event loop, installs SIGTERM/SIGINT handlers that set
the stop event `main` receives (first signal: graceful — `main` publishes `offline`,
flushes and returns; a second signal cancels `main`), and maps the outcome to an exit
code: 0 after a clean stop, 2 on ConfigError (one line on stderr that says what to
fix, no traceback), 1 on anything else (logged with its traceback).

Must not build settings, devices or MQTT clients: the service's `main` does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from solarstack.core.errors import ConfigError
from solarstack.core.log import setup_logging
from solarstack.core.settings import CommonSettings, load

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

ServiceMain = Callable[[asyncio.Event], Awaitable[None]]
S = TypeVar("S", bound=CommonSettings)


async def _supervise(main: ServiceMain) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    task = asyncio.ensure_future(main(stop))

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("second %s: cancelling", signal.Signals(signum).name)
            task.cancel()
        else:
            log.info("%s: stopping", signal.Signals(signum).name)
            stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await task
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def run_service(main: ServiceMain) -> int:
    """Run `main(stop_event)` to completion; return the process exit code."""
    try:
        asyncio.run(_supervise(main))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except asyncio.CancelledError:
        log.warning("stopped forcibly")
        return EXIT_FAILED
    except Exception:
        log.exception("service failed")
        return EXIT_FAILED
    return EXIT_OK


def run_from_env(
    argv: list[str],
    *,
    prog: str,
    description: str,
    model: type[S],
    serve: Callable[[S, asyncio.Event], Awaitable[None]],
) -> int:
    """The whole `solarstack run <service>` for a service configured only by environment:
    `--help` shows `description`; settings are loaded once (ConfigError: one line, exit 2);
    logging is set up; then `serve(settings, stop)` runs under `run_service`."""
    argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args(argv)
    try:
        settings = load(model)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(settings.log_level, settings.log_format)
    return run_service(lambda stop: serve(settings, stop))

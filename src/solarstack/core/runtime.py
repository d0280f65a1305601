"""Core layer: run a service's asyncio main with signal handling and exit codes.

`run_service(main)` creates the event loop, installs SIGTERM/SIGINT handlers that set
the stop event `main` receives (first signal: graceful — `main` publishes `offline`,
flushes and returns; a second signal cancels `main`), and maps the outcome to an exit
code: 0 after a clean stop, 2 on ConfigError (one line on stderr that says what to
fix, no traceback), 1 on anything else (logged with its traceback).

`run_from_env` also checks, before anything is built or logged, what every service needs
from its host: STATE_DIR a directory it can write (else the spool fails on every message
once the broker is down), METRICS_HOST:METRICS_PORT free to listen on.

A reader service (its model has a `<service>_devices` field) also takes `--dry-run`: the
settings it gets say so (`settings.dry_run`) and the reader wiring (services/wiring.py) polls
each device once and prints what it would publish, with no broker, no metrics port and a
scratch STATE_DIR; a device that does not answer ends it with one line and exit status 1
(`DryRunFailed`).

Must not build devices or MQTT clients: the service's `main` does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from solarstack.core.errors import ConfigError, SolarstackError
from solarstack.core.health import check_listen
from solarstack.core.log import setup_logging
from solarstack.core.settings import CommonSettings, load

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

ServiceMain = Callable[[asyncio.Event], Awaitable[None]]


class DryRunFailed(SolarstackError):
    """A `--dry-run` found a device that does not answer: one line, exit status 1."""


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
    except DryRunFailed as exc:
        print(f"dry run: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except asyncio.CancelledError:
        log.warning("stopped forcibly")
        return EXIT_FAILED
    except Exception:
        log.exception("service failed")
        return EXIT_FAILED
    return EXIT_OK


def check_state_dir(path: Path) -> None:
    """STATE_DIR (spool, energy counters) is a directory this process can create files in;
    created if missing. ConfigError otherwise. The probe file is empty and removed at once:
    no data reaches the SD card."""
    var = f"STATE_DIR={str(path)!r}"
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{var} is a file, not a directory: point STATE_DIR at a directory (spool, energy counters)")
    spool = path / "spool"  # made by the spool when it first needs it; checked if already there
    for directory in (path, spool) if spool.exists() else (path,):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            probe = directory / f".write-test-{os.getpid()}"
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"{var}: cannot write to {directory} ({exc.strerror or exc}): make it writable"
                f" for uid {os.getuid()} or point STATE_DIR at another directory"
            ) from None


def check_host(settings: CommonSettings) -> None:
    """What a service needs from its host, checked before it builds anything (ConfigError)."""
    check_state_dir(Path(settings.state_dir))
    if settings.metrics_port:
        check_listen(settings.metrics_host, settings.metrics_port)


#: `device URL '<raw>': …`, the shape of every device-URL ConfigError (core/device_url.py, transports)
_DEVICE_URL_ERROR = re.compile(r"""^device URL (['"])(.+?)\1""")


def name_variable(message: str, settings: CommonSettings) -> str:
    """A device-URL error raised while a service builds its devices names the URL, not where it
    came from: prefix the variable that holds it (`INVERTER_DEVICES: device URL '…': …`)."""
    found = _DEVICE_URL_ERROR.match(message)
    if found is None:
        return message
    for name, value in settings:
        if name.endswith("_devices") and isinstance(value, str) and found.group(2) in value:
            return f"{name.upper()}: {message}"
    return message


def run_from_env(
    argv: list[str],
    *,
    prog: str,
    description: str,
    model: type[S],
    serve: Callable[[S, asyncio.Event], Awaitable[None]],
) -> int:
    """The whole `solarstack run <service>`, configured by the environment and SOLARSTACK_CONFIG:
    `--help` shows `description`; settings are loaded once and the host checked (ConfigError:
    one line, exit 2, before anything is logged); logging is set up; then
    `serve(settings, stop)` runs under `run_service`. A reader also takes `--dry-run`
    (module doc)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if any(name.endswith("_devices") for name in model.model_fields):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="poll each device once and print the topics and payloads it would publish;"
            " connect to no broker, publish nothing (exit 1 if a device does not answer)",
        )
    dry_run = bool(getattr(parser.parse_args(argv), "dry_run", False))
    try:
        settings = load(model)
        if dry_run:
            settings = settings.for_dry_run()  # no metrics port, a scratch STATE_DIR: nothing to check
        else:
            check_host(settings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(settings.log_level, settings.log_format)

    async def main(stop: asyncio.Event) -> None:
        try:
            await serve(settings, stop)
        except ConfigError as exc:
            raise ConfigError(name_variable(str(exc), settings)) from None

    return run_service(main)

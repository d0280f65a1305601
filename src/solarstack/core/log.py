"""Core layer: logging set-up for every service — plain text or JSON lines.

`setup_logging(level, fmt)` configures the root logger once at start-up (LOG_LEVEL,
LOG_FORMAT): every service through core/runtime.py, the simulators and `solarstack dev`
through `setup_logging_from(env)`, given the environment they read in their `main`.
JSON lines carry `ts` (ISO-8601 UTC), `level`, `logger`, `msg`, any `extra={...}`
fields given to the log call, and `exc` with the traceback. Libraries (protocols,
transports) only ever call `logging.getLogger(__name__)`; only an entry point calls
these. Must not read the environment itself.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from solarstack.core.errors import ConfigError

#: LogRecord attributes that are not `extra` fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: What LOG_LEVEL and LOG_FORMAT accept (the same as CommonSettings in core/settings.py).
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Replace the root logger's handlers with one writing `fmt` ("text" | "json") to stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def setup_logging_from(env: Mapping[str, str], stream: TextIO | None = None) -> None:
    """`setup_logging` for a process without a settings model (a simulator, `solarstack dev`):
    LOG_LEVEL and LOG_FORMAT from `env`, empty or unset meaning INFO and text. A value
    CommonSettings would refuse is a one-line ConfigError."""
    level = env.get("LOG_LEVEL") or "INFO"
    fmt = env.get("LOG_FORMAT") or "text"
    if level not in LEVELS:
        raise ConfigError(f"LOG_LEVEL={level!r}: choose one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ConfigError(f"LOG_FORMAT={fmt!r}: choose one of {', '.join(FORMATS)}")
    setup_logging(level, fmt, stream)

"""setup_logging: JSON lines with ts/level/logger/msg/extra/exc; text format."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from solarstack.core.errors import ConfigError
from solarstack.core.log import setup_logging, setup_logging_from


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines(restore_root: None) -> None:
    out = io.StringIO()
    setup_logging("INFO", "json", stream=out)
    log = logging.getLogger("solarstack.test")
    log.debug("hidden")
    log.info("poll %s ok", "QPIGS", extra={"device": "inv1", "seconds": 0.41})
    try:
        raise ValueError("bad frame")
    except ValueError:
        log.exception("decode failed")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["level"] == "INFO" and first["logger"] == "solarstack.test" and first["msg"] == "poll QPIGS ok"
    assert first["device"] == "inv1" and first["seconds"] == 0.41
    assert first["ts"].endswith("+00:00")
    assert second["level"] == "ERROR" and "ValueError: bad frame" in second["exc"]


def test_text_format(restore_root: None) -> None:
    out = io.StringIO()
    setup_logging("debug", "text", stream=out)
    logging.getLogger("solarstack.x").debug("hello %d", 5)
    assert out.getvalue().rstrip().endswith("DEBUG   solarstack.x: hello 5")


def test_setup_from_the_environment_of_a_process_without_settings(restore_root: None) -> None:
    """The simulators and `solarstack dev`: LOG_LEVEL / LOG_FORMAT as CommonSettings reads them."""
    out = io.StringIO()
    setup_logging_from({"LOG_LEVEL": "WARNING", "LOG_FORMAT": "json"}, stream=out)
    logging.getLogger("solarstack.sim").info("hidden")
    logging.getLogger("solarstack.sim").warning("shown")
    assert [json.loads(line)["msg"] for line in out.getvalue().splitlines()] == ["shown"]
    setup_logging_from({"LOG_LEVEL": "", "LOG_FORMAT": ""}, stream=out)  # empty = unset: INFO, text
    assert logging.getLogger().level == logging.INFO
    for env, name in (({"LOG_FORMAT": "yaml"}, "LOG_FORMAT"), ({"LOG_LEVEL": "info"}, "LOG_LEVEL")):
        with pytest.raises(ConfigError, match=f"^{name}="):
            setup_logging_from(env)

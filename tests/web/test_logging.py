"""`solarstack run web` (gunicorn gthread, here with two workers) logs through core/log.py: with
LOG_FORMAT=json every line it writes — gunicorn's master and workers, the web's own
loggers — is one JSON object, and text mode keeps the shared text format."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from web_support import DemoSite, WebServer, wait_for


def lines(server: WebServer) -> list[str]:
    return [line for line in server.log.read_text().splitlines() if line.strip()]


def test_json_log_format_gives_one_json_object_per_line(mosquitto: Any, site: DemoSite, tmp_path: Path) -> None:
    # No token and no password: the start-up warning. LOG_LEVEL=INFO: gunicorn's own lines too.
    server = WebServer(mosquitto, tmp_path, "--workers", "2", LOG_FORMAT="json", LOG_LEVEL="INFO", WEB_API_TOKEN="")
    try:
        server.wait_ready(devices=4)
        # a worker's feed logs a catalogue it cannot read
        site.client.publish("solarstack/broken/catalog", "not json", retain=True)
        wait_for(lambda: any("broken/catalog" in line for line in lines(server)), 10, what="the feed's warning")
    finally:
        assert server.stop() == 0
    entries = []
    for line in lines(server):
        entry = json.loads(line)  # fails on any line that is not one JSON object
        assert isinstance(entry, dict) and {"ts", "level", "logger", "msg"} <= set(entry), line
        entries.append(entry)
    loggers = {e["logger"] for e in entries}
    assert "gunicorn.error" in loggers  # gunicorn's own lines go through the same set-up
    assert any(e["msg"].startswith("Listening at") for e in entries)
    assert any("WEB_API_TOKEN" in e["msg"] and e["level"] == "WARNING" for e in entries)
    assert any(e["logger"] == "solarstack.services.web.feed" and "broken/catalog" in e["msg"] for e in entries)


def test_text_log_format_is_the_shared_one(mosquitto: Any, site: DemoSite, tmp_path: Path) -> None:
    server = WebServer(mosquitto, tmp_path, LOG_FORMAT="text", LOG_LEVEL="INFO")
    try:
        server.wait_ready(devices=4)
    finally:
        assert server.stop() == 0
    shared = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+\S+: ")
    assert lines(server) and all(shared.match(line) for line in lines(server)), lines(server)

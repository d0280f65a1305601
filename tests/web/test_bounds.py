"""Issue 8, item 11 (web): bodies are bounded in size (413) and nesting (400, never a 500
RecursionError), through gunicorn; a command's log line quotes its values cut short."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from web_support import TOKEN, DemoSite, WebServer, wait_for, web_settings

from solarstack.services.web.bodies import MAX_BODY_BYTES
from solarstack.services.web.main import build

AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def test_command_body_over_the_size_bound_is_413(web_server: WebServer) -> None:
    url = web_server.url + "/api/command"
    body = '{"device": "inverter", "command": "QPIRI", "pad": "' + "x" * 1_000_000 + '"}'
    resp = requests.post(url, data=body, headers=AUTH, timeout=10)
    assert resp.status_code == 413, resp.text[:200]
    assert str(MAX_BODY_BYTES) in resp.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the bound holds while reading
        yield b'{"device": "inverter", "command": "QPIRI", "pad": "'
        for _ in range(64):
            yield b"x" * 16384
        yield b'"}'

    resp = requests.post(url, data=chunks(), headers=AUTH, timeout=10)
    assert resp.status_code == 413, resp.text[:200]
    # A normal command still works.
    ok = requests.post(url, json={"device": "inverter", "command": "QMOD"}, headers=AUTH, timeout=10)
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_command_body_is_400_not_a_recursion_error(web_server: WebServer, opener: str) -> None:
    depth = (MAX_BODY_BYTES - 16) // (len(opener) + 1)  # as deep as fits under the size bound
    body = opener * depth + "1" + ("]" if opener == "[" else "}") * depth
    assert len(body) <= MAX_BODY_BYTES
    resp = requests.post(web_server.url + "/api/command", data=body, headers=AUTH, timeout=10)
    assert resp.status_code == 400, resp.text[:200]
    assert "deeper" in resp.json()["error"]
    # Nesting inside a string is just text: a shallow body with brackets in a value is fine.
    text = {"device": "inverter", "setting": "output_source_priority", "value": "[[[[{{{{" * 50}
    resp = requests.post(web_server.url + "/api/command", json=text, headers=AUTH, timeout=10)
    assert resp.status_code == 400 and "is not one of" in resp.json()["error"]
    assert len(resp.json()["error"]) < 200  # the refusal does not echo the whole value


@pytest.fixture
def app_client(mosquitto: Any, site: DemoSite) -> Iterator[Any]:
    running = build(web_settings(mosquitto))
    client = running.app.test_client()
    wait_for(lambda: client.get("/api/data").get_json()["devices"].get("inverter", {}).get("settings"), 10)
    yield client
    running.shutdown()


def test_command_log_line_quotes_values_cut_short(app_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    huge = "A" * 6000
    for body in (
        {"device": "inverter", "setting": "output_source_priority", "value": huge},
        {"device": "inverter", "command": huge},
        {"device": huge, "command": "QPIRI"},
    ):
        resp = app_client.post("/api/command", json=body, headers=AUTH)
        assert resp.status_code in (400, 404), resp.get_json()
        assert len(resp.get_data()) < 300  # nor does the answer echo it
    lines = [r.getMessage() for r in caplog.records if "command from" in r.getMessage()]
    assert len(lines) == 3
    assert all(len(line) < 300 and "A" * 100 not in line for line in lines), [len(x) for x in lines]
    assert all("6000 characters" in line for line in lines)

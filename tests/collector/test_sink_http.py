"""The two write paths as a server sees them: one POST each, to the path, query and headers
InfluxDB documents (v2: /api/v2/write with org, bucket, precision=ns and `Authorization: Token`;
v1: /write with db, precision=ns and basic auth), the body as given; and what each answer means
for the points (retry or give up), through a real HTTP server on loopback."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from solarstack.services.collector.settings import CollectorSettings
from solarstack.services.collector.sink import SinkError, V1Sink, V2Sink, open_sink

BODY = b"inverter,device=inv pv_input_power=512 1767225600000000000"


class Recorded:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, list[str]], dict[str, str], bytes]] = []
        self.status = 204
        self.answer = b""


@pytest.fixture
def server() -> Iterator[tuple[str, Recorded]]:
    seen = Recorded()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            url = urlsplit(self.path)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}  # names are case-insensitive
            seen.requests.append((self.command, url.path, parse_qs(url.query), headers, body))
            self.send_response(seen.status)
            self.send_header("Content-Length", str(len(seen.answer)))
            self.end_headers()
            self.wfile.write(seen.answer)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_v2_posts_to_the_bucket_of_the_org_with_the_token(server: tuple[str, Recorded]) -> None:
    url, seen = server
    settings = CollectorSettings(influx_url=url, influx_token="s3cret", influx_org="home", influx_bucket="solar")
    sink = open_sink(settings)
    assert isinstance(sink, V2Sink)
    sink.write(BODY)
    sink.close()
    ((method, path, query, headers, body),) = seen.requests
    assert (method, path, body) == ("POST", "/api/v2/write", BODY)
    assert query == {"org": ["home"], "bucket": ["solar"], "precision": ["ns"]}
    assert headers["authorization"] == "Token s3cret"
    assert headers["content-type"].startswith("text/plain")


def test_v1_posts_to_the_database_with_basic_auth(server: tuple[str, Recorded]) -> None:
    url, seen = server
    settings = CollectorSettings(
        influx_url=url, influx_api="v1", influx_database="solar", influx_username="me", influx_password="pw"
    )
    sink = open_sink(settings)
    assert isinstance(sink, V1Sink)
    sink.write(BODY)
    ((method, path, query, headers, body),) = seen.requests
    assert (method, path, body) == ("POST", "/write", BODY)
    assert query == {"db": ["solar"], "precision": ["ns"]}
    assert headers["authorization"] == "Basic " + base64.b64encode(b"me:pw").decode()
    assert "Authorization" not in V2Sink(CollectorSettings(influx_url=url))._headers  # no token: no header


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [(401, "auth", True), (404, "not_found", True), (503, "server", True), (400, "rejected", False)],
)
def test_an_answer_says_whether_the_points_may_be_sent_again(
    server: tuple[str, Recorded], status: int, kind: str, retryable: bool
) -> None:
    url, seen = server
    seen.status, seen.answer = status, b'{"code":"x","message":"partial write: field type conflict"}'
    with pytest.raises(SinkError) as err:
        V2Sink(CollectorSettings(influx_url=url, influx_token="t")).write(BODY)
    assert (err.value.kind, err.value.retryable) == (kind, retryable)
    assert f"HTTP {status}" in str(err.value)


def test_no_server_is_a_connection_error_to_retry() -> None:
    with pytest.raises(SinkError) as err:
        V2Sink(CollectorSettings(influx_url="http://127.0.0.1:1", influx_token="t")).write(BODY)
    assert (err.value.kind, err.value.retryable) == ("connection", True)

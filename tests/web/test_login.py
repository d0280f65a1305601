"""Issue 8, items 9 and 14: after a login only a local path is followed; the login limiter is
shared by every gunicorn worker, keyed by account as well as address, and cannot be flushed.

The limiter tests run `solarstack run web` (gunicorn, two workers) and come from many source
addresses: all of 127.0.0.0/8 reaches the loopback listener, so a client socket bound to
127.0.0.N is seen by the server as address 127.0.0.N.
"""

from __future__ import annotations

import http.client
import re
from pathlib import Path
from typing import Any

import pytest
from web_support import DemoSite, WebServer, web_settings

from solarstack.services.web.logins import LoginLimiter, Rate
from solarstack.services.web.main import build

# `next=` values as an attacker sends them (already percent-encoded where shown).
HOSTILE_NEXT = [
    "/%09/evil.example/",  # the reported one: browsers drop the tab -> //evil.example/
    "/%0a/evil.example/",
    "/%0d%0a/evil.example/",
    "%09//evil.example/",
    "%20//evil.example/",
    "//evil.example/",
    "///evil.example/",
    "/%5Cevil.example/",  # a backslash reads as a slash
    "%5C%5Cevil.example/",
    "/%2F/evil.example/",  # //evil.example once a proxy decodes it
    "/%252F%252Fevil.example/",
    "https://evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/%00/evil.example/",
    "/%7F/evil.example/",
]


def test_login_redirects_only_to_a_local_path(mosquitto: Any, site: DemoSite) -> None:
    running = build(web_settings(mosquitto, WEB_PASSWORD="pw", WEB_LOGIN_RATE="1000", WEB_LOGIN_ACCOUNT_RATE="3000"))
    try:
        client = running.app.test_client()
        followed = {}
        for raw in [*HOSTILE_NEXT, "/charts?hours=6", "/settings/lcars"]:
            # A login starts a new session, with a new CSRF token.
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
            assert csrf
            resp = client.post(f"/login?next={raw}", data={"password": "pw", "csrf_token": csrf.group(1)})
            assert resp.status_code == 302, (raw, resp.status_code)
            followed[raw] = resp.headers["Location"]
        escaped = {raw: where for raw, where in followed.items() if raw in HOSTILE_NEXT and where != "/"}
        assert not escaped, f"redirected off the site: {escaped}"
        assert followed["/charts?hours=6"] == "/charts?hours=6"
        assert followed["/settings/lcars"] == "/settings/lcars"
    finally:
        running.shutdown()


class Browser:
    """A login form client on one source address, a fresh connection per request (so both
    workers' accept loops take turns)."""

    def __init__(self, url: str, source: str) -> None:
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        self.source = source
        page, headers = self._request("GET", "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, page
        self.csrf = token.group(1)
        self.cookie = headers["Set-Cookie"].split(";", 1)[0]

    def _request(self, method: str, path: str, body: str | None = None) -> tuple[str, dict[str, str]]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10, source_address=(self.source, 0))
        headers = {"Connection": "close"}
        if body is not None:
            headers |= {"Content-Type": "application/x-www-form-urlencoded", "Cookie": self.cookie}
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            self.status = resp.status
            return resp.read().decode(errors="replace"), dict(resp.getheaders())
        finally:
            conn.close()

    def attempt(self, password: str) -> int:
        self._request("POST", "/login", f"password={password}&csrf_token={self.csrf}")
        return self.status


@pytest.fixture
def two_workers(mosquitto: Any, site: DemoSite, tmp_path: Path) -> Any:
    server = WebServer(mosquitto, tmp_path, "--workers", "2", WEB_PASSWORD="right-one")
    server.wait_ready(devices=4)
    yield server
    server.stop()


def test_login_limit_per_address_is_shared_by_all_workers(two_workers: WebServer) -> None:
    browser = Browser(two_workers.url, "127.0.0.2")
    statuses = [browser.attempt("wrong") for _ in range(12)]
    # WEB_LOGIN_RATE=5: five tries from one address whichever worker takes them, then 429.
    assert statuses.count(401) == 5, statuses
    assert statuses[5:] == [429] * 7, statuses


def test_login_limit_per_account_holds_against_many_addresses(two_workers: WebServer) -> None:
    # One wrong guess from each of 60 addresses: WEB_LOGIN_ACCOUNT_RATE=30/h lets ten through
    # (its burst), whatever the number of addresses.
    statuses = [Browser(two_workers.url, f"127.0.1.{n}").attempt("wrong") for n in range(1, 61)]
    assert statuses.count(401) == 10, statuses
    assert statuses.count(429) == 50, statuses
    # Still held for a new address, even with the right password: guesses stay bounded.
    assert Browser(two_workers.url, "127.0.2.1").attempt("right-one") == 429


def test_login_limiter_stays_small_and_keeps_the_account_under_an_address_flood(tmp_path: Path) -> None:
    now = [1_000_000.0]
    limiter = LoginLimiter(tmp_path / "l.sqlite3", Rate(5, 5 / 60), Rate(10, 30 / 3600), clock=lambda: now[0])
    try:
        allowed = 0
        for n in range(20_000):  # 20,000 addresses over ~5.5 hours
            now[0] += 1.0
            allowed += limiter.allow(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", "admin")
        # The account's rate bounds the guesses: 10 at once, then 30 an hour.
        assert allowed <= 10 + 30 * 20_000 / 3600 + 1, allowed
        # Only addresses let through within the last minute are kept, plus the account.
        assert limiter.rows() <= 5 + 1, limiter.rows()
    finally:
        limiter.close()

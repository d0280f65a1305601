"""Service layer (web): who may do what — bearer token, login session, CSRF, rate limits, headers.

Reading is open on the LAN unless WEB_LOGIN_REQUIRED; every command needs the bearer
token (WEB_API_TOKEN) or a login session (WEB_PASSWORD). Login attempts go through the
limiter all workers share (logins.py); after a login only a local path is followed
(`local_path`). A session-authenticated request
that changes something must also carry the session's CSRF token (form field or
`X-CSRF-Token` header); a bearer token is not a cookie, so it needs none. Secrets are
compared in constant time. This module must not publish commands or read the store.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from solarstack.services.web.logins import LoginLimiter
from solarstack.services.web.settings import WebSettings

SESSION_USER = "user"
#: The one account (WEB_PASSWORD): the login limiter's per-account key.
ACCOUNT = "admin"
SESSION_CSRF = "csrf"


class RateLimiter:
    """A token bucket per client key: `per_minute` sustained, bursts up to `burst`."""

    def __init__(self, per_minute: int, burst: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst if burst is not None else max(1, per_minute // 2))
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)

    def allow(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if len(self._buckets) > 10000:  # bound memory against address spraying
                self._buckets.clear()
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            return True


@dataclass
class Guard:
    """The app's access policy, built from WebSettings."""

    api_token: str | None
    password: str | None
    login_required: bool
    commands: RateLimiter
    logins: LoginLimiter | None  # None: no login page (no WEB_PASSWORD)

    @classmethod
    def from_settings(cls, settings: WebSettings) -> Guard:
        logins = None
        if settings.web_password is not None:
            logins = LoginLimiter.per_minute_and_hour(
                settings.state_dir, settings.web_login_rate, settings.web_login_account_rate
            )
        return cls(
            api_token=settings.web_api_token.get_secret_value() if settings.web_api_token else None,
            password=settings.web_password.get_secret_value() if settings.web_password else None,
            login_required=settings.web_login_required and settings.web_password is not None,
            commands=RateLimiter(settings.web_command_rate),
            logins=logins,
        )

    def bearer_ok(self) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token or self.api_token is None:
            return False
        return hmac.compare_digest(token.strip().encode(), self.api_token.encode())

    @staticmethod
    def session_ok() -> bool:
        return bool(session.get(SESSION_USER))

    def may_read(self) -> bool:
        return not self.login_required or self.session_ok() or self.bearer_ok()

    def csrf_ok(self) -> bool:
        expected = session.get(SESSION_CSRF)
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
        return bool(expected) and hmac.compare_digest(str(sent).encode(), str(expected).encode())

    def command_denial(self) -> tuple[Response, int] | None:
        """None when the current request may run a command, else the error response."""
        if not self.commands.allow(client_key()):
            return jsonify(error="too many commands; wait a moment"), 429
        if self.bearer_ok():
            return None
        if self.session_ok():
            if self.csrf_ok():
                return None
            return jsonify(error="missing or wrong CSRF token"), 403
        return jsonify(error="a bearer token (WEB_API_TOKEN) or a login is needed for commands"), 401


def local_path(target: str | None) -> str:
    """`target` if it is a path on this site, else "/": never an open redirect.

    Browsers drop tabs and newlines from a URL and read a backslash as a slash, so
    "/<TAB>/evil.example" and "/\\evil.example" both mean "//evil.example" (another host).
    The value is checked as given and once more decoded (a "%2F%2F" a proxy might decode).
    """
    if not target or len(target) > 2048:
        return "/"
    for form in (target, unquote(target)):
        if any(ord(c) < 0x21 or ord(c) == 0x7F or c == "\\" for c in form):
            return "/"  # controls, whitespace, backslashes: none belongs in a local path we link to
        parts = urlsplit(form)
        if not form.startswith("/") or form.startswith("//") or parts.scheme or parts.netloc:
            return "/"
    return target


def client_key() -> str:
    return request.remote_addr or "unknown"


def guard() -> Guard:
    g: Guard = current_app.extensions["solarstack_guard"]
    return g


def csrf_token() -> str:
    """The session's CSRF token (created on first use), for forms and the console's fetch calls."""
    token = session.get(SESSION_CSRF)
    if not token:
        token = session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return str(token)


_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


SECURITY_HEADERS = (
    ("Content-Security-Policy", _CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


def security_headers(response: Response) -> Response:
    # No handler sets these, so append rather than setdefault: werkzeug's case-insensitive
    # lookups were the largest single cost of a /api/data request.
    for name, value in SECURITY_HEADERS:
        response.headers.add(name, value)
    return response


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signer built once per app instead of per request."""

    def __init__(self) -> None:
        self._serializers: dict[int, URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        key = id(app)
        if key not in self._serializers:
            self._serializers[key] = super().get_signing_serializer(app)
        return self._serializers[key]


def install(app: Flask, settings: WebSettings) -> None:
    """Attach the policy, the read gate, the headers and the login pages to `app`."""
    key = settings.web_secret_key.get_secret_value() if settings.web_secret_key else secrets.token_hex(32)
    app.config.update(
        SECRET_KEY=key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
    )
    app.session_interface = SessionCookies()
    app.extensions["solarstack_guard"] = Guard.from_settings(settings)
    app.after_request(security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.before_request
    def read_gate() -> Any:
        if request.endpoint in (None, "static", "auth.login", "auth.logout", "ops.health", "ops.ready"):
            return None
        if guard().may_read():
            return None
        if request.path.startswith("/api/"):
            return jsonify(error="login required"), 401
        return redirect(url_for("auth.login", next=request.path))

    app.register_blueprint(login_pages)


login_pages = Blueprint("auth", __name__)


@login_pages.route("/login", methods=["GET", "POST"])
def login() -> Any:
    g = guard()
    error = None
    if g.password is None or g.logins is None:
        error = "Login is not configured (set WEB_PASSWORD); commands need the API token."
    elif request.method == "POST":
        if not g.logins.allow(client_key(), ACCOUNT):
            return render_template("login.html", error="Too many attempts; wait a minute."), 429
        if not g.csrf_ok():
            return render_template("login.html", error="The form expired; try again."), 403
        sent = request.form.get("password", "")
        if hmac.compare_digest(sent.encode(), g.password.encode()):
            session.clear()
            session[SESSION_USER] = ACCOUNT
            csrf_token()
            return redirect(local_path(request.args.get("next")))
        error = "Wrong password."
    return render_template("login.html", error=error), 200 if error is None or request.method == "GET" else 401


@login_pages.route("/logout", methods=["POST"])
def logout() -> Any:
    if not guard().csrf_ok():
        return jsonify(error="missing or wrong CSRF token"), 403
    session.clear()
    return redirect("/")

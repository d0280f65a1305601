"""Service layer (web): the HTML pages, each in the standard (Bootstrap) and the LCARS theme.

`/`, `/charts`, `/energy`, `/house`, `/battery`, `/settings`; the LCARS twin of each is the same path
with `/lcars` appended (`/lcars` for the dashboard). Pages are shells: the browser fills
them from the `/api/stream` snapshot and keeps them live from its events, so the server
renders no device data here. This module must not read the store or MQTT.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

pages = Blueprint("pages", __name__)

#: page id -> (path, title). The LCARS path is the standard one + "/lcars".
PAGES: dict[str, tuple[str, str]] = {
    "dashboard": ("/", "Dashboard"),
    "charts": ("/charts", "Charts"),
    "energy": ("/energy", "Energy"),
    "battery": ("/battery", "Battery"),
    "house": ("/house", "House"),
    "settings": ("/settings", "Settings"),
}


def lcars_path(path: str) -> str:
    return "/lcars" if path == "/" else f"{path}/lcars"


def _register(page: str, path: str, title: str) -> None:
    def standard() -> str:
        return render_template(f"standard/{page}.html", page=page, title=title, pages=PAGES, lcars_path=lcars_path)

    def lcars() -> str:
        return render_template(f"lcars/{page}.html", page=page, title=title, pages=PAGES, lcars_path=lcars_path)

    pages.add_url_rule(path, f"{page}", standard)
    pages.add_url_rule(lcars_path(path), f"{page}_lcars", lcars)


for _page, (_path, _title) in PAGES.items():
    _register(_page, _path, _title)


@pages.get("/favicon.ico")
def favicon() -> Response:
    # Browsers ask for /favicon.ico whatever the page links; answer with the SVG icon.
    return redirect(url_for("static", filename="favicon.svg"), code=301)

"""Service layer (web): the JSON/CSV/SSE API blueprint (DESIGN.md "Web contract").

`/api/data` latest state of every device, described by its catalogue; `/api/historical` and
`/api/export.csv` history (`hours=all`: everything the source keeps); `/api/energy` and
`/api/energy.csv` energy per flow by day or month (energy.py); `/api/house` indoor
sensors and weather (by the catalogue's device kind); `/api/command` allow-listed queries and
settings and `/api/refresh` "poll now" (auth and one rate limit for both; a bounded JSON body,
see bodies.py; values cut short in logs); `/api/stream`
Server-Sent Events, one bounded queue per client (how many may be open: streams.py).
Every input is validated and a bad one answers 400 with `{error}`. Handlers reach the store, history and
command desk through `current_app.extensions`, never module globals. This module must not
render HTML or talk to MQTT directly.
"""

from __future__ import annotations

import csv
import io
import math
import queue
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context
from werkzeug.exceptions import RequestEntityTooLarge

from solarstack.core.catalog import FieldInfo
from solarstack.core.command import shown
from solarstack.services.web.auth import guard
from solarstack.services.web.bodies import MAX_BODY_BYTES, BodyRefused, json_body
from solarstack.services.web.control import CommandRefused, Commands
from solarstack.services.web.energy import PERIODS, EnergyTable, EnergyTotals, EnergyUnavailable, Period
from solarstack.services.web.history import History, HistoryResult
from solarstack.services.web.openapi import build_spec
from solarstack.services.web.store import StateStore

api = Blueprint("api", __name__, url_prefix="/api")

MAX_HOURS = 24 * 90


class BadRequest(Exception):
    """Malformed input: answered 400 with `{error}`."""

    status = 400


class NotFound(BadRequest):
    """Well-formed input naming a device or field that does not exist: 404."""

    status = 404


class Unavailable(BadRequest):
    """The history source behind an answer did not answer: 502."""

    status = 502


def _store() -> StateStore:
    store: StateStore = current_app.extensions["solarstack_store"]
    return store


def _history() -> History:
    history: History = current_app.extensions["solarstack_history"]
    return history


def _commands() -> Commands:
    commands: Commands = current_app.extensions["solarstack_commands"]
    return commands


@api.errorhandler(BadRequest)
def _bad_request(exc: BadRequest) -> tuple[Response, int]:
    return jsonify(error=str(exc)), exc.status


@api.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge) -> tuple[Response, int]:
    return jsonify(error=f"the body is larger than {MAX_BODY_BYTES} bytes"), 413


@api.get("/data")
def data() -> Response:
    return Response(_store().snapshot_json(), mimetype="application/json", headers={"Cache-Control": "no-store"})


def _time_arg(name: str) -> float | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"{name}: expected unix seconds or an ISO-8601 time, got {raw!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        value = parsed.timestamp()
    if not math.isfinite(value) or not 0 <= value < 1e11:
        raise BadRequest(f"{name}: {raw!r} is out of range")
    return value


def _range(device: str) -> tuple[float, float]:
    """The requested window: `start`/`end` (custom, zoom), the last `hours` (default 24), or
    `hours=all`: from the oldest moment the history source keeps (no MAX_HOURS cap)."""
    raw_hours = request.args.get("hours", "24")
    end = _time_arg("end") or time.time()
    if raw_hours == "all":
        earliest = _history().earliest(device)
        return min(earliest if earliest is not None else end, end), end
    try:
        hours = float(raw_hours)
    except ValueError:
        raise BadRequest(f"hours: {raw_hours!r} is neither a number nor 'all'") from None
    if not math.isfinite(hours) or not 0 < hours <= MAX_HOURS:
        raise BadRequest(f"hours: must be more than 0 and at most {MAX_HOURS}, or 'all'")
    start = _time_arg("start") or end - hours * 3600
    # An empty or reversed window simply holds no points; a too-long one is cut to the limit.
    start = min(max(start, end - MAX_HOURS * 3600), end)
    return start, end


def _history_query() -> tuple[str, HistoryResult, dict[str, str | None]]:
    store = _store()
    devices = store.devices()
    device = request.args.get("device") or (devices[0] if devices else "")
    if device not in devices:
        raise NotFound(f"device: unknown device {device!r}; known: {', '.join(devices) or 'none yet'}")
    start, end = _range(device)
    state = store.state(device) or {}
    catalog = store.catalog(device)
    known = catalog.fields if catalog else {}
    wanted = request.args.get("fields")
    if wanted:
        fields = [f.strip() for f in wanted.split(",") if f.strip()]
        unknown = [f for f in fields if f not in state and f not in known]
        if unknown:
            raise NotFound(f"fields: {device} has no field {', '.join(unknown)}")
    else:
        fields = [k for k, v in state.items() if isinstance(v, int | float) and not isinstance(v, bool)]
    infos: dict[str, FieldInfo | None] = {f: known.get(f) for f in fields}
    result = _history().query(device, infos, start, end)
    return device, result, {name: _unit(name, infos) for name in result.series}


def _unit(series: str, infos: dict[str, FieldInfo | None]) -> str | None:
    """A series' unit: its field's, or for an array element (`cell_voltages_01`) the array's."""
    info = infos.get(series)
    if info is None:
        base = series.rpartition("_")[0]
        info = infos.get(base)
    return info.unit if info is not None else None


@api.get("/historical")
def historical() -> Response:
    device, result, units = _history_query()
    return jsonify(
        device=device,
        start=result.start,
        end=result.end,
        step=result.step,
        source=result.source,
        units=units,
        series={k: [[t, v] for t, v in points] for k, points in result.series.items()},
    )


@api.get("/export.csv")
def export_csv() -> Response:
    device, result, units = _history_query()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time", "device", "field", "unit", "value"])
    for name, points in result.series.items():
        for t, v in points:
            stamp = datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
            writer.writerow([stamp, device, name, units.get(name) or "", v])
    filename = f"solarstack-{device}-{int(result.start)}-{int(result.end)}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _energy_table() -> EnergyTable:
    raw = request.args.get("period", "days")
    if raw not in PERIODS:
        raise BadRequest(f"period: expected one of {', '.join(PERIODS)}, got {raw!r}")
    period: Period = "days" if raw == "days" else "months"
    store = _store()
    catalogs = {d: c for d in store.devices() if (c := store.catalog(d)) is not None}
    totals: EnergyTotals = current_app.extensions["solarstack_energy"]
    try:
        return totals.table(period, catalogs)
    except EnergyUnavailable as exc:
        raise Unavailable(str(exc)) from None


def _local(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


@api.get("/energy")
def energy() -> Response:
    table = _energy_table()
    return jsonify(
        period=table.period,
        timezone=table.timezone,
        unit="kWh",
        source=table.source,
        flows=list(table.counters),
        counters=table.counters,
        totals=table.totals(),
        rows=[
            {
                "label": r.window.label,
                "start": _local(r.window.start),
                "end": _local(r.window.end),
                "energy": r.energy,
                "by_device": r.by_device,
            }
            for r in table.rows
        ],
    )


@api.get("/energy.csv")
def energy_csv() -> Response:
    table = _energy_table()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["period", "start", "end", *(f"{flow}_kwh" for flow in table.counters)])
    for r in table.rows:
        figures = ("" if r.energy[f] is None else r.energy[f] for f in table.counters)
        writer.writerow([r.window.label, _local(r.window.start), _local(r.window.end), *figures])
    filename = f"solarstack-energy-{table.period}-{table.rows[-1].window.label}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@api.get("/house")
def house() -> Response:
    """Indoor sensors and weather, told apart by the device kind their catalogue states."""
    snap = _store().snapshot()["devices"]
    indoor = {name: dev for name, dev in snap.items() if dev["kind"] == "house"}
    weather = {name: dev for name, dev in snap.items() if dev["kind"] == "weather"}
    return jsonify(indoor=indoor, weather=weather)


@api.post("/command")
def command() -> tuple[Response, int]:
    denial = guard().command_denial()
    if denial is not None:
        return denial
    try:
        body = json_body(request)
    except BodyRefused as exc:
        raise BadRequest(str(exc)) from None
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object {device, command} or {device, setting, value}")
    device = body.get("device")
    if not isinstance(device, str) or not device:
        raise BadRequest("device: a device id is needed")
    has_command = "command" in body
    has_setting = "setting" in body
    if has_command == has_setting:
        raise BadRequest("give either command (a query) or setting and value")
    # Values cut short: a log line must not carry a whole hostile body.
    logged = {k: shown(str(body[k])) for k in ("device", "command", "setting", "value") if k in body}
    current_app.logger.info("command from %s: %s", request.remote_addr, logged)
    try:
        if has_command:
            if not isinstance(body["command"], str):
                raise BadRequest("command: a string is needed")
            result = _commands().run_query(device, body["command"])
        else:
            setting, value = body.get("setting"), body.get("value")
            if not isinstance(setting, str) or not setting:
                raise BadRequest("setting: a setting name is needed")
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise BadRequest("value: a string or a number is needed")
            result = _commands().change_setting(device, setting, value)
    except CommandRefused as exc:
        return jsonify(error=str(exc)), exc.status
    return jsonify(device=device, result=result), 200


@api.post("/refresh")
def refresh() -> tuple[Response, int]:
    """Ask one device (`{"device": id}`) or every device (`{}`) to poll now; waits (bounded)
    for each reader's `refresh/result`."""
    denial = guard().command_denial()
    if denial is not None:
        return denial
    try:
        body = json_body(request) if request.get_data() else {}
    except BodyRefused as exc:
        raise BadRequest(str(exc)) from None
    if not isinstance(body, dict) or set(body) - {"device"}:
        raise BadRequest('expected a JSON object {"device": "<id>"}, or {} for every device')
    device = body.get("device")
    if device is not None and (not isinstance(device, str) or not device):
        raise BadRequest("device: a device id is needed (or leave it out for every device)")
    current_app.logger.info("refresh from %s: %s", request.remote_addr, shown(device or "every device"))
    try:
        results, missing = _commands().refresh(device)
    except CommandRefused as exc:
        return jsonify(error=str(exc)), exc.status
    if not results:
        return jsonify(error=f"no refresh result within the timeout from {', '.join(missing)}", missing=missing), 504
    return jsonify(results=results, missing=missing), 200


@api.get("/stream")
def stream() -> Response:
    store = _store()
    heartbeat: float = current_app.config["SOLARSTACK_SSE_HEARTBEAT"]

    def events() -> Iterator[str]:
        with store.listen() as q:
            # The snapshot first, so a page needs no separate fetch and misses nothing in between.
            yield "retry: 3000\nevent: snapshot\ndata: " + store.snapshot_json().decode() + "\n\n"
            while not store.closed:
                try:
                    yield q.get(timeout=heartbeat)
                except queue.Empty:
                    # A comment line: keeps proxies from timing out and finds dead clients
                    # (the write fails and the generator is closed, removing the queue).
                    yield ": keep-alive\n\n"

    return Response(
        stream_with_context(events()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@api.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_spec())

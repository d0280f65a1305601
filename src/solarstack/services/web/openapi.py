"""Service layer (web): the OpenAPI 3.0 description of the API, served at /api/openapi.json.

Built as data so tests (schemathesis) can check every response against it. This module
must not import Flask or touch the store: it only describes.
"""

from __future__ import annotations

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref("Error"), "refused; `error` says why")

_RANGE_PARAMS: list[dict[str, Any]] = [
    {
        "name": "hours",
        "in": "query",
        "description": "window ending now (or at `end`), hours; `all` = the whole retained history",
        "schema": {
            "oneOf": [
                {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 2160},
                {"type": "string", "enum": ["all"]},
            ],
            "default": 24,
        },
    },
    {
        "name": "start",
        "in": "query",
        "description": "custom window start, unix seconds (ISO-8601 also accepted)",
        "schema": {"type": "number", "minimum": 0, "maximum": 99999999999},
    },
    {
        "name": "end",
        "in": "query",
        "description": "custom window end, unix seconds (ISO-8601 also accepted; default now)",
        "schema": {"type": "number", "minimum": 0, "maximum": 99999999999},
    },
    {
        "name": "device",
        "in": "query",
        "description": "device id (default: the first one)",
        "schema": {"type": "string"},
    },
    {
        "name": "fields",
        "in": "query",
        "description": "comma-separated field keys (default: every numeric field)",
        "schema": {"type": "string"},
    },
]

_ENERGY_PARAMS: list[dict[str, Any]] = [
    {
        "name": "period",
        "in": "query",
        "description": "`days`: the last 30 local days; `months`: the last 12 local months",
        "schema": {"type": "string", "enum": ["days", "months"], "default": "days"},
    }
]

_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Field": {
        "type": "object",
        "description": "one field, from the device's catalogue (docs/catalog.md)",
        "properties": {
            "name": {"type": "string", "description": "the title"},
            "unit": {"type": "string", "nullable": True},
            "device_class": {"type": "string", "nullable": True},
            "kind": {"type": "string", "enum": ["float", "int", "text", "enum", "bool", "array"]},
            "precision": {"type": "integer", "nullable": True, "description": "decimals worth showing"},
            "diagnostic": {"type": "boolean"},
            "role": {"type": "string", "nullable": True, "description": "what it means (core.catalog.ROLES)"},
            "group": {"type": "string", "nullable": True, "description": "where it belongs (core.catalog.GROUPS)"},
            "size": {"type": "integer", "nullable": True, "description": "an array's length"},
            "options": {"type": "array", "items": {"type": "string"}, "nullable": True},
        },
    },
    "Setting": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "component": {"type": "string", "enum": ["select", "number"]},
            "options": {"type": "array", "items": {"type": "string"}},
            "min": {"type": "number", "nullable": True},
            "max": {"type": "number", "nullable": True},
            "step": {"type": "number", "nullable": True},
            "unit": {"type": "string", "nullable": True},
            "state_key": {"type": "string", "nullable": True},
        },
    },
    "Device": {
        "type": "object",
        "required": ["name", "availability", "stale", "state", "fields", "settings"],
        "properties": {
            "name": {"type": "string"},
            "kind": {"type": "string", "nullable": True, "description": "core.catalog.DEVICE_KINDS"},
            "protocol": {"type": "string", "nullable": True},
            "manufacturer": {"type": "string", "nullable": True},
            "model": {"type": "string"},
            "via_device": {
                "type": "string",
                "nullable": True,
                "description": "the system this device is a unit of (parallel inverters)",
            },
            "units": {"type": "array", "items": {"type": "string"}, "description": "a system's unit device ids"},
            "totals": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "a system's total fields -> the unit field each sums",
            },
            "availability": {
                "type": "string",
                "description": "online, offline or unknown; a unit is offline while its system is",
            },
            "age_s": {"type": "number", "nullable": True, "description": "seconds since the last state"},
            "stale": {"type": "boolean"},
            "state": {"type": "object", "description": "the last state: ts + one key per field"},
            "fields": {"type": "object", "additionalProperties": _ref("Field")},
            "settings": {"type": "object", "additionalProperties": _ref("Setting")},
            "queries": {"type": "array", "items": {"type": "string"}, "description": "allow-listed read-only queries"},
        },
    },
    "Data": {
        "type": "object",
        "required": ["devices", "version"],
        "properties": {
            "devices": {"type": "object", "additionalProperties": _ref("Device")},
            "version": {"type": "integer"},
        },
    },
    "History": {
        "type": "object",
        "required": ["device", "start", "end", "step", "source", "series"],
        "properties": {
            "device": {"type": "string"},
            "start": {"type": "number"},
            "end": {"type": "number"},
            "step": {"type": "integer", "description": "seconds per point"},
            "source": {"type": "string", "enum": ["prometheus", "memory"]},
            "units": {"type": "object", "additionalProperties": {"type": "string", "nullable": True}},
            "series": {
                "type": "object",
                "additionalProperties": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                },
            },
        },
    },
    "Energy": {
        "type": "object",
        "description": "energy per flow (kWh) per local day or month; the last row is today or this month so far",
        "required": ["period", "timezone", "unit", "source", "flows", "counters", "totals", "rows"],
        "properties": {
            "period": {"type": "string", "enum": ["days", "months"]},
            "timezone": {"type": "string", "description": "the zone days and months are counted in (TZ)"},
            "unit": {"type": "string", "enum": ["kWh"]},
            "source": {"type": "string", "enum": ["prometheus", "none"], "description": "none: no PROMETHEUS_URL"},
            "flows": {"type": "array", "items": {"type": "string"}},
            "counters": {
                "type": "object",
                "description": "flow -> the devices whose counters are summed",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
            "totals": {"type": "object", "additionalProperties": {"type": "number", "nullable": True}},
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["label", "start", "end", "energy", "by_device"],
                    "properties": {
                        "label": {"type": "string", "example": "2026-04-10"},
                        "start": {"type": "string", "description": "local ISO-8601 time, with its offset"},
                        "end": {"type": "string"},
                        "energy": {
                            "type": "object",
                            "description": "flow -> kWh; null: no counter of the flow had data",
                            "additionalProperties": {"type": "number", "nullable": True},
                        },
                        "by_device": {
                            "type": "object",
                            "description": "flow -> device -> kWh",
                            "additionalProperties": {"type": "object", "additionalProperties": {"type": "number"}},
                        },
                    },
                },
            },
        },
    },
    "House": {
        "type": "object",
        "required": ["indoor", "weather"],
        "properties": {
            "indoor": {"type": "object", "additionalProperties": _ref("Device")},
            "weather": {"type": "object", "additionalProperties": _ref("Device")},
        },
    },
    "CommandRequest": {
        "type": "object",
        "required": ["device"],
        "description": "{device, command} runs a query; {device, setting, value} changes a setting",
        "properties": {
            "device": {"type": "string"},
            "command": {"type": "string", "example": "QPIRI"},
            "setting": {"type": "string", "example": "output_source_priority"},
            "value": {"oneOf": [{"type": "string"}, {"type": "number"}], "example": "SBU"},
        },
    },
    "RefreshRequest": {
        "type": "object",
        "description": "{device} polls one device now; {} (or no body) every device",
        "properties": {"device": {"type": "string"}},
        "additionalProperties": False,
    },
    "RefreshResult": {
        "type": "object",
        "required": ["results", "missing"],
        "properties": {
            "results": {
                "type": "object",
                "description": "device -> its reader's refresh/result",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "ok": {"type": "boolean"},
                        "polled": {"type": "array", "items": {"type": "string"}},
                        "error": {"type": "string", "nullable": True},
                    },
                },
            },
            "missing": {
                "type": "array",
                "items": {"type": "string"},
                "description": "devices asked that did not answer within WEB_COMMAND_TIMEOUT",
            },
        },
    },
    "CommandResult": {
        "type": "object",
        "required": ["device", "result"],
        "properties": {
            "device": {"type": "string"},
            "result": {
                "type": "object",
                "description": "the reader's read-back: {ok, value|fields, error}",
                "properties": {"ok": {"type": "boolean"}},
            },
        },
    },
}


def build_spec() -> dict[str, Any]:
    """The whole OpenAPI document (a fresh dict each call; callers may not share it)."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "solarstack web API",
            "version": "1",
            "description": "Live state, history and allow-listed commands of a solarstack installation.",
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "WEB_API_TOKEN"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
        "paths": {
            "/api/data": {
                "get": {
                    "summary": "latest state of every device, described by its catalogue (labels, roles, settings)",
                    "responses": {"200": _json(_ref("Data"), "every device"), "401": _ERROR},
                }
            },
            "/api/historical": {
                "get": {
                    "summary": "history of numeric fields (Prometheus, or in memory)",
                    "parameters": _RANGE_PARAMS,
                    "responses": {"200": _json(_ref("History"), "series"), "400": _ERROR, "401": _ERROR, "404": _ERROR},
                }
            },
            "/api/export.csv": {
                "get": {
                    "summary": "history as CSV: time, device, field, unit, value",
                    "parameters": _RANGE_PARAMS,
                    "responses": {
                        "200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                        "400": _ERROR,
                        "401": _ERROR,
                        "404": _ERROR,
                    },
                }
            },
            "/api/energy": {
                "get": {
                    "summary": "energy per flow (PV, load, grid, battery) per local day or month",
                    "parameters": _ENERGY_PARAMS,
                    "responses": {
                        "200": _json(_ref("Energy"), "the table"),
                        "400": _ERROR,
                        "401": _ERROR,
                        "502": _ERROR,
                    },
                }
            },
            "/api/energy.csv": {
                "get": {
                    "summary": "the energy table as CSV: period, start, end, <flow>_kwh…",
                    "parameters": _ENERGY_PARAMS,
                    "responses": {
                        "200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                        "400": _ERROR,
                        "401": _ERROR,
                        "502": _ERROR,
                    },
                }
            },
            "/api/house": {
                "get": {
                    "summary": "indoor sensors and weather devices",
                    "responses": {"200": _json(_ref("House"), "house"), "401": _ERROR},
                }
            },
            "/api/command": {
                "post": {
                    "summary": "run an allow-listed query or change a setting; waits for the read-back",
                    "security": [{"bearer": []}, {"session": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("CommandRequest")}},
                    },
                    "responses": {
                        "200": _json(_ref("CommandResult"), "the device's read-back"),
                        "400": _ERROR,
                        "401": _ERROR,
                        "403": _ERROR,
                        "404": _ERROR,
                        "413": _ERROR,
                        "429": _ERROR,
                        "503": _ERROR,
                        "504": _ERROR,
                    },
                }
            },
            "/api/refresh": {
                "post": {
                    "summary": "ask one device, or every device, to poll now; waits for each reader's result",
                    "security": [{"bearer": []}, {"session": []}],
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": _ref("RefreshRequest")}},
                    },
                    "responses": {
                        "200": _json(_ref("RefreshResult"), "results (and devices that did not answer)"),
                        "400": _ERROR,
                        "401": _ERROR,
                        "403": _ERROR,
                        "404": _ERROR,
                        "413": _ERROR,
                        "429": _ERROR,
                        "503": _ERROR,
                        "504": _json(
                            {
                                "type": "object",
                                "required": ["error", "missing"],
                                "properties": {
                                    "error": {"type": "string"},
                                    "missing": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                            "no device answered in time",
                        ),
                    },
                }
            },
            "/api/stream": {
                "get": {
                    "summary": "Server-Sent Events: `snapshot` first, then `state` per new state; keep-alive comments",
                    "responses": {
                        "200": {
                            "description": "event stream",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        "401": _ERROR,
                        "503": _ERROR,
                    },
                }
            },
            "/api/openapi.json": {
                "get": {"summary": "this document", "responses": {"200": _json({"type": "object"}, "OpenAPI")}}
            },
        },
    }

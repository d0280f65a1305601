"""Validate solarstack discovery with Home Assistant's own code (runs INSIDE the HA venv).

Test helper, not part of the package: `tests/discovery/install_ha.sh` builds a venv with
homeassistant==2024.1.6, and the tests pipe JSON into this script with that venv's python:

    stdin  {"messages": [[topic, payload], ...], "discovery_prefix": "homeassistant",
            "states": {state_topic: state_payload, ...}}
    stdout [{"topic", "component", "object_id", "removed", "errors", "dropped", "config",
             "rendered"}, ...]

For each entity it expands HA's abbreviations with HA's tables, validates it with the
platform's DISCOVERY_SCHEMA, applies the sensor rules HA enforces at run time (units per
device_class from DEVICE_CLASS_UNITS, state classes from DEVICE_CLASS_STATE_CLASSES, enum
rules) and renders the value template with HA's template engine against the given state,
checking the result is something the entity accepts. A device message is unpacked by HA's
own device-discovery parser where the HA version has one (2024.11+); 2024.1 predates it, so
there it is unpacked the way newer HA does it — root options shared into every component.
Each component is then validated like an entity.
It must NOT import solarstack: it judges our output with HA's code only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import tempfile
from typing import Any

# HA imports in this order: mqtt's platforms import persistent_notification indirectly
# and hit a circular import unless it is loaded first.
import homeassistant.components.persistent_notification  # noqa: F401
from homeassistant.components.mqtt import abbreviations as abbr
from homeassistant.components.mqtt import binary_sensor, number, select, sensor
from homeassistant.components.mqtt import discovery as ha_discovery
from homeassistant.components.number import const as number_const
from homeassistant.components.sensor import const as sensor_const
from homeassistant.core import HomeAssistant
from homeassistant.helpers.template import Template

PLATFORMS = {"sensor": sensor, "binary_sensor": binary_sensor, "select": select, "number": number}

# Keys newer than 2024.1 that we send on purpose. `def_ent_id` (default_entity_id, HA
# 2025.10) sits in the entity: 2024.1 drops it (REMOVE_EXTRA). `sn` (device serial_number)
# is only sent in device mode, which needs HA 2024.11+ anyway.
NEWER_ENTITY_KEYS = {k: v for k, v in {"def_ent_id": "default_entity_id"}.items() if k not in abbr.ABBREVIATIONS}
NEWER_DEVICE_KEYS = {k: v for k, v in {"sn": "serial_number"}.items() if k not in abbr.DEVICE_ABBREVIATIONS}
# HA 2024.11+ parses device-based discovery itself; older HA cannot, and we unpack it here.
HA_PARSES_DEVICES = hasattr(ha_discovery, "_parse_device_payload")
# Enum sensor `options` arrived in MQTT after 2024.1, which drops them (any state is then
# accepted); the rules below still judge them as newer HA will.
NEWER_PLATFORM_KEYS = {"sensor": {"options"}}

ENTITY_TOPIC = re.compile(r"^(?P<component>\w+)/(?P<node>[a-zA-Z0-9_-]+)/(?P<object>[a-zA-Z0-9_-]+)/config$")
DEVICE_TOPIC = re.compile(r"^device/(?P<node>[a-zA-Z0-9_-]+)/config$")


def expand(doc: dict[str, Any], table: dict[str, str]) -> dict[str, Any]:
    return {table.get(k, k): v for k, v in doc.items()}


def expand_entity(doc: dict[str, Any]) -> dict[str, Any]:
    out = expand(doc, {**abbr.ABBREVIATIONS, **NEWER_ENTITY_KEYS})
    if isinstance(out.get("device"), dict):
        out["device"] = expand(out["device"], {**abbr.DEVICE_ABBREVIATIONS, **NEWER_DEVICE_KEYS})
    if isinstance(out.get("origin"), dict):
        out["origin"] = expand(out["origin"], abbr.ORIGIN_ABBREVIATIONS)
    if isinstance(out.get("availability"), list):  # HA expands each entry of the list too
        out["availability"] = [expand(a, abbr.ABBREVIATIONS) if isinstance(a, dict) else a for a in out["availability"]]
    return out


def unit_values(units: set[Any]) -> set[str | None]:
    """DEVICE_CLASS_UNITS holds unit enums (all members allowed) and plain strings."""
    out: set[str | None] = set()
    for u in units:
        if isinstance(u, type):
            out.update(m.value for m in u)
        else:
            out.add(u)
    return out


def sensor_rules(cfg: dict[str, Any]) -> list[str]:
    errors = []
    dc, sc, unit = cfg.get("device_class"), cfg.get("state_class"), cfg.get("unit_of_measurement")
    options = cfg.get("options")
    if dc in sensor_const.DEVICE_CLASS_UNITS:
        allowed = unit_values(sensor_const.DEVICE_CLASS_UNITS[dc])
        if unit not in allowed:
            errors.append(f"unit {unit!r} not allowed for device_class {dc}")
    allowed_classes = sensor_const.DEVICE_CLASS_STATE_CLASSES.get(dc)
    if sc is not None and allowed_classes is not None and sc not in allowed_classes:
        errors.append(f"state_class {sc} not allowed for device_class {dc}")
    if dc in sensor_const.NON_NUMERIC_DEVICE_CLASSES and (unit is not None or sc is not None):
        errors.append(f"non-numeric device_class {dc} with unit or state_class")
    if options is not None and dc != sensor_const.SensorDeviceClass.ENUM:
        errors.append("options without device_class enum")
    if dc == sensor_const.SensorDeviceClass.ENUM and not options:
        errors.append("device_class enum without options")
    return errors


def number_rules(cfg: dict[str, Any]) -> list[str]:
    dc, unit = cfg.get("device_class"), cfg.get("unit_of_measurement")
    if dc in number_const.DEVICE_CLASS_UNITS and unit not in unit_values(number_const.DEVICE_CLASS_UNITS[dc]):
        return [f"unit {unit!r} not allowed for number device_class {dc}"]
    return []


def render(hass: HomeAssistant, cfg: dict[str, Any], state: str) -> str:
    tpl = cfg.get("value_template")
    if tpl is None:
        return state
    # The call MQTT entities make on each state message (value_json = the parsed payload).
    return str(Template(str(tpl.template), hass).async_render_with_possible_json_value(state, ""))


def accepted(component: str, cfg: dict[str, Any], value: str) -> str | None:
    """Why HA would reject rendered `value`, or None. "" and "None" mean no value / unknown."""
    if value in ("", "None"):
        return None
    if component == "binary_sensor":
        ok = value in (cfg["payload_on"], cfg["payload_off"])
    elif component == "select":
        ok = value in cfg["options"]
    elif component == "number":
        # HA's number refuses (logs an error for) a state outside min..max.
        try:
            ok = cfg["min"] <= float(value) <= cfg["max"]
        except ValueError:
            ok = False
    elif sensor_numeric(cfg):
        try:
            float(value)
            ok = True
        except ValueError:
            ok = False
    elif cfg.get("device_class") == "enum":
        ok = value in cfg["options"]
    else:
        ok = True
    return None if ok else f"rendered {value!r} is not a valid state"


def sensor_numeric(cfg: dict[str, Any]) -> bool:
    # The same rule HA's SensorEntity applies (_numeric_state_expected).
    dc = cfg.get("device_class")
    if dc in sensor_const.NON_NUMERIC_DEVICE_CLASSES:
        return False
    if cfg.get("state_class") or cfg.get("unit_of_measurement") or cfg.get("suggested_display_precision"):
        return True
    return dc is not None


def check_entity(hass: HomeAssistant, component: str, raw: dict[str, Any], states: dict[str, str]) -> dict[str, Any]:
    cfg = expand_entity(raw)
    result: dict[str, Any] = {"errors": [], "dropped": [], "config": {}, "rendered": None}
    platform = PLATFORMS.get(component)
    if platform is None:
        result["errors"].append(f"unsupported component {component}")
        return result
    device = cfg.get("device")
    if isinstance(device, dict):  # validated without the keys 2024.1 does not know
        cfg["device"] = {k: v for k, v in device.items() if k not in NEWER_DEVICE_KEYS.values()}
    try:
        valid = platform.DISCOVERY_SCHEMA(dict(cfg))
    except Exception as exc:  # voluptuous.Invalid and friends: report, do not crash
        result["errors"].append(f"schema: {exc}")
        return result
    result["dropped"] = sorted(set(cfg) - set(valid))
    newer = set(NEWER_ENTITY_KEYS.values()) | NEWER_PLATFORM_KEYS.get(component, set())
    extra = set(result["dropped"]) - newer
    if extra:
        result["errors"].append(f"keys HA does not know: {sorted(extra)}")
    # What newer HA would hold: the validated config plus the newer keys we sent.
    valid = {**valid, **{k: cfg[k] for k in newer if k in cfg}}
    if component == "sensor":
        result["errors"] += sensor_rules(valid)
    if component == "number":
        result["errors"] += number_rules(valid)
    keep = (
        "unique_id", "default_entity_id", "name", "device_class", "state_class", "unit_of_measurement",
        "entity_category", "options", "min", "max", "step", "mode", "state_topic", "command_topic",
        "availability_topic", "availability", "availability_mode", "payload_available",
        "payload_not_available", "payload_on", "payload_off",
        "value_template", "device", "origin", "icon",
    )  # fmt: skip
    out = dict(valid)
    if isinstance(device, dict):
        out["device"] = device
    result["config"] = {k: _jsonable(out[k]) for k in keep if k in out}
    topic = valid.get("state_topic")
    if topic in states:
        value = render(hass, valid, states[topic])
        result["rendered"] = value
        if why := accepted(component, valid, value):
            result["errors"].append(why)
    return result


def _jsonable(v: Any) -> Any:
    if isinstance(v, Template):
        return v.template
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set):
        return [_jsonable(x) for x in v]
    if isinstance(v, str | int | float | bool) or v is None:
        return str(v) if hasattr(v, "value") else v
    return str(v)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


Component = tuple[str, str, dict[str, Any] | None]  # object_id, platform, config (None: removal)


def split_device(hass: HomeAssistant, payload: str, node: str) -> tuple[list[Component], str | None]:
    """A device message as its components, each merged with the shared options."""
    if not HA_PARSES_DEVICES:
        root = json.loads(payload)
        components = root.pop("cmps", root.pop("components", {}))
        out: list[Component] = []
        for object_id, comp in components.items():
            platform = comp.get("p", comp.get("platform"))
            rest = {k: v for k, v in comp.items() if k not in ("p", "platform")}
            out.append((object_id, platform, {**root, **rest} if rest else None))
        return out, None
    # HA's own code path (mqtt/discovery.py async_start): parse, then share device,
    # origin and the common options into each component.
    capture = _Capture()
    log = logging.getLogger(ha_discovery.__name__)
    log.addHandler(capture)
    try:
        parsed = ha_discovery._parse_device_payload(hass, payload, node, None)
    finally:
        log.removeHandler(capture)
    if not parsed:
        return [], "device payload rejected: " + "; ".join(capture.messages)
    out = []
    for object_id, config in parsed["components"].items():
        platform = config.pop("platform")
        if config:
            config["device"] = parsed["device"]
            config["origin"] = parsed.get("origin")
            ha_discovery._merge_common_device_options(config, parsed)
            out.append((object_id, platform, dict(config)))
        else:
            out.append((object_id, platform, None))
    return out, None


async def check_all(job: dict[str, Any]) -> list[dict[str, Any]]:
    """HA's core object needs a running loop; templates render through it."""
    prefix = job.get("discovery_prefix", "homeassistant")
    states: dict[str, str] = job.get("states", {})
    hass = HomeAssistant(tempfile.mkdtemp(prefix="ha-schema-"))  # only a template context
    results = []
    for topic, payload in job["messages"]:
        rel = topic.removeprefix(prefix + "/")
        if m := DEVICE_TOPIC.match(rel):
            if not payload:
                results.append({"topic": topic, "component": "device", "object_id": None, "removed": True})
                continue
            components, error = split_device(hass, payload, m["node"])
            if error:
                results.append({"topic": topic, "component": "device", "object_id": None, "errors": [error]})
                continue
            for object_id, platform, merged in components:
                base = {"topic": topic, "component": platform, "object_id": object_id}
                if merged is None:  # only the platform: HA removes this component
                    results.append({**base, "removed": True})
                    continue
                results.append({**base, "removed": False, **check_entity(hass, platform, merged, states)})
        elif m := ENTITY_TOPIC.match(rel):
            base = {"topic": topic, "component": m["component"], "object_id": m["object"]}
            if not payload:
                results.append({**base, "removed": True})
                continue
            results.append(
                {**base, "removed": False, **check_entity(hass, m["component"], json.loads(payload), states)}
            )
        else:
            results.append({"topic": topic, "errors": ["not a discovery topic HA reads"], "removed": False})
    return results


def main() -> int:
    """One job on stdin, its answer on stdout; `--serve`: one job per line, one answer per
    line, until stdin closes (the tests keep one process, paying HA's imports once)."""
    if sys.argv[1:] == ["--serve"]:
        for line in sys.stdin:
            print(json.dumps(asyncio.run(check_all(json.loads(line))), ensure_ascii=False), flush=True)
        return 0
    results = asyncio.run(check_all(json.load(sys.stdin)))
    json.dump(results, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

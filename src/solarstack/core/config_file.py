"""Core layer: the optional YAML config file (`SOLARSTACK_CONFIG`), as settings values.

The file holds what environment variables express badly — several devices with names and
per-device filters — in the SAME settings models as the environment (core/settings.py): it is
flattened to field names (`inverter: {poll_seconds: 5}` -> `inverter_poll_seconds`,
`mqtt: {host: x}` -> `mqtt_host`) and the strings go through the same validation as a
variable; a non-empty variable wins over the file. docs/config.md has the shape:

    mqtt: {host: mosquitto, username: inverter}     shared names, nested by their first word
    log_level: INFO                                  or flat
    inverter:                                        one section per service
      poll_seconds: 5
      devices:                                       -> INVERTER_DEVICES (URLs with options)
        - url: pi30+serial:///dev/ttyUSB0
          name: inverter1
          title: Main inverter
          exclude: [pv2_input_power]
          rename: {pv_input_power: PV power}
          scale: {pv_input_power: 0.001 kW}
          options: {baud: 2400}                      any other device-URL option
        - pi30+tcp://192.168.1.50:8899?name=garage   a plain URL

An unknown key is a one-line ConfigError naming the key and the file; so is a YAML syntax
error (with its line). A section for another service is checked against that service's
model (`solarstack.services.<section>.settings`, the convention tests/stack/test_env_example.py
relies on too), looked up by name only when the file has such a section.

PyYAML is imported only when a file is given: `solarstack query` never loads it.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from pydantic import BaseModel

from solarstack.core.errors import ConfigError
from solarstack.core.shaping import OPTIONS as SHAPE_OPTIONS
from solarstack.core.shaping import parse_scale

#: The variable naming the file.
VARIABLE = "SOLARSTACK_CONFIG"
#: Keys of one device item besides the shaping ones (core/shaping.py OPTIONS).
DEVICE_KEYS = ("url", "name", "title", "options", *SHAPE_OPTIONS)


class FileValues(NamedTuple):
    """Settings values the file gives: field name -> string, and where each came from."""

    path: str
    values: dict[str, str]
    origins: dict[str, str]  # field name -> dotted key in the file (for error messages)


def read(path: str, model: type[BaseModel], common: type[BaseModel]) -> FileValues:
    """The values `model` takes from the YAML file at `path` (ConfigError: one line)."""
    doc = _parse(path)
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    for key, value in doc.items():
        if not isinstance(key, str):
            raise ConfigError(f"{path}: key {key!r} is not a name")
        service = _service_model(key, model, common) if isinstance(value, Mapping) else None
        if service is not None:
            for sub, item in _flatten(value):
                name = _service_field(key, sub, service, common)
                if name is None:
                    raise ConfigError(
                        f"{path}: unknown key {f'{key}.{sub}'!r} (not a setting of {key}; docs/config.md)"
                    )
                if name in model.model_fields:
                    values[name] = _text(path, f"{key}.{sub}", name, item)
                    origins[name] = f"{key}.{sub}"
            continue
        for dotted, item in _flatten({key: value}):
            name = dotted.replace(".", "_")
            if name not in common.model_fields:
                raise ConfigError(f"{path}: unknown key {dotted!r} (not a shared setting or a service; docs/config.md)")
            values[name] = _text(path, dotted, name, item)
            origins[name] = dotted
    return FileValues(path, {k: v for k, v in values.items() if v != ""}, origins)


def _parse(path: str) -> Mapping[Any, Any]:
    import yaml  # only here: the one-shot CLI never pays for it

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{VARIABLE}={path!r}: cannot read it ({exc.strerror or exc}); fix the path or unset it"
        ) from None
    try:
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: YAML syntax error: {problem}") from None
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise ConfigError(
            f"{path}: the file must be a mapping of keys (mqtt:, inverter:, …), not a {type(doc).__name__}"
        )
    return doc


def _flatten(value: Mapping[Any, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted path, leaf) for nested mappings; lists (`devices:`) are leaves."""
    for key, item in value.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, Mapping):
            yield from _flatten(item, path)
        else:
            yield path, item


def _service_model(section: str, model: type[BaseModel], common: type[BaseModel]) -> type[BaseModel] | None:
    """The settings model of the service a top-level section names, or None (not a service).
    Looked up by name, never by what this process runs, so a key means the same to every service."""
    if not section.isidentifier():
        return None
    module_name = f"solarstack.services.{section}.settings"
    try:
        found = importlib.util.find_spec(module_name)
    except ModuleNotFoundError:
        return None
    if found is None:
        return None
    if model.__module__ == module_name:
        return model
    module = importlib.import_module(module_name)
    for obj in vars(module).values():
        if isinstance(obj, type) and issubclass(obj, common) and obj is not common and obj.__module__ == module_name:
            return obj
    return None


def _service_field(section: str, sub: str, service: type[BaseModel], common: type[BaseModel]) -> str | None:
    flat = sub.replace(".", "_")
    for name in (f"{section}_{flat}", flat):
        if name in service.model_fields and name not in common.model_fields:
            return name
    return None


def _text(path: str, dotted: str, name: str, value: Any) -> str:
    """A file value as the string a variable would hold (the same validation follows)."""
    if value is None:
        return ""
    if name.endswith("_devices") and isinstance(value, list):
        return ",".join(device_url(path, f"{dotted}[{i}]", item) for i, item in enumerate(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(path, dotted, name, v) for v in value)
    if isinstance(value, Mapping):
        raise ConfigError(f"{path}: {dotted} takes a value, not a mapping")
    return str(value)


def device_url(path: str, where: str, item: Any) -> str:
    """One device of a `devices:` list as a device URL with its options (core/device_url.py)."""
    if isinstance(item, str):
        return item.strip()
    if not isinstance(item, Mapping):
        raise ConfigError(f"{path}: {where} must be a device URL or a mapping with url:")
    unknown = [k for k in item if k not in DEVICE_KEYS]
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {f'{where}.{unknown[0]}'!r}; a device takes {', '.join(DEVICE_KEYS)}"
            " (other URL options go under options:)"
        )
    url = item.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{path}: {where} has no url: (e.g. url: pi30+serial:///dev/ttyUSB0)")
    options: dict[str, str] = {}
    extra = item.get("options") or {}
    if not isinstance(extra, Mapping):
        raise ConfigError(f"{path}: {where}.options must be a mapping of URL options")
    for key, value in extra.items():
        options[str(key)] = _text(path, f"{where}.options.{key}", "", value)
    for key in ("name", "title"):
        if item.get(key) is not None:
            options[key] = str(item[key])
    for key in ("include", "exclude", "exclude_devices"):
        if item.get(key) is not None:
            options[key] = ";".join(_items(path, f"{where}.{key}", item[key]))
    for key in ("rename", "device_titles"):
        if item.get(key) is not None:
            options[key] = ";".join(f"{k}:{v}" for k, v in _mapping(path, f"{where}.{key}", item[key]).items())
    if item.get("scale") is not None:
        rules = []
        for key, rule in _mapping(path, f"{where}.scale", item["scale"], raw=True).items():
            if isinstance(rule, Mapping):
                unknown = [k for k in rule if k not in ("factor", "unit")]
                if unknown:
                    raise ConfigError(
                        f"{path}: unknown key {f'{where}.scale.{key}.{unknown[0]}'!r}; give factor and unit"
                    )
                text = f"{rule.get('factor')}:{rule.get('unit') or ''}"
            else:
                text = str(rule)
            scale = parse_scale(f"{path}: {where}.scale", str(key), text)  # checked here: the file names it
            rules.append(f"{key}:{scale.factor!r}" + (f":{scale.unit}" if scale.unit else ""))
        options["scale"] = ";".join(rules)
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in options.items())
    base = url.strip()
    return f"{base}{'&' if '?' in base else '?'}{query}" if query else base


def _items(path: str, where: str, value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = [str(i).strip() for i in items if str(i).strip()]
    bad = [i for i in out if ";" in i]
    if bad:
        raise ConfigError(f"{path}: {where}: {bad[0]!r} may not contain ';'")
    return out


def _mapping(path: str, where: str, value: Any, *, raw: bool = False) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: {where} must be a mapping (key: value)")
    out: dict[str, Any] = {}
    for key, item in value.items():
        text = item if raw else str(item).strip()
        if not raw and (not text or ";" in text):
            raise ConfigError(f"{path}: {where}.{key}: {item!r} must be non-empty, without ';'")
        out[str(key).strip()] = text
    return out

"""Service layer (web): what a device offers, read from its Home Assistant discovery payload.

Readers publish one device-based discovery payload per device
(`homeassistant/device/<device>/config`); its `cmps` components carry each field's
name, unit and device_class, and for settings the select `options` / number
`min`/`max`/`step` and `command_topic`. The web labels fields and builds the settings
console from this alone, so no device is hard-coded here. HA allows abbreviated keys
(`p`, `unit_of_meas`, `cmd_t`, ...): both spellings are read. This module parses only;
it must not do I/O or keep state.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from solarstack.core.command import shown

# HA's documented abbreviations for the keys we read.
_ABBREVIATIONS = {
    "p": "platform",
    "dev": "device",
    "uniq_id": "unique_id",
    "unit_of_meas": "unit_of_measurement",
    "dev_cla": "device_class",
    "stat_cla": "state_class",
    "cmd_t": "command_topic",
    "stat_t": "state_topic",
    "val_tpl": "value_template",
    "ent_cat": "entity_category",
    "ops": "options",
    "mdl": "model",
    "mf": "manufacturer",
    "sw": "sw_version",
    "hw": "hw_version",
}


def _expand(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {_ABBREVIATIONS.get(k, k): v for k, v in raw.items()}


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """How the UI labels one state key."""

    key: str
    name: str
    unit: str | None = None
    device_class: str | None = None
    platform: str = "sensor"
    diagnostic: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "device_class": self.device_class, "platform": self.platform}


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """One allow-listed setting: a select (options) or a number (min/max/step)."""

    key: str
    name: str
    command_topic: str
    options: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    unit: str | None = None
    state_key: str | None = None  # state field that shows the current value, when discovery names one

    @property
    def component(self) -> str:
        return "select" if self.options else "number"

    def check(self, value: object) -> str:
        """The value as it goes on the wire, or ValueError saying why it is refused."""
        if self.options:
            text = str(value)
            if text not in self.options:
                raise ValueError(f"{self.key}: {shown(text)!r} is not one of {', '.join(self.options)}")
            return text
        if isinstance(value, bool):
            raise ValueError(f"{self.key}: a number is needed")
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"{self.key}: {shown(str(value))!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{self.key}: {shown(str(value))!r} is not a finite number")
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"{self.key}: {number:g} is below the minimum {self.minimum:g}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"{self.key}: {number:g} is above the maximum {self.maximum:g}")
        if self.step:
            base = self.minimum or 0.0
            steps = (number - base) / self.step
            # Tolerate float noise (48.1 / 0.1 is not exactly an integer).
            if abs(steps - round(steps)) > 1e-6:
                raise ValueError(f"{self.key}: {number:g} is not a multiple of {self.step:g}")
        return f"{number:g}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "component": self.component,
            "options": list(self.options),
            "min": self.minimum,
            "max": self.maximum,
            "step": self.step,
            "unit": self.unit,
            "state_key": self.state_key,
        }


@dataclass(frozen=True, slots=True)
class Catalog:
    """Fields and settings of one device, plus its HA device block (name, model)."""

    device: str
    name: str
    model: str = ""
    hardware: str = ""  # HA hw_version; readers may name their protocol here ("PI30")
    fields: Mapping[str, FieldInfo] = field(default_factory=dict)
    settings: Mapping[str, SettingInfo] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "fields": {k: f.as_json() for k, f in self.fields.items()},
            "settings": {k: s.as_json() for k, s in self.settings.items()},
        }


def _number(value: object) -> float | None:
    try:
        return None if value is None else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


_TEMPLATE_KEY = re.compile(r"value_json\.([A-Za-z0-9_]+)(?:\[(\d+)\])?")


def _template_key(comp: Mapping[str, Any]) -> tuple[str, int | None] | None:
    """(state key, array index or None) a component's value template reads, if it names one."""
    match = _TEMPLATE_KEY.search(str(comp.get("value_template") or ""))
    if match is None:
        return None
    return match.group(1), None if match.group(2) is None else int(match.group(2))


def _field_key(device: str, comp_id: str, comp: Mapping[str, Any]) -> str:
    """The state key a component shows: from `value_json.<key>`, the unique_id, or the component id."""
    found = _template_key(comp)
    if found is not None:
        return found[0]
    unique = str(comp.get("unique_id") or "")
    prefix = f"solarstack_{device}_"
    if unique.startswith(prefix):
        return unique[len(prefix) :]
    return comp_id


def parse_discovery(device: str, payload: Mapping[str, Any]) -> Catalog:
    """Build a device's Catalog from its device-based discovery payload (unknown keys ignored)."""
    top = _expand(payload)
    dev = _expand(top.get("device") or {})
    fields: dict[str, FieldInfo] = {}
    settings: dict[str, SettingInfo] = {}
    comps = top.get("cmps") or top.get("components") or {}
    if not isinstance(comps, Mapping):
        comps = {}
    for comp_id, raw in comps.items():
        if not isinstance(raw, Mapping):
            continue
        if len(raw) <= 1:
            continue  # a removal stub ({"p": "sensor"}): HA drops that entity, so do we
        comp = _expand(raw)
        platform = str(comp.get("platform") or "sensor")
        name = str(comp.get("name") or comp_id.replace("_", " ").capitalize())
        unit = comp.get("unit_of_measurement")
        command_topic = comp.get("command_topic")
        if platform in ("select", "number") and command_topic:
            key = str(command_topic).rstrip("/").rsplit("/", 1)[-1]
            state_key = None
            if comp.get("value_template"):
                state_key = _field_key(device, comp_id, comp)
            settings[key] = SettingInfo(
                key=key,
                name=name,
                command_topic=str(command_topic),
                options=tuple(str(o) for o in comp.get("options") or ()),
                minimum=_number(comp.get("min")),
                maximum=_number(comp.get("max")),
                step=_number(comp.get("step")),
                unit=str(unit) if unit else None,
                state_key=state_key,
            )
            continue
        key = _field_key(device, comp_id, comp)
        found = _template_key(comp)
        if found is not None and found[1] is not None:
            # One entity per array element (cell_voltage_01 ...): the UI wants the array once,
            # labelled without the element number.
            if key in fields:
                continue
            name = re.sub(r"\s*\d+$", "", name)
        fields[key] = FieldInfo(
            key=key,
            name=name,
            unit=str(unit) if unit else None,
            device_class=str(comp["device_class"]) if comp.get("device_class") else None,
            platform=platform,
            diagnostic=comp.get("entity_category") == "diagnostic",
        )
    return Catalog(
        device=device,
        name=str(dev.get("name") or device),
        model=str(dev.get("model") or ""),
        hardware=str(dev.get("hw_version") or ""),
        fields=fields,
        settings=settings,
    )

"""Core layer: the device catalogue — what a device is, reports and accepts, as one message.

A reader publishes one catalogue per device, retained, on `<prefix>/<device>/catalog`
(core/topics.py). It is built from the same rows as everything else (`Field`,
`Setting`, the device's identity), and every consumer reads it instead of guessing:
the web labels fields, groups cards, draws charts and builds the settings console
from it; history and export ask Prometheus for the `metric` it names; the collector
and the dashboard tests read it too. Home Assistant discovery is another rendering of
the same rows (core/discovery.py); nobody parses discovery back.

Schema 1 (docs/catalog.md has the reference and an example):

    {"schema": 1,
     "device": {"id", "name", "kind", "protocol", "manufacturer", "model",
                "serial_number", "sw_version", "via_device", "interval",
                "units", "totals"},
     "fields": [{"key", "title", "unit", "kind", "device_class", "state_class",
                 "precision", "diagnostic", "role", "group", "size", "options",
                 "metric", "metric_scale"}, …],
     "settings": [{"key", "title", "type": "select"|"number", "options", "min", "max",
                   "step", "unit", "readback"}, …],
     "queries": ["QPIRI", …]}

`metric` is the Prometheus series the field's samples are in (counters with their
`_total`; array elements in `<metric>` with a `cell` label, `01` …); divide by `metric_scale`
to get back to the field's unit. `size` is an array's length (cells), else null.

A system of units behind one link (a parallel inverter system) says so in its device block:
`units` lists its unit devices' ids (each names the system as its `via_device`) and
`totals` maps each of its total fields to the unit field it sums (`{"load_power":
"ac_output_active_power"}`), so a page can set the units side by side with their total
without knowing a key. Both are absent on any other device.

Build and parse are both here, so producer and consumers share one definition. Pure:
no MQTT, no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from solarstack.core.command import shown
from solarstack.core.fields import UNITS, Field, Kind, Setting
from solarstack.core.metrics import is_counter, metric_name

SCHEMA = 1

#: What a device is; pages pick devices by it (the weather card, the battery page).
DEVICE_KINDS = ("inverter", "battery", "battery_group", "shunt", "house", "weather", "dtu", "microinverter")

#: The energy flows a site counts, in the order "Today's energy" lists them.
ENERGY_FLOWS = ("pv", "load", "grid_import", "grid_export", "battery_charge", "battery_discharge")

#: What a field means, for consumers that must find "the PV power" of a site without
#: knowing any protocol's key names. A role may appear on several devices (each pack's soc).
ROLES = (
    "pv_power",  # W into the inverter from panels (sum over devices and strings)
    "load_power",  # W the house draws from the inverter's output
    "grid_power",  # W from the grid (+) or to it (-)
    "battery_power",  # W into the battery (+ charge) or out of it (-)
    "battery_current",  # A, + charge
    "battery_charge_current",  # A, charge side only (inverters that split the two)
    "battery_discharge_current",  # A, discharge side only
    "battery_voltage",
    "soc",  # %
    "cell_voltage",  # an array of V
    "temperature",  # °C of something inside a device
    "warning",  # true / a non-empty text = something is wrong
    "mode",  # the operating mode (text)
    "rating",  # a configured or rated value, not a measurement: never charted
    # kWh counters ("Today's energy", HA's energy dashboard): the total and "<role>_today"
    *(f"{flow}_energy{day}" for flow in ENERGY_FLOWS for day in ("", "_today")),
    "indoor_temperature",
    "humidity",
    "pressure",
    "link",  # link health: RSSI, errors
)

#: Where a field belongs on a page; the UI shows groups in this order.
GROUPS = (
    "pv",
    "grid",
    "output",
    "battery",
    "cells",
    "temperature",
    "climate",
    "weather",
    "forecast",
    "energy",
    "status",
    "warnings",
    "ratings",
    "link",
)


def _field(f: Field, size: int | None) -> dict[str, Any]:
    metric = metric_name(f)
    if is_counter(f):
        metric += "_total"
    numeric = f.kind in (Kind.FLOAT, Kind.INT, Kind.ARRAY)
    return {
        "key": f.key,
        "title": f.title,
        "unit": f.unit,
        "kind": str(f.kind),
        "device_class": f.ha_device_class,
        "state_class": f.ha_state_class if numeric else None,
        "precision": f.precision,
        "diagnostic": f.diagnostic,
        "role": f.role,
        "group": f.group,
        "size": size if f.kind is Kind.ARRAY else None,
        "options": list(dict.fromkeys(f.options.values())) if f.kind is Kind.ENUM and f.options else None,
        "metric": metric if numeric or f.kind is Kind.BOOL else None,
        "metric_scale": UNITS[f.unit].to_base if numeric and f.unit else 1.0,
    }


def _setting(s: Setting) -> dict[str, Any]:
    return {
        "key": s.key,
        "title": s.label,
        "type": s.component,
        "options": list(s.options) if s.options else None,
        "min": s.minimum,
        "max": s.maximum,
        "step": s.step,
        "unit": s.unit,
        "readback": s.readback,
    }


def build(
    device: Mapping[str, str | None],
    fields: Iterable[Field],
    settings: Iterable[Setting] = (),
    queries: Iterable[str] = (),
    *,
    array_sizes: Mapping[str, int] | None = None,
    interval: float | None = None,
    units: Sequence[str] = (),
    totals: Mapping[str, str] | None = None,
) -> str:
    """The catalogue message (compact JSON) for one device. `device` holds the identity
    keys of the schema (`id`, `name`, `kind` required; the rest may be None); `interval` is
    how often, in seconds, a new state is due (the fastest poll), so a consumer can tell a
    quiet device from a stale one without knowing what polls it. `units` and `totals`: a
    system's unit ids and which unit field each total sums (see the module doc)."""
    for required in ("id", "name", "kind"):
        if not device.get(required):
            raise ValueError(f"a catalogue needs the device's {required}")
    sizes = array_sizes or {}
    doc = {
        "schema": SCHEMA,
        "device": {
            k: device.get(k)
            for k in ("id", "name", "kind", "protocol", "manufacturer", "model", "serial_number", "sw_version")
        }
        | {"via_device": device.get("via_device"), "interval": interval}
        | ({"units": list(units), "totals": dict(totals or {})} if units else {}),
        "fields": [_field(f, sizes.get(f.key)) for f in fields],
        "settings": [_setting(s) for s in settings],
        "queries": sorted(set(queries)),
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


# --- the consumers' side ------------------------------------------------------------------


class FieldInfo(NamedTuple):
    key: str
    title: str
    unit: str | None = None
    kind: str = "float"
    device_class: str | None = None
    state_class: str | None = None
    precision: int | None = None
    diagnostic: bool = False
    role: str | None = None
    group: str | None = None
    size: int | None = None
    options: tuple[str, ...] | None = None
    metric: str | None = None
    metric_scale: float = 1.0


class SettingInfo(NamedTuple):
    """One allow-listed setting of this unit: a select (options) or a number (min/max/step)."""

    key: str
    title: str
    type: str = "number"
    options: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    unit: str | None = None
    readback: str | None = None

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
            steps = (number - (self.minimum or 0.0)) / self.step
            if abs(steps - round(steps)) > 1e-6:  # float noise: 48.1 / 0.1 is not exactly whole
                raise ValueError(f"{self.key}: {number:g} is not a multiple of {self.step:g}")
        return f"{number:g}"


class Catalog(NamedTuple):
    """One device's catalogue, parsed."""

    device: Mapping[str, Any]
    fields: Mapping[str, FieldInfo]
    settings: Mapping[str, SettingInfo]
    queries: tuple[str, ...]
    schema: int = SCHEMA

    @property
    def id(self) -> str:
        return str(self.device.get("id") or "")

    @property
    def name(self) -> str:
        return str(self.device.get("name") or self.id)

    @property
    def kind(self) -> str:
        return str(self.device.get("kind") or "")

    @property
    def interval(self) -> float | None:
        """Seconds between two states when all is well (None: the reader did not say)."""
        value = _opt_float(self.device.get("interval"))
        return value if value is not None and value > 0 else None

    @property
    def via_device(self) -> str | None:
        """The system device this one is a unit of, if any."""
        return _opt_str(self.device.get("via_device"))

    @property
    def units(self) -> tuple[str, ...]:
        """A system's unit device ids (empty for any other device)."""
        return _strings(self.device.get("units")) or ()

    @property
    def totals(self) -> dict[str, str]:
        """A system's total fields -> the unit field each sums."""
        raw = self.device.get("totals")
        return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}

    def by_role(self, role: str) -> list[FieldInfo]:
        return [f for f in self.fields.values() if f.role == role]


def _opt_float(raw: object) -> float | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        number = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _opt_str(raw: object) -> str | None:
    return None if raw is None else str(raw)


def _strings(raw: object) -> tuple[str, ...] | None:
    return tuple(str(o) for o in raw) if isinstance(raw, Sequence) and not isinstance(raw, str) else None


def parse(payload: bytes | str) -> Catalog:
    """A catalogue message, parsed; ValueError (one line) if it is not one we can read."""
    try:
        doc = json.loads(payload)
    except ValueError:
        raise ValueError("catalogue is not JSON") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("device"), Mapping):
        raise ValueError("catalogue has no device block")
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"catalogue schema {doc.get('schema')!r} is not {SCHEMA}")
    fields: dict[str, FieldInfo] = {}
    for raw in doc.get("fields") or ():
        if not isinstance(raw, Mapping) or not raw.get("key"):
            continue
        key = str(raw["key"])
        size = raw.get("size")
        precision = raw.get("precision")
        fields[key] = FieldInfo(
            key=key,
            title=str(raw.get("title") or key),
            unit=_opt_str(raw.get("unit")),
            kind=str(raw.get("kind") or "float"),
            device_class=_opt_str(raw.get("device_class")),
            state_class=_opt_str(raw.get("state_class")),
            precision=precision if isinstance(precision, int) and not isinstance(precision, bool) else None,
            diagnostic=raw.get("diagnostic") is True,
            role=_opt_str(raw.get("role")),
            group=_opt_str(raw.get("group")),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            options=_strings(raw.get("options")),
            metric=_opt_str(raw.get("metric")),
            metric_scale=_opt_float(raw.get("metric_scale")) or 1.0,
        )
    settings: dict[str, SettingInfo] = {}
    for raw in doc.get("settings") or ():
        if not isinstance(raw, Mapping) or not raw.get("key"):
            continue
        key = str(raw["key"])
        options = _strings(raw.get("options"))
        settings[key] = SettingInfo(
            key=key,
            title=str(raw.get("title") or key),
            type="select" if options else "number",
            options=options,
            minimum=_opt_float(raw.get("min")),
            maximum=_opt_float(raw.get("max")),
            step=_opt_float(raw.get("step")),
            unit=_opt_str(raw.get("unit")),
            readback=_opt_str(raw.get("readback")),
        )
    queries = _strings(doc.get("queries")) or ()
    return Catalog(dict(doc["device"]), fields, settings, queries)

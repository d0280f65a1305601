"""Core layer: what a user shapes about a device's output — filters, names, multipliers.

One `Shape` per configured device (its URL options, or the same keys in the YAML file,
core/config_file.py), applied by the reader at ONE point (services/reader.py) to the field
table and to the values it publishes, so state, catalogue, HA discovery and metrics all
follow from the shaped table and no consumer re-derives anything:

    include=a;b             publish only these fields (the rest are dropped everywhere)
    exclude=c;d             never publish these fields
    rename=key:Title;…      a field's friendly name (its title; the JSON key stays the key)
    scale=key:F[:UNIT];…    value * F, published in UNIT (W * 0.001 -> kW): state, catalogue and
                            HA show kW; metrics stay in base units (`_watts`, value * 1000 back)
    exclude_devices=id;…    sub-devices (a parallel unit `<device>_unit2`, a microinverter by
                            its serial) never published
    device_titles=id:Title;…  a sub-device's friendly name, by its id or serial number

Items are `;`-separated because `<SERVICE>_DEVICES` separates URLs with commas. The device's
own friendly name is the existing `title=` option.

Energy counters integrate the raw values (before any multiplier) and the reader keeps its
internal state raw: shaping is for what leaves the process. A multiplier on a setting key or
a setting's read-back field is refused (set and read-back would disagree with the device).

Pure: no I/O, no MQTT, no protocol.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from solarstack.core.errors import ConfigError
from solarstack.core.fields import UNITS, Field, FieldTable, Kind, Reading, Setting, Value

#: The URL options (and YAML device keys) that shape a device.
OPTIONS = ("include", "exclude", "rename", "scale", "exclude_devices", "device_titles")
#: Keys that are always published: the timestamp and the stale flag are not fields.
_ALWAYS = frozenset({"ts", "stale"})


class Scale(NamedTuple):
    factor: float
    unit: str | None  # None: the field's own unit


class Shape(NamedTuple):
    """A user's rules for one device (and its sub-devices); the empty Shape changes nothing."""

    include: frozenset[str] | None = None  # None: every field
    exclude: frozenset[str] = frozenset()
    rename: Mapping[str, str] = {}
    scale: Mapping[str, Scale] = {}
    exclude_devices: frozenset[str] = frozenset()
    device_titles: Mapping[str, str] = {}

    @property
    def empty(self) -> bool:
        return self == Shape()

    def keeps(self, key: str) -> bool:
        if key in _ALWAYS:
            return True
        if key in self.exclude:
            return False
        return self.include is None or key in self.include

    def field(self, f: Field) -> Field:
        """One row as published: renamed, and rescaled with its unit."""
        title = self.rename.get(f.key)
        if title is not None:
            f = f._replace(label=title)
        rule = self.scale.get(f.key)
        if rule is None:
            return f
        unit = rule.unit if rule.unit is not None else f.unit
        precision = f.precision
        if precision is not None:  # * 0.001: three more decimals are worth showing
            precision = max(0, precision + round(-math.log10(abs(rule.factor))))
        kind = Kind.FLOAT if f.kind is Kind.INT else f.kind
        # the unit changes the HA device class it implies: keep an explicit one only if the
        # new unit still means the same (a W field keeps "power" as kW)
        device_class = f.device_class
        if unit != f.unit and device_class is not None and unit is not None and UNITS[unit].device_class:
            device_class = UNITS[unit].device_class
        return f._replace(unit=unit, precision=precision, kind=kind, device_class=device_class)

    def table(self, fields: Iterable[Field]) -> FieldTable:
        return tuple(self.field(f) for f in fields if self.keeps(f.key))

    def values(self, values: Mapping[str, Value]) -> dict[str, Value]:
        """The values as published: kept keys only, multipliers applied."""
        out: dict[str, Value] = {}
        for key, value in values.items():
            if not self.keeps(key):
                continue
            rule = self.scale.get(key)
            out[key] = value if rule is None else _scaled(value, rule.factor)
        return out

    def unshaped(self, values: Mapping[str, Value]) -> dict[str, Value]:
        """Published values back in the device's units (a retained state read back as the
        energy counters' floor): multipliers undone."""
        out = dict(values)
        for key, rule in self.scale.items():
            if key in out:
                out[key] = _scaled(out[key], 1.0 / rule.factor)
        return out

    def reading(self, reading: Reading) -> Reading:
        return Reading(reading.device, reading.ts, self.values(reading.values), self.table(reading.fields))

    def keeps_device(self, device_id: str, serial: str | None = None) -> bool:
        """A sub-device is published unless its id or serial number is excluded."""
        return device_id not in self.exclude_devices and (serial is None or serial not in self.exclude_devices)

    def device_title(self, device_id: str, serial: str | None, default: str) -> str:
        return self.device_titles.get(device_id) or (self.device_titles.get(serial) if serial else None) or default

    def check_settings(self, device: str, settings: Iterable[Setting]) -> None:
        """A multiplier on a setting (or its read-back field) would break set/read-back."""
        for s in settings:
            for key in (s.key, s.readback):
                if key and key in self.scale:
                    raise ConfigError(
                        f"{device}: scale on {key!r} is refused: it is the setting {s.key!r} (or its read-back);"
                        " remove the multiplier or turn settings off for this reader"
                    )


def _scaled(value: Value, factor: float) -> Value:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_round(float(v) * factor) for v in value]
    return _round(float(value) * factor)


def _round(x: float) -> float:
    # 3 * 0.1 is 0.30000000000000004: ten significant digits are more than any sensor has
    return float(f"{x:.10g}")


# --- parsing: URL options and YAML values share these ------------------------------------


def _items(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(";") if item.strip()]


def _pairs(where: str, option: str, raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in _items(raw):
        key, sep, title = item.partition(":")
        if not sep or not key.strip() or not title.strip():
            raise ConfigError(f"{where}: {option}={item!r} is not key:Title (items separated by ';')")
        out[key.strip()] = title.strip()
    return out


def parse_scale(where: str, key: str, text: str) -> Scale:
    """`0.001`, `0.001:kW` or `0.001 kW` -> Scale; ConfigError names the item."""
    factor_text, _, unit_text = text.strip().replace(" ", ":", 1).partition(":")
    unit = unit_text.strip() or None
    try:
        factor = float(factor_text)
    except ValueError:
        raise ConfigError(f"{where}: scale for {key!r}: {factor_text!r} is not a number, e.g. 0.001:kW") from None
    if not math.isfinite(factor) or factor == 0:
        raise ConfigError(f"{where}: scale for {key!r} must be a non-zero number, got {factor_text!r}")
    if unit is not None and unit not in UNITS:
        raise ConfigError(f"{where}: scale for {key!r}: unknown unit {unit!r}; known: {', '.join(UNITS)}")
    return Scale(factor, unit)


def from_options(where: str, options: Mapping[str, str]) -> Shape:
    """The Shape a device URL's options give (`where` names the URL in errors)."""
    if not any(options.get(o) for o in OPTIONS):
        return Shape()
    include = frozenset(_items(options["include"])) if options.get("include") else None
    exclude = frozenset(_items(options.get("exclude", "")))
    both = (include or frozenset()) & exclude
    if both:
        raise ConfigError(f"{where}: {', '.join(sorted(both))} both included and excluded; keep one")
    scale: dict[str, Scale] = {}
    for item in _items(options.get("scale", "")):
        key, sep, rest = item.partition(":")
        if not sep or not key.strip():
            raise ConfigError(f"{where}: scale={item!r} is not key:factor[:unit], e.g. pv_input_power:0.001:kW")
        scale[key.strip()] = parse_scale(where, key.strip(), rest)
    return Shape(
        include=include,
        exclude=exclude,
        rename=_pairs(where, "rename", options.get("rename", "")),
        scale=scale,
        exclude_devices=frozenset(_items(options.get("exclude_devices", ""))),
        device_titles=_pairs(where, "device_titles", options.get("device_titles", "")),
    )


def check_table(where: str, shape: Shape, fields: Iterable[Field]) -> None:
    """Multipliers are for numbers, and a new unit must measure what the old one did
    (W -> kW, not W -> V); ConfigError otherwise. Unknown keys are not errors: a field a
    firmware reports later (or only with another schedule) may be named before it exists."""
    by_key = {f.key: f for f in fields}
    for key, rule in shape.scale.items():
        f = by_key.get(key)
        if f is None:
            continue
        if f.kind not in (Kind.FLOAT, Kind.INT, Kind.ARRAY):
            raise ConfigError(f"{where}: scale for {key!r}: it is a {f.kind} field, not a number")
        changes = rule.unit is not None and f.unit is not None and rule.unit != f.unit
        if changes and UNITS[rule.unit or ""].metric_suffix != UNITS[f.unit or ""].metric_suffix:
            raise ConfigError(f"{where}: scale for {key!r}: {f.unit} cannot become {rule.unit} (a different quantity)")

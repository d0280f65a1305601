"""Core layer: the field-spec type — one row per value a device reports.

A command or frame is described as data: a tuple of frozen `Field`s (a field table).
A protocol's generic decoder walks its table, and the same rows drive the MQTT JSON
keys, Home Assistant discovery, Prometheus metric names, collector fields and UI
labels. A device quirk is a row, not an `if`. Settings a device accepts are `Setting`
rows, also data. This module holds types and unit facts only: no I/O, no protocol.

The row types are immutable NamedTuples rather than dataclasses: `solarstack query`
loads them on every run, and the dataclasses module (with the inspect module it pulls
in) costs ~10 ms of a one-shot start-up that is benchmarked against the mpp-solar CLI.
Change one with `row._replace(kind=...)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class Kind(StrEnum):
    FLOAT = "float"  # number, raw * scale
    INT = "int"  # whole number, raw * scale
    TEXT = "text"  # kept as a string (serial numbers, versions)
    ENUM = "enum"  # raw -> label through `options`
    BOOL = "bool"  # one bit of a bit string / integer (`bit`), or a flag letter
    ARRAY = "array"  # a list of numbers (cell voltages); flattened by metrics and collector


class Unit(NamedTuple):
    """What a unit means downstream: HA device_class and the Prometheus base unit."""

    device_class: str | None
    metric_suffix: str  # Prometheus base-unit suffix ("" = unitless)
    to_base: float = 1.0  # multiply a value in this unit to get the base unit


#: Units we emit. Anything not here is rejected by tests (a typo in a table is a bug).
UNITS: Mapping[str, Unit] = {
    "V": Unit("voltage", "volts"),
    "mV": Unit("voltage", "volts", 0.001),
    "A": Unit("current", "amperes"),
    "mA": Unit("current", "amperes", 0.001),
    "W": Unit("power", "watts"),
    "kW": Unit("power", "watts", 1000.0),
    "VA": Unit("apparent_power", "voltamperes"),
    "Hz": Unit("frequency", "hertz"),
    "°C": Unit("temperature", "celsius"),
    "%": Unit(None, "ratio", 0.01),
    "Wh": Unit("energy", "joules", 3600.0),
    "kWh": Unit("energy", "joules", 3.6e6),
    "Ah": Unit(None, "coulombs", 3600.0),
    "mAh": Unit(None, "coulombs", 3.6),
    "s": Unit("duration", "seconds"),
    "min": Unit("duration", "seconds", 60.0),
    "h": Unit("duration", "seconds", 3600.0),
    "hPa": Unit("atmospheric_pressure", "hectopascals"),
    "mΩ": Unit(None, "ohms", 0.001),
    "dBm": Unit("signal_strength", "dbm"),
    "km/h": Unit("wind_speed", "kilometres_per_hour"),
    "mm": Unit("precipitation", "millimetres"),
    "W/m²": Unit("irradiance", "watts_per_square_metre"),
    "°": Unit(None, "degrees"),
    "g/m³": Unit(None, "grams_per_cubic_metre"),  # absolute humidity
}


#: `Field.state_class` of a number HA must keep no statistics of: a forecast in kWh is neither a
#: meter ("total": HA would sum its ups and downs and offer it to the Energy dashboard) nor a
#: measurement (which HA refuses for energy). HA's own forecast integrations give it none too.
NO_STATISTICS = ""


class Field(NamedTuple):
    """One value a device reports.

    `pos` is the token index for ASCII protocols or the byte offset for binary ones;
    `fmt` is the struct format for binary ones. `bit` picks one character of a bit
    string (index from the left) or one bit of an integer. `options` maps raw text to
    an enum label. `state_class` None means "a measurement" for a number and nothing for
    text, enums and flags; `NO_STATISTICS` means no state class for a number either.
    """

    key: str
    pos: int = 0
    kind: Kind = Kind.FLOAT
    unit: str | None = None
    scale: float = 1.0
    fmt: str | None = None
    bit: int | str | None = None
    options: Mapping[str, str] | None = None
    device_class: str | None = None
    state_class: str | None = None
    diagnostic: bool = False
    label: str = ""
    icon: str | None = None
    role: str | None = None  # what the value means to consumers: one of core.catalog.ROLES
    group: str | None = None  # where it belongs on a page: one of core.catalog.GROUPS
    precision: int | None = None  # decimals worth showing (HA suggested_display_precision)
    # A series (a 48-hour forecast) shown in HA as an attribute of the entity of this field key,
    # not as entities of its own; metrics, catalogue and collector still see the row.
    attribute_of: str | None = None
    expire_after: int | None = None  # seconds without a state update before HA shows it unavailable

    @property
    def title(self) -> str:
        """Human name for HA, the UI and the CLI: the row's label, else its key in words."""
        if self.label:
            return self.label
        words = [_ACRONYMS.get(w, w) for w in self.key.split("_")]
        return " ".join(words)[:1].upper() + " ".join(words)[1:]

    @property
    def numeric(self) -> bool:
        return self.kind in (Kind.FLOAT, Kind.INT)

    @property
    def ha_device_class(self) -> str | None:
        """The HA device_class: explicit on the row, else implied by the unit."""
        if self.device_class is not None:
            return self.device_class
        if self.kind is Kind.ENUM:
            return "enum"
        if self.unit is not None and self.numeric:
            return UNITS[self.unit].device_class
        return None

    @property
    def ha_state_class(self) -> str | None:
        if self.state_class is not None:
            return self.state_class or None  # NO_STATISTICS
        return "measurement" if self.numeric else None


#: Words written in capitals in titles ("ac_input_voltage" -> "AC input voltage").
_ACRONYMS: Mapping[str, str] = {
    w: w.upper()
    for w in (
        "ac",
        "dc",
        "pv",
        "pv1",
        "pv2",
        "scc",
        "soc",
        "soh",
        "bms",
        "mos",
        "mosfet",
        "cpu",
        "id",
        "ups",
        "sbu",
        "eeprom",
        "led",
        "ntc",
        "rssi",
        "mppt",
        "cv",
        "lcd",
        "usb",
    )
}

FieldTable = tuple[Field, ...]
Value = float | int | str | bool | list[float] | list[int] | None


class Setting(NamedTuple):
    """A value a device accepts, for HA select/number entities and the web console.

    `options` (select) or `minimum`/`maximum`/`step` (number) are the static bounds;
    a protocol may narrow them at run time (battery voltage ranges scale with the
    nominal voltage, charge currents come from the device's own list).
    """

    key: str
    label: str
    options: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    unit: str | None = None
    readback: str | None = None  # field key (in `readback_command`) that shows the value
    readback_command: str | None = None
    icon: str | None = None

    @property
    def component(self) -> str:
        return "select" if self.options else "number"


class Reading(NamedTuple):
    """Decoded values of one answer, stamped (UTC) when the device answered.

    `units`: readings of the devices behind this one that came in the same answer (a
    Hoymiles DTU's microinverters), one per unit device (devices/parallel.py `Unit`).
    """

    device: str
    ts: datetime
    values: dict[str, Value]
    fields: FieldTable
    units: tuple[Reading, ...] = ()

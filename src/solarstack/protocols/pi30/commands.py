"""Protocols layer (PI30): every command as data — one field table per query.

Pure data plus name resolution; must not do I/O, parse frames (codec.py does) or
check setting values (setters.py does).
The row helpers, the command constructors and `CommandIndex` (a family's commands by
name and the lookup of a command text) are the PI family's: PI41, PI18, PI17 and PI16 use them.

Row conventions, shared by the decoder and `format_fields` (its inverse):
  * `pos` is the 0-based index of the space-separated token in the reply payload.
  * `fmt` is the firmware's text format of that token (a Python format spec such as
    `05.1f` -> `230.0`, `04d` -> `0161`); for BOOL rows it is the width of the bit
    string and `bit` the character index from the left (b7 of `00110110` is bit 0).
  * `scale` converts the raw number to the unit (QET reports Wh; we publish kWh).
Sources (facts only, our own tables): Voltronic "Communication Protocol" PDFs for
PI30 (Axpert/InfiniSolar HS/MS) and PI30MAX (LV6048MAX class); jblance/mpp-solar
mppsolar/protocols/pi30*.py for firmware field variants; replies quoted in public
issue threads (tests/protocols/pi30_frames.py names them) for what devices really send.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Generic, NamedTuple, Protocol, TypedDict, TypeVar

from solarstack.core.errors import ConfigError
from solarstack.core.fields import Field, FieldTable, Kind
from solarstack.protocols.pi30 import enums


class Style(StrEnum):
    """How a reply payload splits into tokens."""

    TOKENS = "tokens"  # space-separated fields (most queries)
    WHOLE = "whole"  # the whole payload is one token (names, versions, may hold spaces)
    FLAGS = "flags"  # QFLAG: `E<enabled letters>D<disabled letters>`
    NONE = "none"  # setters: the reply is ACK or NAK


class Command(NamedTuple):
    """One PI30 command. Parameterised ones (`QPGSn`, `QEDyyyymmdd`, setters) carry a
    regular expression the full command text must match; `example` is valid text."""

    name: str
    description: str
    fields: FieldTable = ()
    pattern: re.Pattern[str] | None = None
    read_only: bool = True
    style: Style = Style.TOKENS
    prefix: str = ""  # stripped from a WHOLE payload (`VERFW:00072.70`)
    example: str = ""

    @property
    def text(self) -> str:
        """A valid command text (for listings and tests)."""
        return self.example or self.name


class _Named(Protocol):
    """What CommandIndex reads of a family's command type (PI30's, PI18's, PI17's …)."""

    @property
    def name(self) -> str: ...
    @property
    def fields(self) -> FieldTable: ...
    @property
    def pattern(self) -> re.Pattern[str] | None: ...
    @property
    def read_only(self) -> bool: ...


C = TypeVar("C", bound=_Named)


class CommandIndex(Generic[C]):
    """A family's commands by name, and which one a command text belongs to — one lookup for
    every PI family (each module binds its own `COMMANDS`, `lookup`, `table`, `is_query`)."""

    def __init__(self, family: str, commands: Iterable[C]) -> None:
        self.family = family
        self.commands: Mapping[str, C] = MappingProxyType({c.name: c for c in commands})
        # Exact names first; patterns are tried only when the text is not a plain name.
        self._exact = {c.name: c for c in self.commands.values() if c.pattern is None}
        self._patterned = tuple(c for c in self.commands.values() if c.pattern is not None)

    def lookup(self, command: str) -> C:
        """The Command a command text belongs to (`QPGS1` -> QPGSn, `POP02` -> POP).

        Raises ConfigError (one line, with where to find the list) for anything else.
        """
        found = self._exact.get(command)
        if found is not None:
            return found
        for candidate in self._patterned:
            assert candidate.pattern is not None
            if candidate.pattern.fullmatch(command):
                return candidate
        family = self.family
        raise ConfigError(
            f"unknown {family} command {command!r}; `solarstack commands --protocol {family.lower()}` lists them"
        )

    def table(self, command: str) -> FieldTable:
        """The field table of a query (empty for setters)."""
        return self.lookup(command).fields

    def is_query(self, command: str) -> bool:
        """True only for a known read-only query: what the MQTT `query` topic may send."""
        try:
            return self.lookup(command).read_only
        except ConfigError:
            return False


# --- row helpers: keep the tables one line per field ---------------------------
#
# `role` and `group` (core/catalog.py ROLES, GROUPS) ride on the rows as keywords, or
# once for a whole uniform table (`_every`). A key that several queries report (QPIGS
# and QPGSn both have `battery_voltage`) carries the same role and group in each.
# `precision` is the firmware's resolution, read off the row's own format and scale
# (`05.1f` -> 1 decimal; `02.0f` of 10 mV in V -> 2), so it cannot drift from them.


class Marks(TypedDict, total=False):
    """Keywords a row or a whole table shares: `**WARNING` on a row, `every(rows, RATING)`."""

    role: str
    group: str


WARNING: Final[Marks] = {"role": "warning", "group": "warnings"}
RATING: Final[Marks] = {"role": "rating", "group": "ratings"}
STATUS: Final[Marks] = {"group": "status"}


def decimals(fmt: str, scale: float = 1.0) -> int:
    """Decimals of a value written as `fmt` and multiplied by `scale` (`02.0f`, 0.01 -> 2)."""
    written = int(fmt.rpartition(".")[2].rstrip("f") or 0) if fmt.endswith("f") else 0
    return written + len(f"{scale:g}".partition(".")[2])


def num(key: str, pos: int, unit: str | None, fmt: str, *, scale: float = 1.0, **kw: Any) -> Field:
    kw.setdefault("precision", decimals(fmt, scale))
    return Field(key, pos, Kind.FLOAT, unit, scale=scale, fmt=fmt, **kw)


def whole(key: str, pos: int, unit: str | None, fmt: str, **kw: Any) -> Field:
    kw.setdefault("precision", 0)
    return Field(key, pos, Kind.INT, unit, fmt=fmt, **kw)


def choice(key: str, pos: int, options: Mapping[str, str], **kw: Any) -> Field:
    return Field(key, pos, Kind.ENUM, options=options, **kw)


def text(key: str, pos: int = 0, *, diagnostic: bool = True, **kw: Any) -> Field:
    kw.setdefault("group", "status")
    return Field(key, pos, Kind.TEXT, diagnostic=diagnostic, **kw)


def flag(key: str, pos: int, *, bit: int | str = 0, width: int = 1, **kw: Any) -> Field:
    return Field(key, pos, Kind.BOOL, bit=bit, fmt=str(width), **kw)


def bits(
    pos: int,
    width: int,
    names: Iterable[tuple[int, str]],
    marks: Mapping[str, Marks] | None = None,
    **kw: Any,
) -> FieldTable:
    """One flag per named bit; `marks` gives single bits their own keywords (a problem bit
    among status bits)."""
    marks = marks or {}
    return tuple(flag(key, pos, bit=bit, width=width, **{**kw, **marks.get(key, {})}) for bit, key in names)


def every(rows: Iterable[Field], marks: Marks) -> FieldTable:
    """A uniform table's role / group, set once on every row that does not name its own."""
    role, group = marks.get("role"), marks.get("group")
    return tuple(f._replace(role=f.role or role, group=f.group or group) for f in rows)


def rated(key: str, pos: int, unit: str, fmt: str) -> Field:
    return num(key, pos, unit, fmt, diagnostic=True)


def energy(key: str) -> Field:
    """MAX-class energy counters: 8 digits of Wh on the wire, published in kWh."""
    return num(key, 0, "kWh", "08.0f", scale=0.001, state_class="total_increasing", group="energy")


def options_row(key: str) -> Field:
    """QMCHGCR / QMUCHGCR: the list of charge currents the unit offers, in A."""
    return Field(key, 0, Kind.ARRAY, "A", fmt="03d", diagnostic=True, precision=0, **RATING)


# --- queries -------------------------------------------------------------------

QPIGS: FieldTable = (
    num("ac_input_voltage", 0, "V", "05.1f", group="grid"),
    num("ac_input_frequency", 1, "Hz", "04.1f", group="grid"),
    num("ac_output_voltage", 2, "V", "05.1f", group="output"),
    num("ac_output_frequency", 3, "Hz", "04.1f", group="output"),
    whole("ac_output_apparent_power", 4, "VA", "04d", group="output"),
    whole("ac_output_active_power", 5, "W", "04d", role="load_power", group="output"),
    whole("ac_output_load", 6, "%", "03d", group="output"),
    whole("bus_voltage", 7, "V", "03d", group="status"),
    num("battery_voltage", 8, "V", "05.2f", role="battery_voltage", group="battery"),
    whole("battery_charging_current", 9, "A", "03d", role="battery_charge_current", group="battery"),
    whole("battery_capacity", 10, "%", "03d", device_class="battery", role="soc", group="battery"),
    whole("heat_sink_temperature", 11, "°C", "04d", role="temperature", group="temperature"),
    # "0014" on HS firmware, "02.7" on MAX firmware: float either way.
    num("pv_input_current", 12, "A", "04.1f", group="pv"),
    num("pv_input_voltage", 13, "V", "05.1f", group="pv"),
    # the charge controller's own reading of the same battery: shown, never "the" battery voltage
    num("battery_voltage_scc", 14, "V", "05.2f", group="battery"),
    whole("battery_discharge_current", 15, "A", "05d", role="battery_discharge_current", group="battery"),
    *bits(16, 8, enums.QPIGS_STATUS_BITS, **STATUS),
    # Reported in units of 10 mV; a configured offset, not a measurement.
    num("battery_voltage_offset_for_fans", 17, "V", "02.0f", scale=0.01, diagnostic=True, **RATING),
    text("eeprom_version", 18),
    whole("pv_input_power", 19, "W", "05d", role="pv_power", group="pv"),
    *bits(20, 3, enums.QPIGS_STATUS2_BITS, **STATUS),
    # PI30MAX firmware appends these three.
    choice("solar_feed_to_grid", 21, enums.ON_OFF, **RATING),
    text("country", 22, **RATING),
    # export only, >= 0: not grid_power (+ import / - export), which the reader derives
    whole("solar_feed_to_grid_power", 23, "W", "04d", group="grid"),
)

QPIGS2: FieldTable = (
    num("pv2_input_current", 0, "A", "04.1f", group="pv"),
    num("pv2_input_voltage", 1, "V", "05.1f", group="pv"),
    # a second string: pv_power rows add up (core/catalog.py ROLES)
    whole("pv2_input_power", 2, "W", "05d", role="pv_power", group="pv"),
)

# Rated values and the settings in force: every row is a rating.
QPIRI: FieldTable = every(
    (
        rated("rated_grid_voltage", 0, "V", "05.1f"),
        rated("rated_input_current", 1, "A", "04.1f"),
        rated("rated_ac_output_voltage", 2, "V", "05.1f"),
        rated("rated_ac_output_frequency", 3, "Hz", "04.1f"),
        rated("rated_ac_output_current", 4, "A", "04.1f"),
        whole("rated_ac_output_apparent_power", 5, "VA", "04d", diagnostic=True),
        whole("rated_ac_output_active_power", 6, "W", "04d", diagnostic=True),
        rated("rated_battery_voltage", 7, "V", "04.1f"),
        num("battery_recharge_voltage", 8, "V", "04.1f"),
        num("battery_under_voltage", 9, "V", "04.1f"),
        num("battery_bulk_voltage", 10, "V", "04.1f"),
        num("battery_float_voltage", 11, "V", "04.1f"),
        choice("battery_type", 12, enums.BATTERY_TYPE),
        whole("max_ac_charging_current", 13, "A", "02d"),
        whole("max_charging_current", 14, "A", "03d"),
        choice("input_voltage_range", 15, enums.INPUT_VOLTAGE_RANGE),
        choice("output_source_priority", 16, enums.OUTPUT_SOURCE_PRIORITY),
        choice("charger_source_priority", 17, enums.CHARGER_SOURCE_PRIORITY),
        whole("max_parallel_units", 18, None, "d", diagnostic=True),  # "-" on units without parallel kit
        choice("machine_type", 19, enums.MACHINE_TYPE, diagnostic=True),
        choice("topology", 20, enums.TOPOLOGY, diagnostic=True),
        choice("output_mode", 21, enums.OUTPUT_MODE),
        num("battery_redischarge_voltage", 22, "V", "04.1f"),
        choice("pv_ok_condition", 23, enums.PV_OK_CONDITION),
        choice("pv_power_balance", 24, enums.PV_POWER_BALANCE),
        whole("max_cv_charging_time", 25, "min", "03d"),
        choice("operation_logic", 26, enums.OPERATION_LOGIC),
        whole("max_discharging_current", 27, "A", "03d"),
    ),
    RATING,
)

# device_class "problem": HA and the web show these as alarms, not plain on/off states
QPIWS: FieldTable = bits(0, 32, enums.QPIWS_BITS, device_class="problem", **WARNING)

QDI: FieldTable = every(
    (
        num("default_ac_output_voltage", 0, "V", "05.1f", diagnostic=True),
        num("default_ac_output_frequency", 1, "Hz", "04.1f", diagnostic=True),
        whole("default_max_ac_charging_current", 2, "A", "04d", diagnostic=True),
        num("default_battery_under_voltage", 3, "V", "04.1f", diagnostic=True),
        num("default_battery_float_voltage", 4, "V", "04.1f", diagnostic=True),
        num("default_battery_bulk_voltage", 5, "V", "04.1f", diagnostic=True),
        num("default_battery_recharge_voltage", 6, "V", "04.1f", diagnostic=True),
        whole("default_max_charging_current", 7, "A", "02d", diagnostic=True),
        choice("default_input_voltage_range", 8, enums.INPUT_VOLTAGE_RANGE, diagnostic=True),
        choice("default_output_source_priority", 9, enums.OUTPUT_SOURCE_PRIORITY, diagnostic=True),
        choice("default_charger_source_priority", 10, enums.CHARGER_SOURCE_PRIORITY, diagnostic=True),
        choice("default_battery_type", 11, enums.BATTERY_TYPE, diagnostic=True),
        # The buzzer digit is inverted (0 = enabled) in every QDI listing we found.
        choice("default_buzzer", 12, enums.ON_OFF_INVERTED, diagnostic=True),
        choice("default_power_saving", 13, enums.ON_OFF, diagnostic=True),
        choice("default_overload_restart", 14, enums.ON_OFF, diagnostic=True),
        choice("default_over_temperature_restart", 15, enums.ON_OFF, diagnostic=True),
        choice("default_backlight", 16, enums.ON_OFF, diagnostic=True),
        choice("default_primary_source_interrupt_alarm", 17, enums.ON_OFF, diagnostic=True),
        choice("default_fault_code_record", 18, enums.ON_OFF, diagnostic=True),
        choice("default_overload_bypass", 19, enums.ON_OFF, diagnostic=True),
        choice("default_lcd_return_to_default", 20, enums.ON_OFF, diagnostic=True),
        choice("default_output_mode", 21, enums.OUTPUT_MODE, diagnostic=True),
        num("default_battery_redischarge_voltage", 22, "V", "04.1f", diagnostic=True),
        choice("default_pv_ok_condition", 23, enums.PV_OK_CONDITION, diagnostic=True),
        choice("default_pv_power_balance", 24, enums.PV_POWER_BALANCE, diagnostic=True),
        whole("default_max_cv_charging_time", 25, "min", "03d", diagnostic=True),
        whole("default_max_discharging_current", 26, "A", "03d", diagnostic=True),
    ),
    RATING,
)

#: QPGSn status bits that report a problem; the others are plain status.
_QPGS_PROBLEMS = {"battery_open": WARNING, "battery_under": WARNING, "line_loss": WARNING}

# Unit n of a parallel system; keys shared with QPIGS / QPIRI carry the same role and group.
QPGS: FieldTable = (
    flag("parallel_valid", 0, diagnostic=True, group="status"),
    text("serial_number", 1),
    choice("mode", 2, enums.MODE, role="mode", group="status"),
    text("fault_code", 3, diagnostic=False, **WARNING),  # "00": no fault
    num("ac_input_voltage", 4, "V", "05.1f", group="grid"),
    num("ac_input_frequency", 5, "Hz", "05.2f", group="grid"),
    num("ac_output_voltage", 6, "V", "05.1f", group="output"),
    num("ac_output_frequency", 7, "Hz", "05.2f", group="output"),
    whole("ac_output_apparent_power", 8, "VA", "04d", group="output"),
    whole("ac_output_active_power", 9, "W", "04d", role="load_power", group="output"),
    whole("ac_output_load", 10, "%", "03d", group="output"),
    num("battery_voltage", 11, "V", "04.1f", role="battery_voltage", group="battery"),
    whole("battery_charging_current", 12, "A", "03d", role="battery_charge_current", group="battery"),
    whole("battery_capacity", 13, "%", "03d", device_class="battery", role="soc", group="battery"),
    num("pv_input_voltage", 14, "V", "05.1f", group="pv"),
    # system totals: what every unit together does (the per-unit rows above carry the roles)
    whole("total_charging_current", 15, "A", "03d", group="battery"),
    whole("total_ac_output_apparent_power", 16, "VA", "05d", group="output"),
    whole("total_ac_output_active_power", 17, "W", "05d", group="output"),
    whole("total_ac_output_load", 18, "%", "03d", group="output"),
    *bits(19, 8, enums.QPGS_STATUS_BITS, _QPGS_PROBLEMS, **STATUS),
    choice("output_mode", 20, enums.OUTPUT_MODE, **RATING),
    choice("charger_source_priority", 21, enums.CHARGER_SOURCE_PRIORITY, **RATING),
    whole("max_charging_current", 22, "A", "03d", **RATING),
    whole("max_charging_range", 23, "A", "03d", diagnostic=True, **RATING),
    whole("max_ac_charging_current", 24, "A", "02d", **RATING),
    num("pv_input_current", 25, "A", "02.0f", group="pv"),
    whole("battery_discharge_current", 26, "A", "03d", role="battery_discharge_current", group="battery"),
    num("pv2_input_voltage", 27, "V", "05.1f", group="pv"),
    num("pv2_input_current", 28, "A", "02.0f", group="pv"),
)

Q1: FieldTable = (
    whole("absorb_time_remaining", 0, "s", "05d", group="battery"),
    whole("float_time_remaining", 1, "s", "05d", group="battery"),
    choice("scc_status", 2, enums.SCC_STATUS, diagnostic=True, group="status"),
    text("allow_scc_on", 3),
    whole("charge_average_current", 4, "A", "02d", group="battery"),
    whole("scc_pwm_temperature", 5, "°C", "03d", role="temperature", group="temperature"),
    whole("inverter_temperature", 6, "°C", "03d", role="temperature", group="temperature"),
    whole("battery_temperature", 7, "°C", "03d", role="temperature", group="temperature"),
    whole("transformer_temperature", 8, "°C", "03d", role="temperature", group="temperature"),
    text("gpio13", 9),
    # "00" / "01": the second digit; QPIWS has fan_locked
    flag("fan_lock_detected", 10, bit=1, width=2, **WARNING),
    whole("fan_pwm_speed", 12, "%", "04d", group="status"),
    # what the charge controller puts into the battery: part of pv_power, not more of it
    whole("scc_charge_power", 13, "W", "04d", group="pv"),
    text("parallel_warning", 14, **WARNING),
    num("sync_frequency", 15, "Hz", "05.2f", group="output"),
    choice("charge_stage", 16, enums.CHARGE_STAGE, group="battery"),
)

QBEQI: FieldTable = (
    flag("equalization_enabled", 0, **RATING),
    whole("equalization_time", 1, "min", "03d", **RATING),
    whole("equalization_period", 2, "h", "03d", scale=24.0, **RATING),  # reported in days
    whole("equalization_max_current", 3, "A", "03d", **RATING),
    num("equalization_voltage", 5, "V", "05.2f", **RATING),
    whole("equalization_over_time", 7, "min", "03d", **RATING),
    flag("equalization_active", 8, group="battery"),
    whole("equalization_elapsed_time", 9, "h", "04d", group="battery"),
)

QLED: FieldTable = every(
    (
        flag("led_enabled", 0),
        choice("led_speed", 1, enums.LED_SPEED),
        choice("led_effect", 2, enums.LED_EFFECT),
        whole("led_brightness", 3, None, "d"),
        whole("led_colors", 4, None, "d"),
        text("led_rgb", 5, **RATING),
    ),
    RATING,
)


QOPPT: FieldTable = every(
    (
        *(choice(f"output_priority_hour_{hour:02d}", hour, enums.OUTPUT_SOURCE_PRIORITY) for hour in range(24)),
        choice("output_priority_device", 24, enums.OUTPUT_SOURCE_PRIORITY),
        *(choice(f"output_priority_order_{n}", 24 + n, enums.OUTPUT_SOURCE_PRIORITY) for n in (1, 2, 3)),
    ),
    RATING,
)

QCHPT: FieldTable = every(
    (
        *(choice(f"charger_priority_hour_{hour:02d}", hour, enums.TIMED_CHARGER_PRIORITY) for hour in range(24)),
        choice("charger_priority_device", 24, enums.TIMED_CHARGER_PRIORITY),
        *(choice(f"charger_priority_order_{n}", 24 + n, enums.TIMED_CHARGER_PRIORITY) for n in (1, 2, 3)),
    ),
    RATING,
)


# Lithium BMS values as the inverter sees them (MKS2-class firmware; jblance/mpp-solar pi30m054.py).
# The BMS's own SOC as relayed: no soc role (QPIGS battery_capacity is this device's soc).
QBMS: FieldTable = (
    choice("bms_link", 0, enums.BMS_LINK, group="status"),
    whole("bms_battery_capacity", 1, "%", "03d", device_class="battery", group="battery"),
    flag("bms_force_charging", 2, group="battery"),
    flag("bms_stop_discharge", 3, group="battery"),
    flag("bms_stop_charge", 4, group="battery"),
    num("bms_bulk_voltage", 5, "V", "03.0f", scale=0.1, **RATING),  # reported in 0.1 V
    num("bms_float_voltage", 6, "V", "03.0f", scale=0.1, **RATING),
    num("bms_cut_off_voltage", 7, "V", "03.0f", scale=0.1, **RATING),
    whole("bms_max_charging_current", 8, "A", "04d", **RATING),
    whole("bms_max_discharging_current", 9, "A", "04d", **RATING),
)


# --- command constructors (PI41's tables use them too) ----------------------------


def query(name: str, description: str, fields: FieldTable, **kw: Any) -> Command:
    """A plain query."""
    return Command(name, description, fields, **kw)


def parameterised(name: str, description: str, fields: FieldTable, regex: str, example: str) -> Command:
    """A query whose text carries a parameter (`QPGS1`): `regex` matches the full text."""
    return Command(name, description, fields, pattern=re.compile(regex), example=example)


def setter(name: str, description: str, regex: str, example: str) -> Command:
    """A setter (reply ACK / NAK); setters.py builds and range-checks its text."""
    return Command(name, description, (), re.compile(regex), False, Style.NONE, example=example)


_QUERIES: tuple[Command, ...] = (
    query("QPI", "protocol id", (text("protocol_id"),), style=Style.WHOLE),
    query("QID", "serial number", (text("serial_number"),), style=Style.WHOLE),
    # The first two digits give the serial's length; kept raw (firmware differ on padding).
    query("QSID", "serial number (long form)", (text("serial_number_long"),), style=Style.WHOLE),
    query("QVFW", "main CPU firmware version", (text("main_cpu_firmware"),), style=Style.WHOLE, prefix="VERFW:"),
    query(
        "QVFW2", "second CPU firmware version", (text("secondary_cpu_firmware"),), style=Style.WHOLE, prefix="VERFW2:"
    ),
    query(
        "QVFW3", "remote panel firmware version", (text("remote_panel_firmware"),), style=Style.WHOLE, prefix="VERFW3:"
    ),
    query("QMN", "model name", (text("model_name"),), style=Style.WHOLE),
    query("QGMN", "general model number", (text("general_model_number"),), style=Style.WHOLE),
    query("QPIRI", "rated information and current settings", QPIRI),
    query(
        "QFLAG",
        "enabled/disabled flags",
        tuple(flag(key, 0, bit=letter, **RATING) for letter, key in enums.FLAG_LETTERS),
        style=Style.FLAGS,
    ),
    query("QPIGS", "general status", QPIGS),
    query("QPIGS2", "general status, second PV input (MAX)", QPIGS2),
    query("QMOD", "device mode", (choice("mode", 0, enums.MODE, role="mode", group="status"),), style=Style.WHOLE),
    query("QPIWS", "warning status", QPIWS),
    query("QDI", "default settings", QDI),
    query("QMCHGCR", "selectable max charging currents", (options_row("charging_current_options"),)),
    query("QMUCHGCR", "selectable max utility charging currents", (options_row("utility_charging_current_options"),)),
    query("QBOOT", "DSP has bootstrap", (flag("dsp_bootstrap", 0, diagnostic=True, group="status"),)),
    query("QOPM", "output mode", (choice("output_mode", 0, enums.OUTPUT_MODE_2DIGIT, **RATING),)),
    parameterised("QPGSn", "parallel system status of unit n", QPGS, r"QPGS(\d)", "QPGS0"),
    query("Q1", "SCC and temperature status", Q1),
    query("QBEQI", "battery equalization status", QBEQI),
    query("QBMS", "lithium BMS information", QBMS),
    # No energy roles here: the reader integrates pv_energy / load_energy for every PI30
    # (protocols/pi30/energy.py), and a device has one row per energy role.
    query("QET", "total PV energy (MAX)", (energy("pv_energy_total"),)),
    parameterised("QEYyyyy", "PV energy of a year (MAX)", (energy("pv_energy_year"),), r"QEY(\d{4})", "QEY2024"),
    parameterised("QEMyyyymm", "PV energy of a month (MAX)", (energy("pv_energy_month"),), r"QEM(\d{6})", "QEM202401"),
    parameterised("QEDyyyymmdd", "PV energy of a day (MAX)", (energy("pv_energy_day"),), r"QED(\d{8})", "QED20240115"),
    query("QLT", "total load energy (MAX)", (energy("load_energy_total"),)),
    parameterised("QLYyyyy", "load energy of a year (MAX)", (energy("load_energy_year"),), r"QLY(\d{4})", "QLY2024"),
    parameterised(
        "QLMyyyymm", "load energy of a month (MAX)", (energy("load_energy_month"),), r"QLM(\d{6})", "QLM202401"
    ),
    parameterised(
        "QLDyyyymmdd", "load energy of a day (MAX)", (energy("load_energy_day"),), r"QLD(\d{8})", "QLD20240115"
    ),
    query("QLED", "LED ring status (MAX)", QLED),
    query("QT", "device clock yyyymmddhhmmss (MAX)", (text("device_time"),), style=Style.WHOLE),
    query("QOPPT", "output source priority by hour (MAX)", QOPPT),
    query("QCHPT", "charger source priority by hour (MAX)", QCHPT),
)

# --- setters (reply ACK / NAK); setters.py builds and range-checks their text -----

_FLAG_CHARS = "".join(letter for letter, _ in enums.FLAG_LETTERS)

_SETTERS: tuple[Command, ...] = (
    setter("POP", "output source priority", r"POP0[0-2]", "POP02"),
    setter("PCP", "charger source priority", r"PCP0[0-3]", "PCP03"),
    setter("PGR", "AC input voltage range", r"PGR0[01]", "PGR00"),
    setter("PBT", "battery type", r"PBT0[0-2]", "PBT01"),
    setter("PBCV", "battery re-charge voltage", r"PBCV\d\d\.\d", "PBCV46.0"),
    setter("PBDV", "battery re-discharge voltage", r"PBDV\d\d\.\d", "PBDV54.0"),
    setter("PBFT", "battery float voltage", r"PBFT\d\d\.\d", "PBFT54.0"),
    setter("PCVV", "battery bulk (C.V.) voltage", r"PCVV\d\d\.\d", "PCVV56.4"),
    setter("PSDV", "battery cut-off voltage", r"PSDV\d\d\.\d", "PSDV42.0"),
    # <unit><amps>: two or three amp digits by firmware (setters.Pi30Context.current_digits).
    setter("MCHGC", "max charging current", r"MCHGC\d{3,4}", "MCHGC060"),
    setter("MNCHGC", "max charging current of 100 A and more", r"MNCHGC\d{4}", "MNCHGC0120"),
    setter("MUCHGC", "max utility charging current", r"MUCHGC\d{3,4}", "MUCHGC030"),
    setter("PE", "enable flags", rf"PE[{_FLAG_CHARS}]+", "PEa"),
    setter("PD", "disable flags", rf"PD[{_FLAG_CHARS}]+", "PDa"),
    setter("F", "output frequency", r"F(50|60)", "F50"),
    setter("POPM", "output mode of a parallel unit", r"POPM\d[0-7]", "POPM00"),
    setter("PPCP", "charger priority of a parallel unit", r"PPCP\d0[0-3]", "PPCP001"),
    setter("PSPB", "solar power balance", r"PSPB[01]", "PSPB1"),
    setter("PBATCD", "battery charge/discharge control", r"PBATCD[01]{3}", "PBATCD010"),
    setter("PBATMAXDISC", "max battery discharge current", r"PBATMAXDISC(000|0[3-9]\d|1[0-4]\d|150)", "PBATMAXDISC030"),
    setter("BTA", "battery voltage calibration", r"BTA[-+]0\d", "BTA+01"),
    # yyyymmddhhmmss on MAX firmware, yymmddhhmmss on LV6548-class (setters.Pi30Context.short_clock).
    setter("DAT", "device clock", r"DAT(\d{14}|\d{12})", "DAT20240115123000"),
    setter("PF", "restore default settings", r"PF", "PF"),
    setter("PSAVE", "save settings to EEPROM", r"PSAVE", "PSAVE"),
    setter("POPLG", "operation logic", r"POPLG0[0-2]", "POPLG00"),
    setter("PPVOKC", "PV OK condition", r"PPVOKC[01]", "PPVOKC0"),
)

_INDEX = CommandIndex("PI30", (*_QUERIES, *_SETTERS))
#: Every command by name (parameterised ones under their pattern name, e.g. `QPGSn`).
COMMANDS: Mapping[str, Command] = _INDEX.commands
lookup, table, is_query = _INDEX.lookup, _INDEX.table, _INDEX.is_query

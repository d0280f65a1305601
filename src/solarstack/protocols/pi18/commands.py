"""Protocols layer (PI18): every command as data — one field table per query.

Pure data plus name resolution; must not do I/O, parse frames (codec.py does) or
check setting values (setters.py does).

Row conventions (the PI30 tables' helpers, protocols/pi30/commands.py, so both
families mean the same by a row):
  * `pos` is the 0-based index of the comma-separated field in the reply payload.
  * `fmt` is the firmware's text of the raw number (`04.0f`: `2300`) and `scale` takes
    it to the unit: PI18 sends voltages, frequencies and AC currents as whole numbers of
    0.1 V / 0.1 Hz / 0.1 A (`2300` = 230.0 V), so those rows carry `scale=0.1`, and
    their precision (1 decimal) follows from format and scale.
  * A 0/1 field is a BOOL row (`flag`), read from its single character.
  * Keys that PI30 also reports (`ac_input_voltage`, `battery_capacity`,
    `output_source_priority` …) are the same keys with the same role and group, so the
    catalogue, HA and the web treat a PI18 unit like a PI30 one.

Sources (facts only, our own tables): the "InfiniSolar V protocol" PDF (2017-09-26, in
jblance/mpp-solar docs/protocols/) for every field; jblance/mpp-solar's
`pi18` and `pi18sv` protocol definitions (mppsolar/protocols/) for what units really
send. Energy units disagree: the PDF says ET, EY and EM are kWh and ED is Wh; mpp-solar's
`pi18` reads ET in Wh, its `pi18sv` (Easun SV) ET in kWh and EY/EM/ED in Wh. A recorded
EY reply of 05580051 (`pi18`) is 5.58 MWh in Wh and impossible in kWh, so EY/EM/ED are
read as Wh and ET as kWh (`pi18sv` and the PDF); all four are published in kWh.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from solarstack.core.errors import ConfigError
from solarstack.core.fields import Field, FieldTable, Kind
from solarstack.protocols.pi18 import enums
from solarstack.protocols.pi30.commands import RATING, WARNING, CommandIndex, choice, flag, num, text, whole


class Style(StrEnum):
    """How a reply payload splits into fields."""

    TOKENS = "tokens"  # comma-separated fields (most queries)
    WHOLE = "whole"  # the whole payload is one field (protocol id, mode, clock)
    SERIAL = "serial"  # ID: two digits give how many of the following digits are the serial
    NONE = "none"  # setters: the reply is ^1 or ^0


class Command(NamedTuple):
    """One PI18 command. Parameterised ones (`EDyyyymmdd`, setters) carry a regular
    expression the full command text must match; `example` is valid text."""

    name: str
    description: str
    fields: FieldTable = ()
    pattern: re.Pattern[str] | None = None
    read_only: bool = True
    style: Style = Style.TOKENS
    example: str = ""

    @property
    def text(self) -> str:
        """A valid command text (for listings and tests)."""
        return self.example or self.name


# --- row helpers ------------------------------------------------------------------


def tenths(key: str, pos: int, unit: str, width: int, **kw: Any) -> Field:
    """A value sent as a whole number of 0.1 `unit` (`2300` -> 230.0 V)."""
    return num(key, pos, unit, f"0{width}.0f", scale=0.1, **kw)


def rating(row: Field) -> Field:
    """A configured or rated value: never charted (core/catalog.py ROLES `rating`)."""
    return row._replace(role=row.role or RATING["role"], group=row.group or RATING["group"])


def energy(key: str, unit_scale: float) -> Field:
    """8 digits of energy on the wire (Wh: scale 0.001; kWh: 1), published in kWh."""
    return num(key, 0, "kWh", "08.0f", scale=unit_scale, state_class="total_increasing", group="energy")


# --- queries ------------------------------------------------------------------------

# Rated values and the settings in force: every row is a rating.
PIRI: FieldTable = tuple(
    rating(row)
    for row in (
        tenths("rated_grid_voltage", 0, "V", 4, diagnostic=True),
        tenths("rated_input_current", 1, "A", 3, diagnostic=True),
        tenths("rated_ac_output_voltage", 2, "V", 4, diagnostic=True),
        tenths("rated_ac_output_frequency", 3, "Hz", 3, diagnostic=True),
        tenths("rated_ac_output_current", 4, "A", 3, diagnostic=True),
        whole("rated_ac_output_apparent_power", 5, "VA", "04d", diagnostic=True),
        whole("rated_ac_output_active_power", 6, "W", "04d", diagnostic=True),
        tenths("rated_battery_voltage", 7, "V", 3, diagnostic=True),
        tenths("battery_recharge_voltage", 8, "V", 3),
        tenths("battery_redischarge_voltage", 9, "V", 3),  # 0.0: only when the battery is full
        tenths("battery_under_voltage", 10, "V", 3),
        tenths("battery_bulk_voltage", 11, "V", 3),
        tenths("battery_float_voltage", 12, "V", 3),
        choice("battery_type", 13, enums.BATTERY_TYPE),
        # two digits in the PDF; three from every recorded unit (EG4 `030`, Easun SV `050`)
        whole("max_ac_charging_current", 14, "A", "03d"),
        whole("max_charging_current", 15, "A", "03d"),
        choice("input_voltage_range", 16, enums.INPUT_VOLTAGE_RANGE),
        choice("output_source_priority", 17, enums.OUTPUT_SOURCE_PRIORITY),
        choice("charger_source_priority", 18, enums.CHARGER_SOURCE_PRIORITY),
        whole("max_parallel_units", 19, None, "d", diagnostic=True),
        choice("machine_type", 20, enums.MACHINE_TYPE, diagnostic=True),
        choice("topology", 21, enums.TOPOLOGY, diagnostic=True),
        choice("output_mode", 22, enums.OUTPUT_MODE),
        choice("solar_power_priority", 23, enums.SOLAR_POWER_PRIORITY),
        whole("mppt_strings", 24, None, "d", diagnostic=True),
        # Every recorded unit sends a 26th field (`00`) the PDF does not name: kept as extra_25.
    )
)

GS: FieldTable = (
    tenths("ac_input_voltage", 0, "V", 4, group="grid"),
    tenths("ac_input_frequency", 1, "Hz", 3, group="grid"),
    tenths("ac_output_voltage", 2, "V", 4, group="output"),
    tenths("ac_output_frequency", 3, "Hz", 3, group="output"),
    whole("ac_output_apparent_power", 4, "VA", "04d", group="output"),
    whole("ac_output_active_power", 5, "W", "04d", role="load_power", group="output"),
    whole("ac_output_load", 6, "%", "03d", group="output"),
    tenths("battery_voltage", 7, "V", 3, role="battery_voltage", group="battery"),
    # the charge controllers' own readings of the same battery: shown, never "the" battery voltage
    tenths("battery_voltage_scc", 8, "V", 3, group="battery"),
    tenths("battery_voltage_scc2", 9, "V", 3, group="battery"),
    whole("battery_discharge_current", 10, "A", "03d", role="battery_discharge_current", group="battery"),
    whole("battery_charging_current", 11, "A", "03d", role="battery_charge_current", group="battery"),
    whole("battery_capacity", 12, "%", "03d", device_class="battery", role="soc", group="battery"),
    whole("heat_sink_temperature", 13, "°C", "03d", role="temperature", group="temperature"),
    whole("mppt_charger_temperature", 14, "°C", "03d", role="temperature", group="temperature"),
    whole("mppt2_charger_temperature", 15, "°C", "03d", role="temperature", group="temperature"),
    # two strings: pv_power rows add up (core/catalog.py ROLES)
    whole("pv_input_power", 16, "W", "04d", role="pv_power", group="pv"),
    whole("pv2_input_power", 17, "W", "04d", role="pv_power", group="pv"),
    tenths("pv_input_voltage", 18, "V", 4, group="pv"),
    tenths("pv2_input_voltage", 19, "V", 4, group="pv"),
    flag("configuration_changed", 20, group="status"),
    choice("mppt_charger_status", 21, enums.MPPT_STATUS, group="pv"),
    choice("mppt2_charger_status", 22, enums.MPPT_STATUS, group="pv"),
    flag("load_on", 23, group="status"),
    choice("battery_power_direction", 24, enums.BATTERY_DIRECTION, group="battery"),
    choice("converter_power_direction", 25, enums.CONVERTER_DIRECTION, group="status"),
    choice("line_power_direction", 26, enums.LINE_DIRECTION, group="grid"),
    whole("parallel_id", 27, None, "d", diagnostic=True, group="status"),
)

# Fault code ("00": none; the PDF lists 01-86) and 16 warning flags. device_class
# "problem": HA and the web show these as alarms, not plain on/off states.
FWS: FieldTable = (
    text("fault_code", 0, diagnostic=False, **WARNING),
    *(flag(key, pos, device_class="problem", **WARNING) for pos, key in enumerate(enums.FWS_FLAGS, start=1)),
)

FLAG: FieldTable = tuple(flag(key, pos, **RATING) for pos, (_, key) in enumerate(enums.FLAG_LETTERS))

# Unit n of a parallel system (PGSn); keys shared with GS carry the same role and group,
# the system totals none (a total is not this unit's load or battery current).
PGS: FieldTable = (
    flag("parallel_valid", 0, diagnostic=True, group="status"),
    choice("mode", 1, enums.PARALLEL_MODE, role="mode", group="status"),
    text("fault_code", 2, diagnostic=False, **WARNING),
    tenths("ac_input_voltage", 3, "V", 4, group="grid"),
    tenths("ac_input_frequency", 4, "Hz", 3, group="grid"),
    tenths("ac_output_voltage", 5, "V", 4, group="output"),
    tenths("ac_output_frequency", 6, "Hz", 3, group="output"),
    whole("ac_output_apparent_power", 7, "VA", "04d", group="output"),
    whole("ac_output_active_power", 8, "W", "04d", role="load_power", group="output"),
    whole("total_ac_output_apparent_power", 9, "VA", "05d", group="output"),
    whole("total_ac_output_active_power", 10, "W", "05d", group="output"),
    whole("ac_output_load", 11, "%", "03d", group="output"),
    whole("total_ac_output_load", 12, "%", "03d", group="output"),
    tenths("battery_voltage", 13, "V", 3, role="battery_voltage", group="battery"),
    whole("battery_discharge_current", 14, "A", "03d", role="battery_discharge_current", group="battery"),
    whole("battery_charging_current", 15, "A", "03d", role="battery_charge_current", group="battery"),
    whole("total_charging_current", 16, "A", "03d", group="battery"),
    whole("battery_capacity", 17, "%", "03d", device_class="battery", role="soc", group="battery"),
    whole("pv_input_power", 18, "W", "04d", role="pv_power", group="pv"),
    whole("pv2_input_power", 19, "W", "04d", role="pv_power", group="pv"),
    tenths("pv_input_voltage", 20, "V", 4, group="pv"),
    tenths("pv2_input_voltage", 21, "V", 4, group="pv"),
    choice("mppt_charger_status", 22, enums.MPPT_STATUS, group="pv"),
    choice("mppt2_charger_status", 23, enums.MPPT_STATUS, group="pv"),
    flag("load_on", 24, group="status"),
    choice("battery_power_direction", 25, enums.BATTERY_DIRECTION, group="battery"),
    choice("converter_power_direction", 26, enums.CONVERTER_DIRECTION, group="status"),
    choice("line_power_direction", 27, enums.LINE_DIRECTION, group="grid"),
    whole("max_temperature", 28, "°C", "03d", role="temperature", group="temperature"),
)

VFW: FieldTable = (
    text("main_cpu_firmware", 0),
    text("secondary_cpu_firmware", 1),
    text("tertiary_cpu_firmware", 2),
)


def _options(key: str) -> Field:
    return Field(key, 0, Kind.ARRAY, "A", fmt="03d", diagnostic=True, precision=0, **RATING)


def _q(name: str, description: str, fields: FieldTable, **kw: Any) -> Command:
    return Command(name, description, fields, **kw)


def _param(name: str, description: str, fields: FieldTable, regex: str, example: str) -> Command:
    return Command(name, description, fields, pattern=re.compile(regex), example=example)


def _set(name: str, description: str, regex: str, example: str) -> Command:
    return Command(name, description, (), re.compile(regex), False, Style.NONE, example=example)


_MONTH = r"(0[1-9]|1[0-2])"
_DAY = r"(0[1-9]|[12][0-9]|3[01])"

_QUERIES: tuple[Command, ...] = (
    _q("PI", "protocol id", (text("protocol_id"),), style=Style.WHOLE),
    _q("ID", "serial number", (text("serial_number"),), style=Style.SERIAL),
    _q("VFW", "CPU firmware versions", VFW),
    _q("T", "device clock yyyymmddhhmmss", (text("device_time"),), style=Style.WHOLE),
    _q("PIRI", "rated information and current settings", PIRI),
    _q("GS", "general status", GS),
    _q("MOD", "working mode", (choice("mode", 0, enums.MODE, role="mode", group="status"),), style=Style.WHOLE),
    _q("FWS", "fault and warning status", FWS),
    _q("FLAG", "enabled/disabled flags", FLAG),
    _param("PGSn", "parallel system status of unit n", PGS, r"PGS([0-9])", "PGS0"),
    _q("MCHGCR", "selectable max charging currents", (_options("charging_current_options"),)),
    _q("MUCHGCR", "selectable max utility charging currents", (_options("utility_charging_current_options"),)),
    # No energy roles: a reader integrates pv_energy from pv_input_power, and a device has
    # one row per energy role (as for PI30's QET family).
    _q("ET", "total PV energy", (energy("pv_energy_total", 1.0),)),
    _param("EYyyyy", "PV energy of a year", (energy("pv_energy_year", 0.001),), r"EY([0-9]{4})", "EY2024"),
    _param(
        "EMyyyymm", "PV energy of a month", (energy("pv_energy_month", 0.001),), rf"EM([0-9]{{4}}){_MONTH}", "EM202401"
    ),
    _param(
        "EDyyyymmdd",
        "PV energy of a day",
        (energy("pv_energy_day", 0.001),),
        rf"ED([0-9]{{4}}){_MONTH}{_DAY}",
        "ED20240115",
    ),
)

_FLAG_CHARS = "".join(letter for letter, _ in enums.FLAG_LETTERS)

# Setters (reply ^1 / ^0); setters.py builds and range-checks their text. <m> is the
# parallel machine number (0 on a single unit), <nnn> tenths of a volt or whole amps.
_SETTERS: tuple[Command, ...] = (
    _set("POP", "output source priority", r"POP[01]", "POP1"),
    _set("PCP", "charger source priority (unit m)", r"PCP[0-9],[0-2]", "PCP0,1"),
    _set("PSP", "solar power priority", r"PSP[01]", "PSP1"),
    _set("PGR", "AC input voltage range", r"PGR[01]", "PGR0"),
    _set("PBT", "battery type", r"PBT[0-2]", "PBT2"),
    _set("MCHGC", "max charging current (unit m)", r"MCHGC[0-9],[0-9]{3}", "MCHGC0,060"),
    _set("MUCHGC", "max utility charging current (unit m)", r"MUCHGC[0-9],[0-9]{3}", "MUCHGC0,030"),
    _set("MCHGV", "battery bulk (C.V.) and float voltages", r"MCHGV[0-9]{3},[0-9]{3}", "MCHGV564,540"),
    _set("PSDV", "battery cut-off voltage", r"PSDV[0-9]{3}", "PSDV450"),
    _set("BUCD", "battery re-charge and re-discharge voltages", r"BUCD[0-9]{3},[0-9]{3}", "BUCD460,540"),
    _set("PE", "enable a flag", rf"PE[{_FLAG_CHARS}]", "PEA"),
    _set("PD", "disable a flag", rf"PD[{_FLAG_CHARS}]", "PDA"),
)

_INDEX = CommandIndex("PI18", (*_QUERIES, *_SETTERS))
#: Every command by name (parameterised ones under their pattern name).
COMMANDS: Mapping[str, Command] = _INDEX.commands
lookup, table, is_query = _INDEX.lookup, _INDEX.table, _INDEX.is_query


#: The date argument of each energy query: period -> (prefix, how many of yyyymmdd it takes).
ENERGY_PERIODS: Mapping[str, tuple[str, int]] = MappingProxyType(
    {"year": ("EY", 4), "month": ("EM", 6), "day": ("ED", 8)}
)


def energy_command(period: str, day: date) -> str:
    """The query text for the PV energy of the year, month or day containing `day`
    (`energy_command("day", date(2024, 1, 15))` -> `ED20240115`)."""
    spec = ENERGY_PERIODS.get(period)
    if spec is None:
        raise ConfigError(f"PI18 energy period {period!r}: use one of {', '.join(ENERGY_PERIODS)}")
    prefix, digits = spec
    return prefix + f"{day.year:04d}{day.month:02d}{day.day:02d}"[:digits]

"""Protocols layer (PI16): every command as data — one field table per query.

Pure data plus name resolution; must not do I/O or parse frames (codec.py does).

Row conventions (the PI30 tables' helpers, protocols/pi30/commands.py):
  * `pos` is the 0-based index of the space-separated token in the reply payload; `fmt`
    is the firmware's text of it (`05.1f` -> `224.6`).
  * A row with `bit` reads part of a token: characters `bit` .. `bit + width` (`fmt` is
    the width), a BOOL row `1` / `0`, an ENUM row through its options. QPIGS's status
    token `D---110001` is read that way (its first character is not described).
  * A token or part made only of `-` (and `.`) is "not supported" (the notes: "not
    supported options have the corresponding indexes filled with -") and is omitted, not
    read as 0 as PI30 does.
  * Keys that PI30, PI18 or PI17 also report are the same keys with the same role, group
    and unit.

Sources (facts only, our own tables): "Voltronic Power SUNNY protocol" v1.2 (jblance/mpp-solar
docs/protocols/PI16_VoltronicPowerSUNNYProtocol.md) and jblance/mpp-solar
mppsolar/protocols/pi16.py. QPIGS field 1 / 3 ("output power / current") are the grid side
of the inverter: a recorded reply shows 24 W with the status saying "feeding the grid", so
they are `grid_output_power` / `grid_output_current`, magnitudes without a grid_power role
(the sign is the status's line direction).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from solarstack.core.errors import ConfigError
from solarstack.core.fields import Field, FieldTable
from solarstack.protocols.pi16 import enums
from solarstack.protocols.pi30.commands import RATING, WARNING, CommandIndex, bits, choice, flag, num, text, whole


class Style(StrEnum):
    """How a reply payload splits into tokens."""

    TOKENS = "tokens"  # space-separated fields (most queries)
    WHOLE = "whole"  # the whole payload is one token (protocol id, mode, versions)


class Command(NamedTuple):
    """One PI16 command. The energy queries carry a regular expression their full text
    must match and end in the decimal sum (`summed`); `example` is valid text."""

    name: str
    description: str
    fields: FieldTable = ()
    pattern: re.Pattern[str] | None = None
    read_only: bool = True
    style: Style = Style.TOKENS
    prefix: str = ""  # stripped from a WHOLE payload (`VERFW:00000.27`)
    example: str = ""
    summed: bool = False

    @property
    def text(self) -> str:
        """A valid command text (for listings and tests)."""
        return self.example or self.name


def part(key: str, pos: int, start: int, width: int, options: Mapping[str, str], **kw: Any) -> Field:
    """An ENUM read from `width` characters of token `pos` from `start`."""
    return choice(key, pos, options, bit=start, fmt=str(width), **kw)


def energy(key: str, width: int) -> Field:
    """Digits of Wh on the wire, published in kWh."""
    return num(key, 0, "kWh", f"0{width}.0f", scale=0.001, state_class="total_increasing", group="energy")


_STATUS = 21  # QPIGS's status token: V b8 b7 … b0

QPIGS: FieldTable = (
    num("ac_input_voltage", 0, "V", "05.1f", group="grid"),
    whole("grid_output_power", 1, "W", "06d", group="grid"),
    num("ac_input_frequency", 2, "Hz", "04.1f", group="grid"),
    num("grid_output_current", 3, "A", "06.1f", group="grid"),
    num("ac_output_voltage", 4, "V", "05.1f", group="output"),
    whole("ac_output_active_power", 5, "W", "05d", role="load_power", group="output"),
    num("ac_output_frequency", 6, "Hz", "04.1f", group="output"),
    num("ac_output_current", 7, "A", "05.1f", group="output"),
    whole("ac_output_load", 8, "%", "03d", group="output"),
    num("pbus_voltage", 9, "V", "05.1f", group="status"),
    num("sbus_voltage", 10, "V", "05.1f", group="status"),
    num("battery_voltage", 11, "V", "05.1f", role="battery_voltage", group="battery"),
    num("battery_voltage_negative", 12, "V", "05.1f", group="battery"),  # split-battery units
    whole("battery_capacity", 13, "%", "03d", device_class="battery", role="soc", group="battery"),
    # three strings: pv_power rows add up (core/catalog.py ROLES)
    whole("pv_input_power", 14, "W", "05d", role="pv_power", group="pv"),
    whole("pv2_input_power", 15, "W", "05d", role="pv_power", group="pv"),
    whole("pv3_input_power", 16, "W", "05d", role="pv_power", group="pv"),
    num("pv_input_voltage", 17, "V", "05.1f", group="pv"),
    num("pv2_input_voltage", 18, "V", "05.1f", group="pv"),
    num("pv3_input_voltage", 19, "V", "05.1f", group="pv"),
    num("max_temperature", 20, "°C", "05.1f", role="temperature", group="temperature"),
    flag("grid_connected", _STATUS, bit=1, width=10, group="grid"),  # b8
    flag("load_on", _STATUS, bit=4, width=10, group="status"),  # b5
    part("battery_power_direction", _STATUS, 5, 2, enums.BATTERY_STATE, group="battery"),  # b4 b3
    part("converter_power_direction", _STATUS, 7, 1, enums.CONVERTER_DIRECTION, group="status"),  # b2
    part("line_power_direction", _STATUS, 8, 2, enums.LINE_DIRECTION, group="grid"),  # b1 b0
)

# Rated values: every row is a rating (keys as PI17's PIRI, which has the same fields).
QPIRI: FieldTable = tuple(
    row._replace(role=RATING["role"], group=RATING["group"], diagnostic=True)
    for row in (
        num("rated_grid_voltage", 0, "V", "05.1f"),
        num("rated_input_frequency", 1, "Hz", "04.1f"),
        num("rated_input_current", 2, "A", "05.1f"),
        num("rated_ac_output_voltage", 3, "V", "05.1f"),
        num("rated_ac_output_current", 4, "A", "05.1f"),
        num("rated_mppt_current", 5, "A", "04.1f"),  # per PV input
        num("rated_battery_voltage", 6, "V", "05.1f"),
        whole("mppt_strings", 7, None, "d"),
        choice("machine_type", 8, enums.MACHINE_TYPE),
        choice("topology", 9, enums.TOPOLOGY),
    )
)


def _q(name: str, description: str, fields: FieldTable, **kw: Any) -> Command:
    return Command(name, description, fields, **kw)


def _energy(name: str, description: str, key: str, width: int, regex: str, example: str) -> Command:
    return Command(name, description, (energy(key, width),), pattern=re.compile(regex), example=example, summed=True)


_MONTH = r"(0[1-9]|1[0-2])"
_DAY = r"(0[1-9]|[12][0-9]|3[01])"
_HOUR = r"([01][0-9]|2[0-3])"

_QUERIES: tuple[Command, ...] = (
    _q("QPI", "protocol id", (text("protocol_id"),), style=Style.WHOLE),
    _q("QID", "serial number", (text("serial_number"),), style=Style.WHOLE),
    _q("QVFW", "main CPU firmware version", (text("main_cpu_firmware"),), style=Style.WHOLE, prefix="VERFW:"),
    _q(
        "QVFW2",
        "secondary CPU firmware version",
        (text("secondary_cpu_firmware"),),
        style=Style.WHOLE,
        prefix="VERFW2:",
    ),
    _q("QPIRI", "rated information", QPIRI),
    _q("QPIGS", "general status", QPIGS),
    _q("QMOD", "working mode", (choice("mode", 0, enums.MODE, role="mode", group="status"),), style=Style.WHOLE),
    # 128 characters, b0 first; `-`: not supported. device_class "problem": shown as alarms.
    _q("QPIWS", "warning status", bits(0, 128, enums.WARNING_BITS, device_class="problem", **WARNING)),
    # No energy roles: a reader integrates pv_energy from pv_input_power (as for PI30's QED).
    _energy("QEYyyyy", "PV energy of a year", "pv_energy_year", 8, r"QEY([0-9]{4})", "QEY2024"),
    _energy("QEMyyyymm", "PV energy of a month", "pv_energy_month", 7, rf"QEM([0-9]{{4}}){_MONTH}", "QEM202401"),
    _energy("QEDyyyymmdd", "PV energy of a day", "pv_energy_day", 6, rf"QED([0-9]{{4}}){_MONTH}{_DAY}", "QED20240115"),
    _energy(
        "QEHyyyymmddhh",
        "PV energy of an hour",
        "pv_energy_hour",
        5,
        rf"QEH([0-9]{{4}}){_MONTH}{_DAY}{_HOUR}",
        "QEH2024011512",
    ),
)

_INDEX = CommandIndex("PI16", _QUERIES)
#: Every command by name (parameterised ones under their pattern name).
COMMANDS: Mapping[str, Command] = _INDEX.commands
lookup, table, is_query = _INDEX.lookup, _INDEX.table, _INDEX.is_query


#: The date argument of each energy query: period -> (prefix, how many of yyyymmdd it takes).
ENERGY_PERIODS: Mapping[str, tuple[str, int]] = MappingProxyType(
    {"year": ("QEY", 4), "month": ("QEM", 6), "day": ("QED", 8)}
)


def energy_command(period: str, day: date) -> str:
    """The query text for the PV energy of the year, month or day containing `day`
    (`energy_command("day", date(2015, 6, 20))` -> `QED20150620`; framing adds the sum)."""
    spec = ENERGY_PERIODS.get(period)
    if spec is None:
        raise ConfigError(f"PI16 energy period {period!r}: use one of {', '.join(ENERGY_PERIODS)}")
    prefix, digits = spec
    return prefix + f"{day.year:04d}{day.month:02d}{day.day:02d}"[:digits]

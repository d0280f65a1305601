"""Protocols layer (PI17): every command as data — one field table per query.

Pure data plus name resolution; must not do I/O, parse frames (codec.py does) or
check setting values (setters.py does).

Row conventions (the PI30 tables' helpers, protocols/pi30/commands.py, so the family
means the same by a row):
  * `pos` is the 0-based index of the comma-separated field in the reply payload.
  * `fmt` is the firmware's text of the raw number and `scale` takes it to the unit:
    PI17 sends voltages and currents as whole numbers of 0.1 V / 0.1 A and frequencies of
    0.01 Hz (`2389` = 238.9 V, `5002` = 50.02 Hz); signed values carry `+`/`-`.
  * A 0/1 field is a BOOL row (`flag`).
  * Keys that PI30 or PI18 also report are the same keys with the same role, group and
    unit. Three-phase units report R, S and T: the plain key is the R phase for voltages,
    currents and frequencies (a single-phase unit fills only R), `_s` / `_t` the others;
    for powers the plain key is the *total* (what PI30's key means for a house), and the
    phases are `_r` / `_s` / `_t`. The device measures its grid power (PS, + import), so
    PS carries `grid_power` and `battery_power` itself.

Sources (facts only, our own tables): the "Infini-Solar 5KW protocol" PDF (2016-03-09) and
the "Infini-Solar WP LV6K / 3P 10-15K / TWIN protocol" PDF (2022-09-21), in jblance/mpp-solar
docs/protocols/, for every field; jblance/mpp-solar mppsolar/protocols/pi17.py for what units
send. They disagree on GS's PV currents (2016 PDF: 0.1 A; 2022 PDF and mpp-solar: 0.01 A):
we read 0.01 A. The 2022 PDF adds GS field 25 (L1-L2 output angle), PIRI fields 11-15,
WS fields W-X and BATS fields 18-21; a shorter reply from an older unit simply omits them.
Energy: ET in kWh, EY/EM/ED/EH in Wh (both PDFs), all published in kWh.
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
from solarstack.protocols.pi17 import enums
from solarstack.protocols.pi30.commands import RATING, WARNING, CommandIndex, choice, flag, num, text, whole


class Style(StrEnum):
    """How a reply payload splits into fields."""

    TOKENS = "tokens"  # comma-separated fields (most queries)
    WHOLE = "whole"  # the whole payload is one field (protocol id, mode, clock, versions)
    SERIAL = "serial"  # ID: two digits give how many of the following digits are the serial
    NONE = "none"  # setters: the reply is ^1 or ^0


class Command(NamedTuple):
    """One PI17 command. Parameterised ones (`EDyyyymmdd`, setters) carry a regular
    expression the full command text must match; `example` is valid text. `summed`
    queries end in the three-digit decimal sum (framing.py)."""

    name: str
    description: str
    fields: FieldTable = ()
    pattern: re.Pattern[str] | None = None
    read_only: bool = True
    style: Style = Style.TOKENS
    prefix: str = ""  # stripped from a WHOLE payload (`VERFW:00001.01`)
    example: str = ""
    summed: bool = False

    @property
    def text(self) -> str:
        """A valid command text (for listings and tests)."""
        return self.example or self.name


# --- row helpers ------------------------------------------------------------------


def tenths(key: str, pos: int, unit: str, width: int, **kw: Any) -> Field:
    """A value sent as a whole number of 0.1 `unit` (`2389` -> 238.9 V)."""
    return num(key, pos, unit, f"0{width}.0f", scale=0.1, **kw)


def hundredths(key: str, pos: int, unit: str, width: int, **kw: Any) -> Field:
    """A value sent as a whole number of 0.01 `unit` (`5002` -> 50.02 Hz)."""
    return num(key, pos, unit, f"0{width}.0f", scale=0.01, **kw)


def signed(key: str, pos: int, unit: str, width: int, *, scale: float = 1.0, **kw: Any) -> Field:
    """A value with its sign always written (`+00000`, `-00855`): whole, or in `scale` steps."""
    if scale == 1.0:
        return whole(key, pos, unit, f"+0{width + 1}d", **kw)
    return num(key, pos, unit, f"+0{width + 1}.0f", scale=scale, **kw)


def rating(row: Field) -> Field:
    """A configured or rated value: never charted (core/catalog.py ROLES `rating`)."""
    return row._replace(role=row.role or RATING["role"], group=row.group or RATING["group"])


def energy(key: str, unit_scale: float, width: int = 8) -> Field:
    """Digits of energy on the wire (Wh: scale 0.001; kWh: 1), published in kWh."""
    return num(key, 0, "kWh", f"0{width}.0f", scale=unit_scale, state_class="total_increasing", group="energy")


# --- queries ------------------------------------------------------------------------

GS: FieldTable = (
    tenths("pv_input_voltage", 0, "V", 4, group="pv"),
    tenths("pv2_input_voltage", 1, "V", 4, group="pv"),
    hundredths("pv_input_current", 2, "A", 4, group="pv"),
    hundredths("pv2_input_current", 3, "A", 4, group="pv"),
    tenths("battery_voltage", 4, "V", 4, role="battery_voltage", group="battery"),
    whole("battery_capacity", 5, "%", "03d", device_class="battery", role="soc", group="battery"),
    signed("battery_current", 6, "A", 5, scale=0.1, role="battery_current", group="battery"),  # + charge
    tenths("ac_input_voltage", 7, "V", 4, group="grid"),
    tenths("ac_input_voltage_s", 8, "V", 4, group="grid"),
    tenths("ac_input_voltage_t", 9, "V", 4, group="grid"),
    hundredths("ac_input_frequency", 10, "Hz", 4, group="grid"),
    tenths("ac_input_current", 11, "A", 4, group="grid"),
    tenths("ac_input_current_s", 12, "A", 4, group="grid"),
    tenths("ac_input_current_t", 13, "A", 4, group="grid"),
    tenths("ac_output_voltage", 14, "V", 4, group="output"),
    tenths("ac_output_voltage_s", 15, "V", 4, group="output"),
    tenths("ac_output_voltage_t", 16, "V", 4, group="output"),
    hundredths("ac_output_frequency", 17, "Hz", 4, group="output"),
    # empty (`,,,`) on every recorded unit and "reserved" in the 2022 PDF
    tenths("ac_output_current", 18, "A", 4, group="output"),
    tenths("ac_output_current_s", 19, "A", 4, group="output"),
    tenths("ac_output_current_t", 20, "A", 4, group="output"),
    whole("inner_temperature", 21, "°C", "03d", role="temperature", group="temperature"),
    whole("max_temperature", 22, "°C", "03d", role="temperature", group="temperature"),
    whole("battery_temperature", 23, "°C", "03d", role="temperature", group="temperature"),
    flag("configuration_changed", 24, group="status"),
    choice("output_phase_angle", 25, enums.OUTPUT_PHASE_ANGLE, diagnostic=True, **RATING),
)

PS: FieldTable = (
    whole("pv_input_power", 0, "W", "05d", role="pv_power", group="pv"),
    whole("pv2_input_power", 1, "W", "05d", role="pv_power", group="pv"),
    signed("battery_power", 2, "W", 5, role="battery_power", group="battery"),  # + charge; reserved
    signed("grid_power_r", 3, "W", 5, group="grid"),  # + from the grid
    signed("grid_power_s", 4, "W", 5, group="grid"),
    signed("grid_power_t", 5, "W", 5, group="grid"),
    signed("grid_power", 6, "W", 5, role="grid_power", group="grid"),
    whole("ac_output_active_power_r", 7, "W", "05d", group="output"),
    whole("ac_output_active_power_s", 8, "W", "05d", group="output"),
    whole("ac_output_active_power_t", 9, "W", "05d", group="output"),
    whole("ac_output_active_power", 10, "W", "05d", role="load_power", group="output"),
    whole("ac_output_apparent_power_r", 11, "VA", "05d", group="output"),
    whole("ac_output_apparent_power_s", 12, "VA", "05d", group="output"),
    whole("ac_output_apparent_power_t", 13, "VA", "05d", group="output"),
    whole("ac_output_apparent_power", 14, "VA", "05d", group="output"),
    whole("ac_output_load", 15, "%", "03d", group="output"),
    flag("ac_output_connected", 16, group="output"),
    flag("pv_working", 17, group="pv"),
    flag("pv2_working", 18, group="pv"),
    choice("battery_power_direction", 19, enums.BATTERY_DIRECTION, group="battery"),
    choice("converter_power_direction", 20, enums.CONVERTER_DIRECTION, group="status"),
    choice("line_power_direction", 21, enums.LINE_DIRECTION, group="grid"),
)

# Rated values and the settings in force: ratings, but for the charge stage (a state:
# PI30's Q1 key, group battery).
PIRI: FieldTable = (
    *(
        rating(row)
        for row in (
            tenths("rated_grid_voltage", 0, "V", 4, diagnostic=True),
            tenths("rated_input_frequency", 1, "Hz", 3, diagnostic=True),
            tenths("rated_input_current", 2, "A", 4, diagnostic=True),
            tenths("rated_ac_output_voltage", 3, "V", 4, diagnostic=True),
            tenths("rated_ac_output_current", 4, "A", 4, diagnostic=True),
            tenths("rated_mppt_current", 5, "A", 4, diagnostic=True),  # per string
            tenths("rated_battery_voltage", 6, "V", 4, diagnostic=True),
            whole("mppt_strings", 7, None, "d", diagnostic=True),
            choice("machine_type", 8, enums.MACHINE_TYPE, diagnostic=True),
            choice("topology", 9, enums.TOPOLOGY, diagnostic=True),
            flag("parallel_output_enabled", 10),
            flag("real_time_control_enabled", 11),  # 2022 PDF from here on
            # 12: "reserved (Only for 15KW)"
            text("parallel_status", 13, **RATING),
        )
    ),
    choice("charge_stage", 14, enums.CHARGE_STAGE, group="battery"),
    choice("gen_port", 15, enums.GEN_PORT, **RATING),
)

# Battery settings in force (BATS). Keys PI30's QPIRI also has keep PI30's names.
BATS: FieldTable = tuple(
    rating(row)
    for row in (
        tenths("max_charging_current", 0, "A", 4),
        tenths("battery_bulk_voltage", 1, "V", 4),
        tenths("battery_float_voltage", 2, "V", 4),
        tenths("float_stop_charging_current", 3, "A", 4),
        whole("float_stop_charging_delay", 4, "min", "03d"),
        tenths("float_recharge_voltage", 5, "V", 4),
        tenths("battery_under_voltage", 6, "V", 4),  # cut-off
        tenths("battery_under_back_voltage", 7, "V", 4),  # discharge allowed again
        tenths("battery_weak_voltage", 8, "V", 4),  # cut-off in hybrid mode
        tenths("battery_weak_back_voltage", 9, "V", 4),
        choice("battery_type", 10, enums.BATTERY_TYPE),
        # 11, 12: reserved (empty on every recorded unit; 12 is "battery install time")
        flag("ac_charger_keep_voltage_enabled", 13),
        tenths("ac_charger_keep_voltage", 14, "V", 4),
        num("battery_temperature_compensation", 15, "mV", "03.0f", scale=0.1),
        tenths("max_ac_charging_current", 16, "A", 4),
        whole("max_hybrid_discharging_current", 17, "A", "04d"),
        whole("battery_under_soc", 18, "%", "03d"),  # 2022 PDF from here on
        whole("battery_under_back_soc", 19, "%", "03d"),
        whole("battery_weak_soc", 20, "%", "03d"),
        whole("battery_weak_back_soc", 21, "%", "03d"),
    )
)

# Alarms are warnings; the equalisation state is battery status.
WS: FieldTable = tuple(
    flag(key, pos, group="battery")
    if key == "equalization_active"
    else flag(key, pos, device_class="problem", **WARNING)
    for pos, key in enumerate(enums.WARNINGS)
)

FLAG: FieldTable = tuple(flag(key, pos, **RATING) for pos, (_, key) in enumerate(enums.FLAG_LETTERS))

HECS: FieldTable = (
    choice("solar_power_priority", 0, enums.SOLAR_POWER_PRIORITY, **RATING),
    *(flag(key, pos, **RATING) for pos, (_, key) in enumerate(enums.ENERGY_FLAGS, start=1)),
)

MD: FieldTable = tuple(
    rating(row)
    for row in (
        choice("model", 0, enums.MODEL, diagnostic=True),
        whole("rated_ac_output_apparent_power", 1, "VA", "06d", diagnostic=True),
        num("rated_power_factor", 2, None, "02.0f", scale=0.01, diagnostic=True),
        whole("ac_input_phases", 3, None, "d", diagnostic=True),
        whole("ac_output_phases", 4, None, "d", diagnostic=True),
        tenths("rated_ac_output_voltage", 5, "V", 4, diagnostic=True),
        tenths("rated_grid_voltage", 6, "V", 4, diagnostic=True),
        whole("battery_count", 7, None, "02d", diagnostic=True),
        tenths("battery_unit_voltage", 8, "V", 3, diagnostic=True),
    )
)


# The ranges this unit's settings take (MAR): upper, then lower limit of each. Both PDFs
# give the same 24 fields; the 2022 one widens the PV limits to 5 digits.
MAR: FieldTable = tuple(
    rating(row._replace(diagnostic=True))
    for row in (
        tenths("feed_voltage_high_max", 0, "V", 4),
        tenths("feed_voltage_high_min", 1, "V", 4),
        tenths("feed_voltage_low_max", 2, "V", 4),
        tenths("feed_voltage_low_min", 3, "V", 4),
        hundredths("feed_frequency_high_max", 4, "Hz", 4),
        hundredths("feed_frequency_high_min", 5, "Hz", 4),
        hundredths("feed_frequency_low_max", 6, "Hz", 4),
        hundredths("feed_frequency_low_min", 7, "Hz", 4),
        whole("feed_wait_time_max", 8, "s", "03d"),
        whole("feed_wait_time_min", 9, "s", "03d"),
        tenths("pv_voltage_high_max", 10, "V", 4),
        tenths("pv_voltage_high_min", 11, "V", 4),
        tenths("pv_voltage_low_max", 12, "V", 4),
        tenths("pv_voltage_low_min", 13, "V", 4),
        tenths("mppt_voltage_high_max", 14, "V", 4),
        tenths("mppt_voltage_high_min", 15, "V", 4),
        tenths("mppt_voltage_low_max", 16, "V", 4),
        tenths("mppt_voltage_low_min", 17, "V", 4),
        tenths("charge_voltage_max", 18, "V", 4),  # bulk and float (MCHGV)
        tenths("charge_voltage_min", 19, "V", 4),
        tenths("charging_current_max", 20, "A", 4),  # MCHGC
        tenths("charging_current_min", 21, "A", 4),
        whole("feed_power_max", 22, "W", "05d"),
        whole("feed_power_min", 23, "W", "05d"),
    )
)


def _q(name: str, description: str, fields: FieldTable, **kw: Any) -> Command:
    return Command(name, description, fields, **kw)


def _energy(name: str, description: str, key: str, regex: str, example: str, width: int = 8) -> Command:
    return Command(
        name, description, (energy(key, 0.001, width),), pattern=re.compile(regex), example=example, summed=True
    )


def _set(name: str, description: str, regex: str, example: str) -> Command:
    return Command(name, description, (), re.compile(regex), False, Style.NONE, example=example)


_MONTH = r"(0[1-9]|1[0-2])"
_DAY = r"(0[1-9]|[12][0-9]|3[01])"
_HOUR = r"([01][0-9]|2[0-3])"

_QUERIES: tuple[Command, ...] = (
    _q("PI", "protocol id", (text("protocol_id"),), style=Style.WHOLE),
    _q("ID", "serial number", (text("serial_number"),), style=Style.SERIAL),
    _q("VFW", "main CPU firmware version", (text("main_cpu_firmware"),), style=Style.WHOLE, prefix="VERFW:"),
    _q(
        "VFW2",
        "secondary CPU firmware version",
        (text("secondary_cpu_firmware"),),
        style=Style.WHOLE,
        prefix="VERFW2:",
    ),
    _q("MD", "device model and ratings", MD),
    _q("DM", "machine model (certification code)", (text("machine_model"),), style=Style.WHOLE),
    _q("T", "device clock yyyymmddhhmmss", (text("device_time"),), style=Style.WHOLE),
    _q("PIRI", "rated information", PIRI),
    _q("GS", "general status", GS),
    _q("PS", "power status", PS),
    _q("MOD", "working mode", (choice("mode", 0, enums.MODE, role="mode", group="status"),), style=Style.WHOLE),
    _q("WS", "warning status", WS),
    _q("FLAG", "enabled/disabled flags", FLAG),
    _q("BATS", "battery settings", BATS),
    _q("HECS", "energy control status", HECS),
    _q("MAR", "the ranges the unit's settings take", MAR),
    # No energy roles: a reader integrates pv_energy from pv_input_power, and a device has
    # one row per energy role (as for PI30's QET family and PI18's ET).
    _q("ET", "total PV energy", (energy("pv_energy_total", 1.0),)),
    # The 2022 PDF answers EY with 9 digits (`^D012`), the 2016 PDF with 8: the decoder reads either.
    _energy("EYyyyy", "PV energy of a year", "pv_energy_year", r"EY([0-9]{4})", "EY2024"),
    _energy("EMyyyymm", "PV energy of a month", "pv_energy_month", rf"EM([0-9]{{4}}){_MONTH}", "EM202401", 7),
    _energy("EDyyyymmdd", "PV energy of a day", "pv_energy_day", rf"ED([0-9]{{4}}){_MONTH}{_DAY}", "ED20240115", 6),
    _energy(
        "EHyyyymmddhh",
        "PV energy of an hour",
        "pv_energy_hour",
        rf"EH([0-9]{{4}}){_MONTH}{_DAY}{_HOUR}",
        "EH2024011512",
        5,
    ),
)

_FLAG_CHARS = "".join(letter for letter, _ in enums.SETTABLE_FLAGS)
_ENERGY_CHARS = "".join(letter for letter, _ in enums.ENERGY_FLAGS)

# Setters (reply ^1 / ^0); setters.py builds and range-checks their text. Values are
# zero-padded digits of 0.1 V / 0.1 A (MCHGV0564,0540 = 56.4 V and 54.0 V) or whole amps (BDCM).
_V4 = r"[0-9]{4}"
_SETTERS: tuple[Command, ...] = (
    _set("SEP", "solar power priority", r"SEP0[0-2]", "SEP01"),
    _set("ED", "energy distribution flag (letter, 0/1)", rf"ED[{_ENERGY_CHARS}][01]", "EDA1"),
    _set("MCHGC", "max charging current (0.1 A)", rf"MCHGC{_V4}", "MCHGC0600"),
    _set("MUCHGC", "max utility charging current (0.1 A)", rf"MUCHGC{_V4}", "MUCHGC0300"),
    _set("MCHGV", "battery bulk (C.V.) and float voltages (0.1 V)", rf"MCHGV{_V4},{_V4}", "MCHGV0564,0540"),
    _set(
        "BATDV",
        "battery cut-off and back voltages, on battery and in hybrid mode (0.1 V)",
        rf"BATDV{_V4},{_V4},{_V4},{_V4}",
        "BATDV0460,0510,0460,0510",
    ),
    _set("BDCM", "max battery discharge current in hybrid mode (A)", rf"BDCM{_V4}", "BDCM0250"),
    _set("BT", "battery type", r"BT[01]", "BT1"),
    _set("PE", "enable a flag", rf"PE[{_FLAG_CHARS}]", "PEA"),
    _set("PD", "disable a flag", rf"PD[{_FLAG_CHARS}]", "PDA"),
)

_INDEX = CommandIndex("PI17", (*_QUERIES, *_SETTERS))
#: Every command by name (parameterised ones under their pattern name).
COMMANDS: Mapping[str, Command] = _INDEX.commands
lookup, table, is_query = _INDEX.lookup, _INDEX.table, _INDEX.is_query


#: The date argument of each energy query: period -> (prefix, how many of yyyymmddhh it takes).
ENERGY_PERIODS: Mapping[str, tuple[str, int]] = MappingProxyType(
    {"year": ("EY", 4), "month": ("EM", 6), "day": ("ED", 8)}
)


def energy_command(period: str, day: date) -> str:
    """The query text for the PV energy of the year, month or day containing `day`
    (`energy_command("day", date(2024, 1, 15))` -> `ED20240115`; framing adds the sum)."""
    spec = ENERGY_PERIODS.get(period)
    if spec is None:
        raise ConfigError(f"PI17 energy period {period!r}: use one of {', '.join(ENERGY_PERIODS)}")
    prefix, digits = spec
    return prefix + f"{day.year:04d}{day.month:02d}{day.day:02d}"[:digits]

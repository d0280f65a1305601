"""Protocols layer (PI30): settings — typed, range-checked setter command text.

Pure: value in, command text out (or SettingError with a one-line reason); no I/O,
no framing (encode() frames the text). The allow-list is `SETTINGS` (select/number
entities) plus `ACTIONS` (clock, restore defaults, save); nothing else can become a
setter, and setters.py never produces a query (commands.is_query() tells them apart).
A button action fires only on the exact payload `PRESS`; `DESTRUCTIVE` names the
actions that erase the unit's settings (a device leaves them off unless enabled).

Numbers are read exactly (Decimal) from plain ASCII decimal text, so `5_4`, `٥٤`, `inf`
and `54.05` for a dd.d command are refused, and `-0` is sent as 0. A value is either
refused here in one short line or becomes text the unit takes: never a NAK later, never
an exception other than SettingError (tests/sim/test_pi30_setter_fuzz.py fuzzes this
against the simulator; tests/sim/test_pi30_setter_frames.py pins both to the documented
frames).

Ranges are the Voltronic PI30 protocol PDF's, for a 48 V unit; 12 V and 24 V units
take a quarter and a half of them (rounded to the 0.1 V the command carries), and the
battery's nominal voltage comes from QPIRI. Charge currents must be in the device's
own QMCHGCR / QMUCHGCR lists when those are known.

Firmware style: PI30 HS/MS firmware takes `MUCHGC<unit><2 digits>` (`MUCHGC030`),
some newer firmware `MUCHGC<unit><3 digits>` (`MUCHGC0030`). The default is the
two-digit form (the protocol PDF's); `Pi30Context.current_digits=3` picks the other.
With two digits, 100 A and more go through `MNCHGC<unit><3 digits>`.

The builders every family can use (selects, voltages, flags, actions) and the allow-list
with its read-back and narrowing rules are builders.py's; PI41's setters use them too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import NamedTuple

from solarstack.core.errors import SettingError
from solarstack.core.fields import Setting, Value
from solarstack.protocols.pi30 import enums
from solarstack.protocols.pi30.builders import (
    PRESS,
    AllowList,
    AnyBuilder,
    codes,
    flag_entries,
    labels,
    offered_amps,
    press,
    rated_context,
    read_back,
    select,
    voltage,
)
from solarstack.protocols.pi30.values import decimals, parse_number, quote, whole


class Pi30Context(NamedTuple):
    """What a setter needs to know about the device (from its own answers)."""

    nominal_battery_voltage: float = 48.0
    max_charging_currents: tuple[int, ...] = ()  # QMCHGCR; empty: static bounds only
    max_utility_charging_currents: tuple[int, ...] = ()  # QMUCHGCR
    current_digits: int = 2  # amp digits in MCHGC/MUCHGC (see module docstring)
    unit: int = 0  # parallel machine number for MCHGC, MUCHGC, POPM, PPCP
    short_clock: bool = False  # DAT with yymmddhhmmss (LV6548-class) instead of yyyymmddhhmmss


def context_from(
    qpiri: Mapping[str, Value],
    qmchgcr: Mapping[str, Value] | None = None,
    qmuchgcr: Mapping[str, Value] | None = None,
    *,
    current_digits: int = 2,
    unit: int = 0,
    short_clock: bool = False,
) -> Pi30Context:
    """Build the context from decoded QPIRI (and the current lists, if the device has them)."""
    rated = rated_context(qpiri, qmchgcr, qmuchgcr, unit=unit)
    return Pi30Context(**rated._asdict(), current_digits=current_digits, short_clock=short_clock)


# --- one builder per kind of setting -----------------------------------------------

Builder = Callable[[str, "str | float", Pi30Context], str]


def _charge_current(utility: bool) -> Builder:
    def build(key: str, value: str | float, ctx: Pi30Context) -> str:
        offered = ctx.max_utility_charging_currents if utility else ctx.max_charging_currents
        amps = offered_amps(key, value, offered, SETTING_MAP[key])
        prefix = "MUCHGC" if utility else "MCHGC"
        if ctx.current_digits == 3:
            return f"{prefix}{ctx.unit}{amps:03d}"
        if amps < 100:
            return f"{prefix}{ctx.unit}{amps:02d}"
        if utility:
            raise SettingError(f"{key}: {amps} A needs the three-digit MUCHGC form (current_digits=3)")
        return f"MNCHGC{ctx.unit}{amps:03d}"

    return build


def _max_discharge(key: str, value: str | float, ctx: Pi30Context) -> str:
    amps = whole(key, value, 0, 150)
    if amps != 0 and amps < 30:
        raise SettingError(f"{key}: {amps} A out of range (0 = off, or 30-150 A)")
    return f"PBATMAXDISC{amps:03d}"


def _calibration(key: str, value: str | float, ctx: Pi30Context) -> str:
    volts = parse_number(key, value)
    steps = volts / Decimal("0.05") if abs(volts) <= Decimal("0.45") else None
    if steps is None or decimals(steps):
        raise SettingError(f"{key}: {volts} V must be a multiple of 0.05 V within ±0.45 V")
    return f"BTA{'-' if steps < 0 else '+'}{abs(int(steps)):02d}"


_CLOCK = re.compile(r"([0-9]{4})-?([0-9]{2})-?([0-9]{2})[T ]?([0-9]{2}):?([0-9]{2}):?([0-9]{2})")


def _clock(key: str, value: str | float, ctx: Pi30Context) -> str:
    match = _CLOCK.fullmatch(str(value).strip())
    if match is None:
        raise SettingError(f"{key}: {quote(value)} is not a date-time like 2024-01-15T12:30:00")
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    try:  # a date that exists (no 31 February, no year 0): the device NAKs any other
        stamp = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise SettingError(f"{key}: {quote(value)} is not a valid date-time") from None
    if ctx.short_clock:
        if not 2000 <= year <= 2099:  # two year digits carry no century
            raise SettingError(f"{key}: year {year} cannot be set on this unit (2000-2099)")
        return "DAT" + stamp.strftime("%y%m%d%H%M%S")
    return f"DAT{year:04d}" + stamp.strftime("%m%d%H%M%S")


def _battery_control(key: str, value: str | float, ctx: Pi30Context) -> str:
    code = str(value).strip()
    if re.fullmatch(r"[01]{3}", code) is None:
        raise SettingError(f"{key}: {quote(value)} must be three 0/1 digits")
    return f"PBATCD{code}"


# --- the allow-list ------------------------------------------------------------------


_qpiri = read_back("QPIRI")
_V = {"unit": "V", "step": 0.1}

#: Settings PI41 takes exactly as PI30 does (protocols/pi41/setters.py).
_SHARED: tuple[tuple[Setting, AnyBuilder], ...] = (
    (
        _qpiri("output_source_priority", "Output source priority", options=labels(enums.OUTPUT_SOURCE_PRIORITY, "012")),
        select("POP", codes(enums.OUTPUT_SOURCE_PRIORITY, "012")),
    ),
    (
        _qpiri(
            "charger_source_priority", "Charger source priority", options=labels(enums.CHARGER_SOURCE_PRIORITY, "0123")
        ),
        select("PCP", codes(enums.CHARGER_SOURCE_PRIORITY, "0123")),
    ),
    (
        _qpiri("input_voltage_range", "AC input range", options=labels(enums.INPUT_VOLTAGE_RANGE, "01")),
        select("PGR", codes(enums.INPUT_VOLTAGE_RANGE, "01")),
    ),
    (
        _qpiri("battery_type", "Battery type", options=labels(enums.BATTERY_TYPE, "012")),
        select("PBT", codes(enums.BATTERY_TYPE, "012")),
    ),
    (
        _qpiri("battery_float_voltage", "Battery float voltage", minimum=48.0, maximum=58.4, **_V),
        voltage("PBFT", 48.0, 58.4),
    ),
    (
        _qpiri("battery_bulk_voltage", "Battery bulk (C.V.) voltage", minimum=48.0, maximum=58.4, **_V),
        voltage("PCVV", 48.0, 58.4),
    ),
    (
        _qpiri("battery_under_voltage", "Battery cut-off voltage", minimum=40.0, maximum=48.0, **_V),
        voltage("PSDV", 40.0, 48.0),
    ),
    (
        Setting(
            "output_frequency",
            "Output frequency",
            options=("50", "60"),
            unit="Hz",
            readback="rated_ac_output_frequency",
            readback_command="QPIRI",
        ),
        select("F", {"50": "50", "60": "60"}),
    ),
    (
        Setting(
            "parallel_charger_source_priority",
            "Charger source priority (parallel unit)",
            options=labels(enums.CHARGER_SOURCE_PRIORITY, "0123"),
            readback="charger_source_priority",
            readback_command="QPIRI",
        ),
        select("PPCP", {label: "{unit}" + raw.zfill(2) for raw, label in enums.CHARGER_SOURCE_PRIORITY.items()}),
    ),
    (
        _qpiri("pv_power_balance", "PV power balance", options=labels(enums.PV_POWER_BALANCE, "01")),
        select("PSPB", codes(enums.PV_POWER_BALANCE, "01", width=1)),
    ),
    (
        _qpiri("pv_ok_condition", "PV OK condition (parallel)", options=labels(enums.PV_OK_CONDITION, "01")),
        select("PPVOKC", codes(enums.PV_OK_CONDITION, "01", width=1)),
    ),
)
_COMMON: Mapping[str, tuple[Setting, AnyBuilder]] = MappingProxyType({s.key: (s, b) for s, b in _SHARED})


def common_entries(*keys: str) -> tuple[tuple[Setting, AnyBuilder], ...]:
    """PI30's settings of these keys with their builders: what PI41 shares with PI30."""
    return tuple(_COMMON[key] for key in keys)


_ENTRIES: tuple[tuple[Setting, Builder], ...] = (
    *common_entries("output_source_priority", "charger_source_priority", "input_voltage_range", "battery_type"),
    (
        _qpiri("battery_recharge_voltage", "Battery re-charge voltage", minimum=44.0, maximum=51.0, **_V),
        voltage("PBCV", 44.0, 51.0),
    ),
    (
        _qpiri("battery_redischarge_voltage", "Battery re-discharge voltage", minimum=0.0, maximum=58.0, **_V),
        voltage("PBDV", 48.0, 58.0, zero_ok=True),
    ),
    *common_entries("battery_float_voltage", "battery_bulk_voltage", "battery_under_voltage"),
    (
        _qpiri("max_charging_current", "Max charging current", minimum=10, maximum=150, step=1, unit="A"),
        _charge_current(utility=False),
    ),
    (
        Setting(
            "max_utility_charging_current",
            "Max utility charging current",
            minimum=2,
            maximum=120,
            step=1,
            unit="A",
            readback="max_ac_charging_current",
            readback_command="QPIRI",
        ),
        _charge_current(utility=True),
    ),
    *flag_entries(enums.FLAG_LETTERS),
    *common_entries("output_frequency"),
    (
        _qpiri("output_mode", "Output mode (parallel)", options=labels(enums.OUTPUT_MODE, "01234567")),
        select("POPM", {label: "{unit}" + raw for raw, label in enums.OUTPUT_MODE.items()}),
    ),
    *common_entries("parallel_charger_source_priority", "pv_power_balance"),
    (
        Setting(
            "battery_charge_discharge_control",
            "Battery charge/discharge control",
            options=tuple(f"{n:03b}" for n in range(8)),
        ),
        _battery_control,
    ),
    (
        _qpiri("max_discharging_current", "Max battery discharge current", minimum=0, maximum=150, step=1, unit="A"),
        _max_discharge,
    ),
    (
        Setting(
            "battery_voltage_calibration",
            "Battery voltage calibration",
            minimum=-0.45,
            maximum=0.45,
            step=0.05,
            unit="V",
        ),
        _calibration,
    ),
    (
        _qpiri("operation_logic", "Operation logic", options=labels(enums.OPERATION_LOGIC, "012")),
        select("POPLG", codes(enums.OPERATION_LOGIC, "012")),
    ),
    *common_entries("pv_ok_condition"),
)

#: Device actions: buttons or a clock, not a select/number state.
_ACTION_ENTRIES: tuple[tuple[Setting, Builder], ...] = (
    (Setting("clock", "Set device clock (ISO date-time)", readback="device_time", readback_command="QT"), _clock),
    (Setting("restore_defaults", "Restore default settings", options=(PRESS,)), press("PF")),
    (Setting("save_settings", "Save settings to EEPROM", options=(PRESS,)), press("PSAVE")),
)

_ALLOWED = AllowList("PI30", _ENTRIES, _ACTION_ENTRIES)
SETTINGS, ACTIONS, SETTING_MAP = _ALLOWED.settings, _ALLOWED.actions, _ALLOWED.setting_map
setter_command, expected_readback = _ALLOWED.setter_command, _ALLOWED.expected_readback
settings_for = _ALLOWED.settings_for

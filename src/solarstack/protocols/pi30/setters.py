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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

from solarstack.core.errors import SettingError
from solarstack.core.fields import Setting, Value
from solarstack.protocols.pi30 import enums
from solarstack.protocols.pi30.values import decimals, parse_number, quote, round1, whole

NOMINAL_VOLTAGES = (12.0, 24.0, 48.0)


class Pi30Context(NamedTuple):
    """What a setter needs to know about the device (from its own answers)."""

    nominal_battery_voltage: float = 48.0
    max_charging_currents: tuple[int, ...] = ()  # QMCHGCR; empty: static bounds only
    max_utility_charging_currents: tuple[int, ...] = ()  # QMUCHGCR
    current_digits: int = 2  # amp digits in MCHGC/MUCHGC (see module docstring)
    unit: int = 0  # parallel machine number for MCHGC, MUCHGC, POPM, PPCP
    short_clock: bool = False  # DAT with yymmddhhmmss (LV6548-class) instead of yyyymmddhhmmss


def _currents(decoded: Mapping[str, Value] | None, key: str) -> tuple[int, ...]:
    items = (decoded or {}).get(key)
    return tuple(int(i) for i in items) if isinstance(items, list) else ()


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
    rated = qpiri.get("rated_battery_voltage")
    if not isinstance(rated, int | float) or isinstance(rated, bool) or rated <= 0:
        raise SettingError("QPIRI has no rated battery voltage: cannot range-check battery settings")
    nominal = min(NOMINAL_VOLTAGES, key=lambda v: abs(v - rated))
    return Pi30Context(
        nominal_battery_voltage=nominal,
        max_charging_currents=_currents(qmchgcr, "charging_current_options"),
        max_utility_charging_currents=_currents(qmuchgcr, "utility_charging_current_options"),
        current_digits=current_digits,
        unit=unit,
        short_clock=short_clock,
    )


# --- one builder per kind of setting -----------------------------------------------

Builder = Callable[[str, "str | float", Pi30Context], str]


def _select(prefix: str, codes: Mapping[str, str]) -> Builder:
    def build(key: str, value: str | float, ctx: Pi30Context) -> str:
        code = codes.get(str(value).strip().lower())
        if code is None:
            raise SettingError(f"{key}: {quote(value)} is not one of {', '.join(codes)}")
        return prefix + code.format(unit=ctx.unit)

    return build


def _codes(options: Mapping[str, str], allowed: str, width: int = 2) -> dict[str, str]:
    """label -> zero-padded code for the raw digits in `allowed`."""
    return {label: raw.zfill(width) for raw, label in options.items() if raw in allowed}


def _voltage(prefix: str, low: float, high: float, *, zero_ok: bool = False) -> Builder:
    """Battery voltage with 48 V-unit bounds, scaled to the unit's nominal voltage."""

    def build(key: str, value: str | float, ctx: Pi30Context) -> str:
        volts = parse_number(key, value)
        factor = ctx.nominal_battery_voltage / 48.0
        lo, hi = round1(low * factor), round1(high * factor)
        if not (zero_ok and volts == 0) and not Decimal(str(lo)) <= volts <= Decimal(str(hi)):
            zero = "0 (battery full) or " if zero_ok else ""
            raise SettingError(
                f"{key}: {volts} V out of range {zero}{lo}-{hi} V for a {ctx.nominal_battery_voltage:g} V battery"
            )
        if decimals(volts) > 1:  # the command carries dd.d: 54.05 would be sent as 54.0 or 54.1
            raise SettingError(f"{key}: {volts} V has more than one decimal")
        return f"{prefix}{volts:04.1f}"

    return build


def _charge_current(utility: bool) -> Builder:
    def build(key: str, value: str | float, ctx: Pi30Context) -> str:
        allowed = ctx.max_utility_charging_currents if utility else ctx.max_charging_currents
        setting = SETTING_MAP[key]
        if allowed:
            amps = whole(key, value, min(allowed), max(allowed))
            if amps not in allowed:
                raise SettingError(f"{key}: {amps} A is not one the device offers ({', '.join(map(str, allowed))})")
        else:
            amps = whole(key, value, setting.minimum or 0, setting.maximum or 0)
        prefix = "MUCHGC" if utility else "MCHGC"
        if ctx.current_digits == 3:
            return f"{prefix}{ctx.unit}{amps:03d}"
        if amps < 100:
            return f"{prefix}{ctx.unit}{amps:02d}"
        if utility:
            raise SettingError(f"{key}: {amps} A needs the three-digit MUCHGC form (current_digits=3)")
        return f"MNCHGC{ctx.unit}{amps:03d}"

    return build


def _flag(letter: str) -> Builder:
    def build(key: str, value: str | float, ctx: Pi30Context) -> str:
        state = str(value).strip().upper()
        if state not in ("ON", "OFF"):
            raise SettingError(f"{key}: {quote(value)} is not ON or OFF")
        return ("PE" if state == "ON" else "PD") + letter

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


#: What an action (a button) must receive to fire: HA's button `payload_press` default.
PRESS = "PRESS"


def _press(text: str) -> Builder:
    """An action: `text` on the exact payload PRESS, anything else refused (`NO`, ``, `press`)."""

    def build(key: str, value: str | float, ctx: Pi30Context) -> str:
        if value != PRESS:
            raise SettingError(f"{key}: an action runs only on the payload {PRESS}, not {quote(value)}")
        return text

    return build


def _battery_control(key: str, value: str | float, ctx: Pi30Context) -> str:
    code = str(value).strip()
    if re.fullmatch(r"[01]{3}", code) is None:
        raise SettingError(f"{key}: {quote(value)} must be three 0/1 digits")
    return f"PBATCD{code}"


# --- the allow-list ------------------------------------------------------------------


def _labels(options: Mapping[str, str], allowed: str) -> tuple[str, ...]:
    return tuple(label for raw, label in options.items() if raw in allowed)


def _qpiri(key: str, label: str, **kw: Any) -> Setting:
    return Setting(key, label, readback=key, readback_command="QPIRI", **kw)


_V = {"unit": "V", "step": 0.1}

_ENTRIES: tuple[tuple[Setting, Builder], ...] = (
    (
        _qpiri(
            "output_source_priority", "Output source priority", options=_labels(enums.OUTPUT_SOURCE_PRIORITY, "012")
        ),
        _select("POP", _codes(enums.OUTPUT_SOURCE_PRIORITY, "012")),
    ),
    (
        _qpiri(
            "charger_source_priority", "Charger source priority", options=_labels(enums.CHARGER_SOURCE_PRIORITY, "0123")
        ),
        _select("PCP", _codes(enums.CHARGER_SOURCE_PRIORITY, "0123")),
    ),
    (
        _qpiri("input_voltage_range", "AC input range", options=_labels(enums.INPUT_VOLTAGE_RANGE, "01")),
        _select("PGR", _codes(enums.INPUT_VOLTAGE_RANGE, "01")),
    ),
    (
        _qpiri("battery_type", "Battery type", options=_labels(enums.BATTERY_TYPE, "012")),
        _select("PBT", _codes(enums.BATTERY_TYPE, "012")),
    ),
    (
        _qpiri("battery_recharge_voltage", "Battery re-charge voltage", minimum=44.0, maximum=51.0, **_V),
        _voltage("PBCV", 44.0, 51.0),
    ),
    (
        _qpiri("battery_redischarge_voltage", "Battery re-discharge voltage", minimum=0.0, maximum=58.0, **_V),
        _voltage("PBDV", 48.0, 58.0, zero_ok=True),
    ),
    (
        _qpiri("battery_float_voltage", "Battery float voltage", minimum=48.0, maximum=58.4, **_V),
        _voltage("PBFT", 48.0, 58.4),
    ),
    (
        _qpiri("battery_bulk_voltage", "Battery bulk (C.V.) voltage", minimum=48.0, maximum=58.4, **_V),
        _voltage("PCVV", 48.0, 58.4),
    ),
    (
        _qpiri("battery_under_voltage", "Battery cut-off voltage", minimum=40.0, maximum=48.0, **_V),
        _voltage("PSDV", 40.0, 48.0),
    ),
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
    *(
        (
            Setting(
                key, key.replace("_", " ").capitalize(), options=("ON", "OFF"), readback=key, readback_command="QFLAG"
            ),
            _flag(letter),
        )
        for letter, key in enums.FLAG_LETTERS
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
        _select("F", {"50": "50", "60": "60"}),
    ),
    (
        _qpiri("output_mode", "Output mode (parallel)", options=_labels(enums.OUTPUT_MODE, "01234567")),
        _select("POPM", {label: "{unit}" + raw for raw, label in enums.OUTPUT_MODE.items()}),
    ),
    (
        Setting(
            "parallel_charger_source_priority",
            "Charger source priority (parallel unit)",
            options=_labels(enums.CHARGER_SOURCE_PRIORITY, "0123"),
            readback="charger_source_priority",
            readback_command="QPIRI",
        ),
        _select("PPCP", {label: "{unit}" + raw.zfill(2) for raw, label in enums.CHARGER_SOURCE_PRIORITY.items()}),
    ),
    (
        _qpiri("pv_power_balance", "PV power balance", options=_labels(enums.PV_POWER_BALANCE, "01")),
        _select("PSPB", _codes(enums.PV_POWER_BALANCE, "01", width=1)),
    ),
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
        _qpiri("operation_logic", "Operation logic", options=_labels(enums.OPERATION_LOGIC, "012")),
        _select("POPLG", _codes(enums.OPERATION_LOGIC, "012")),
    ),
    (
        _qpiri("pv_ok_condition", "PV OK condition (parallel)", options=_labels(enums.PV_OK_CONDITION, "01")),
        _select("PPVOKC", _codes(enums.PV_OK_CONDITION, "01", width=1)),
    ),
)

#: Device actions: buttons or a clock, not a select/number state.
_ACTION_ENTRIES: tuple[tuple[Setting, Builder], ...] = (
    (Setting("clock", "Set device clock (ISO date-time)", readback="device_time", readback_command="QT"), _clock),
    (Setting("restore_defaults", "Restore default settings", options=(PRESS,)), _press("PF")),
    (Setting("save_settings", "Save settings to EEPROM", options=(PRESS,)), _press("PSAVE")),
)

SETTINGS: tuple[Setting, ...] = tuple(s for s, _ in _ENTRIES)
ACTIONS: tuple[Setting, ...] = tuple(s for s, _ in _ACTION_ENTRIES)
SETTING_MAP: Mapping[str, Setting] = MappingProxyType({s.key: s for s in (*SETTINGS, *ACTIONS)})
#: Actions that erase the unit's settings (PF: factory defaults). A reader leaves them off
#: its allow-list, catalogue and discovery unless its operator enables them.
DESTRUCTIVE: frozenset[str] = frozenset({"restore_defaults"})
_BUILDERS: Mapping[str, Builder] = MappingProxyType({s.key: b for s, b in (*_ENTRIES, *_ACTION_ENTRIES)})


def setter_command(key: str, value: str | float, ctx: Pi30Context) -> str:
    """The exact setter text for `key` = `value` (e.g. `POP02`, `PBCV44.0`), or SettingError."""
    builder = _BUILDERS.get(key)
    if builder is None:
        raise SettingError(f"unknown PI30 setting {quote(key)}; allowed: {', '.join(_BUILDERS)}")
    return builder(key, value, ctx)


def expected_readback(key: str, value: str | float) -> Value:
    """What the setting's read-back field shows once `value` took effect (None: not read back).

    Call after setter_command() accepted the value.
    """
    setting = SETTING_MAP[key]
    if setting.readback is None or key == "clock":
        return None
    if setting.readback_command == "QFLAG":
        return str(value).strip().upper() == "ON"
    if key == "output_frequency":
        return float(value)
    if setting.options:
        return str(value).strip().lower()
    number = parse_number(key, value)
    return int(number) if setting.unit == "A" else float(number)


def settings_for(ctx: Pi30Context) -> tuple[Setting, ...]:
    """SETTINGS with bounds narrowed to this unit: battery voltages scaled to its nominal
    voltage, charge currents to the span of its own lists (for HA number entities)."""
    factor = ctx.nominal_battery_voltage / 48.0
    lists = {
        "max_charging_current": ctx.max_charging_currents,
        "max_utility_charging_current": ctx.max_utility_charging_currents,
    }
    narrowed = []
    for setting in SETTINGS:
        if setting.unit == "V" and setting.key != "battery_voltage_calibration":
            setting = setting._replace(
                minimum=round1((setting.minimum or 0.0) * factor),
                maximum=round1((setting.maximum or 0.0) * factor),
            )
        elif lists.get(setting.key):
            currents = lists[setting.key]
            setting = setting._replace(minimum=min(currents), maximum=max(currents))
        narrowed.append(setting)
    return tuple(narrowed)

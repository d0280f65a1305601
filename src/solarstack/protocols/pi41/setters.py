"""Protocols layer (PI41): settings — typed, range-checked setter command text.

Pure: value in, command text out (or SettingError with a one-line reason); no I/O, no
framing. The allow-list is `SETTINGS` plus `ACTIONS` (restore defaults; `DESTRUCTIVE`),
each a setter the LV5048 protocol PDF lists (commands.py names the sources). Values are
read exactly by protocols/pi30/values.py (the PI family's rules: plain ASCII decimals,
`-0` sent as 0, one-line refusals); the builders, the allow-list and its read-back and
narrowing rules are the family's (protocols/pi30/builders.py), as PI30's setters use them.

Ranges are the PDF's, for a 48 V unit (the LV5048 is one; a unit reporting another rated
battery voltage gets them scaled, as PI30's): re-charge 44-51 V and re-discharge 0 or
48-58 V in whole volts (the PDF lists the values), cut-off 40.0-48.0 V, bulk and float
48.0-58.4 V, equalization voltage 48.00-61.00 V; equalization time and over-time 5-900
min and max C.V. charging time 0-900 min (0 = automatic) in steps of 5; equalization
period 0-90 days. Charge currents must be in the unit's own QMCHGCR / QMUCHGCR lists
when known: the max charging current goes as `MNCHGC<unit><nnn>` (the PDF; PI30's
two-digit MCHGC is not listed for PI41), the utility one as `MUCHGC<unit><nn>`.
"""

from __future__ import annotations

from collections.abc import Callable

from solarstack.core.errors import SettingError
from solarstack.core.fields import Setting
from solarstack.protocols.pi30.builders import (
    PRESS,
    AllowList,
    RatedContext,
    codes,
    flag_entries,
    labels,
    offered_amps,
    on_off,
    press,
    rated_context,
    read_back,
    select,
    voltage,
)
from solarstack.protocols.pi30.setters import common_entries
from solarstack.protocols.pi30.values import whole
from solarstack.protocols.pi41 import enums

#: What a setter needs to know about the device (from its own answers): its ratings alone.
Pi41Context = RatedContext
#: The context from decoded QPIRI (and the current lists, if the unit answers them).
context_from = rated_context


Builder = Callable[[str, "str | float", Pi41Context], str]


def _minutes(prefix: str, low: int, high: int, step: int) -> Builder:
    def build(key: str, value: str | float, ctx: Pi41Context) -> str:
        minutes = whole(key, value, low, high, "min")
        if minutes % step:
            raise SettingError(f"{key}: {minutes} min is not a multiple of {step} min")
        return f"{prefix}{minutes:03d}"

    return build


def _period(key: str, value: str | float, ctx: Pi41Context) -> str:
    """Equalization period: published in hours (as PI30's QBEQI), sent in whole days."""
    hours = whole(key, value, 0, 90 * 24, "h")
    if hours % 24:
        raise SettingError(f"{key}: {hours} h is not whole days (a multiple of 24 h)")
    return f"PBEQP{hours // 24:03d}"


def _charge_current(utility: bool) -> Builder:
    def build(key: str, value: str | float, ctx: Pi41Context) -> str:
        offered = ctx.max_utility_charging_currents if utility else ctx.max_charging_currents
        amps = offered_amps(key, value, offered, SETTING_MAP[key])
        if utility:
            if amps > 99:
                raise SettingError(f"{key}: {amps} A does not fit MUCHGC's two digits")
            return f"MUCHGC{ctx.unit}{amps:02d}"
        return f"MNCHGC{ctx.unit}{amps:03d}"

    return build


_qpiri = read_back("QPIRI")
_qbeqi = read_back("QBEQI")
_V = {"unit": "V", "step": 0.1}
_MODES = "123456"  # the PDF's POPM list: no 0

_ENTRIES: tuple[tuple[Setting, Builder], ...] = (
    *common_entries("output_source_priority", "charger_source_priority", "input_voltage_range", "battery_type"),
    (
        _qpiri("output_mode", "Output mode", options=labels(enums.OUTPUT_MODE, _MODES)),
        select("POPM", codes(enums.OUTPUT_MODE, _MODES)),
    ),
    *common_entries("parallel_charger_source_priority"),
    (
        _qpiri("battery_recharge_voltage", "Battery re-charge voltage", minimum=44.0, maximum=51.0, unit="V", step=1.0),
        voltage("PBCV", 44.0, 51.0, whole_volts=True),
    ),
    (
        _qpiri(
            "battery_redischarge_voltage", "Battery re-discharge voltage", minimum=0.0, maximum=58.0, unit="V", step=1.0
        ),
        voltage("PBDV", 48.0, 58.0, whole_volts=True, zero_ok=True),
    ),
    *common_entries("battery_under_voltage", "battery_bulk_voltage", "battery_float_voltage"),
    (
        _qpiri("max_charging_current", "Max charging current", minimum=10, maximum=150, step=1, unit="A"),
        _charge_current(utility=False),
    ),
    (
        Setting(
            "max_utility_charging_current",
            "Max utility charging current",
            minimum=2,
            maximum=99,
            step=1,
            unit="A",
            readback="max_ac_charging_current",
            readback_command="QPIRI",
        ),
        _charge_current(utility=True),
    ),
    *common_entries("output_frequency", "pv_ok_condition", "pv_power_balance"),
    (
        _qpiri(
            "max_cv_charging_time",
            "Max charging time at C.V. (0 = automatic)",
            minimum=0,
            maximum=900,
            step=5,
            unit="min",
        ),
        _minutes("PCVT", 0, 900, 5),
    ),
    *flag_entries(enums.FLAG_LETTERS),
    (
        _qbeqi("equalization_enabled", "Battery equalization", options=("ON", "OFF")),
        on_off("PBEQE"),
    ),
    (
        _qbeqi("equalization_time", "Equalization time", minimum=5, maximum=900, step=5, unit="min"),
        _minutes("PBEQT", 5, 900, 5),
    ),
    (
        _qbeqi("equalization_period", "Equalization period", minimum=0, maximum=2160, step=24, unit="h"),
        _period,
    ),
    (
        _qbeqi("equalization_voltage", "Equalization voltage", minimum=48.0, maximum=61.0, step=0.01, unit="V"),
        voltage("PBEQV", 48.0, 61.0, digits=2),
    ),
    (
        _qbeqi("equalization_over_time", "Equalization over time", minimum=5, maximum=900, step=5, unit="min"),
        _minutes("PBEQOT", 5, 900, 5),
    ),
    (
        _qbeqi("equalization_active", "Equalize now", options=("ON", "OFF")),
        on_off("PBEQA"),
    ),
)

#: Device actions: buttons, not a select/number state.
_ACTION_ENTRIES: tuple[tuple[Setting, Builder], ...] = (
    (Setting("restore_defaults", "Restore default settings", options=(PRESS,)), press("PF")),
)

_ALLOWED = AllowList("PI41", _ENTRIES, _ACTION_ENTRIES)
SETTINGS, ACTIONS, SETTING_MAP = _ALLOWED.settings, _ALLOWED.actions, _ALLOWED.setting_map
setter_command, expected_readback = _ALLOWED.setter_command, _ALLOWED.expected_readback
settings_for = _ALLOWED.settings_for

"""Protocols layer (PI18): settings — typed, range-checked setter command text.

Pure: value in, command text out (or SettingError with a one-line reason); no I/O,
no framing (encode() frames the text). The allow-list is `SETTINGS`; nothing else can
become a setter, and setters.py never produces a query (commands.is_query() tells them
apart). Values are read exactly (Decimal) by PI30's rules (protocols/pi30/setters.py):
`5_4`, `inf`, `54.05` for a 0.1 V field are refused, never rounded.

PI18 specifics, from the "InfiniSolar V protocol" PDF (2017-09-26):
  * Voltages go as three digits of 0.1 V (`PSDV450` = 45.0 V).
  * Bulk and float voltage are one command (`MCHGV564,540`), as are the re-charge and
    re-discharge voltages (`BUCD460,540`): each is its own setting here, and the other
    half is the value in force, from PIRI (`Pi18Context`). Without it the setting is
    refused rather than guessed.
  * Ranges are the PDF's for a 48 V unit: bulk/float 48.0-58.4 V, cut-off 40.0-48.0 V;
    12 V and 24 V units take a quarter and a half of them (rounded to 0.1 V). Re-charge
    and re-discharge take only the values the PDF lists per battery voltage (48 V unit:
    44-51 V and 0 (= battery full) or 48-58 V, in 1 V steps).
  * Charge currents go as `MCHGC<m>,<nnn>` / `MUCHGC<m>,<nnn>` (m: parallel machine
    number, 0 on a single unit) and must be in the unit's own MCHGCR / MUCHGCR lists
    when those are known.
  * Flags are `PE<letter>` / `PD<letter>` with FLAG's field letters A-H (`^S006PEA`).
mpp-solar's `pi18` regexes differ in places: MCHGV bulk to 58.5 V (float to 58.4 V), BUCD
with the 48 V lists only, MCHGC 10-80 A only (an Easun SV lists 10-120 A, an EG4 PIRI shows
120 A). We take the PDF's numbers, scaled to 12/24 V units, and the unit's own current lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import NamedTuple

from solarstack.core.errors import SettingError
from solarstack.core.fields import Setting, Value
from solarstack.protocols.pi18 import enums
from solarstack.protocols.pi30.builders import (
    AllowList,
    AnyBuilder,
    currents,
    flag_entries,
    labels,
    nominal_voltage,
    offered_amps,
    read_back,
    select,
)

# One rule for reading a setting's value in the whole family (see the module docstring).
from solarstack.protocols.pi30.values import decimals, parse_number, round1


class Pi18Context(NamedTuple):
    """What a setter needs to know about the device (from its own answers)."""

    nominal_battery_voltage: float = 48.0
    max_charging_currents: tuple[int, ...] = ()  # MCHGCR; empty: static bounds only
    max_utility_charging_currents: tuple[int, ...] = ()  # MUCHGCR
    unit: int = 0  # parallel machine number for PCP, MCHGC, MUCHGC
    # The values in force (PIRI), for the commands that set two at once; None: unknown.
    bulk_voltage: float | None = None
    float_voltage: float | None = None
    recharge_voltage: float | None = None
    redischarge_voltage: float | None = None


def _volts(piri: Mapping[str, Value], key: str) -> float | None:
    value = piri.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def context_from(
    piri: Mapping[str, Value],
    mchgcr: Mapping[str, Value] | None = None,
    muchgcr: Mapping[str, Value] | None = None,
    *,
    unit: int = 0,
) -> Pi18Context:
    """Build the context from decoded PIRI (and the current lists, if the device has them)."""
    nominal = nominal_voltage(piri, "PIRI")
    if not 0 <= unit <= 9:
        raise SettingError(f"parallel machine number {unit} is not 0-9")
    return Pi18Context(
        nominal_battery_voltage=nominal,
        max_charging_currents=currents(mchgcr, "charging_current_options"),
        max_utility_charging_currents=currents(muchgcr, "utility_charging_current_options"),
        unit=unit,
        bulk_voltage=_volts(piri, "battery_bulk_voltage"),
        float_voltage=_volts(piri, "battery_float_voltage"),
        recharge_voltage=_volts(piri, "battery_recharge_voltage"),
        redischarge_voltage=_volts(piri, "battery_redischarge_voltage"),
    )


# --- one builder per kind of setting -----------------------------------------------

Builder = Callable[[str, "str | float", Pi18Context], str]


def _select(prefix: str, options: Mapping[str, str], *, per_unit: bool = False) -> AnyBuilder:
    """A choice by label -> prefix [+ the parallel unit and a comma] + the raw code (`PCP0,1`)."""
    return select(prefix, {label: ("{unit}," if per_unit else "") + raw for raw, label in options.items()})


def _tenths(volts: Decimal) -> str:
    """Three digits of 0.1 V (54.0 -> `540`, 0 -> `000`)."""
    return f"{int(volts * 10):03d}"


def _voltage(key: str, value: str | float, low: float, high: float, ctx: Pi18Context) -> Decimal:
    """A battery voltage within the 48 V-unit bounds scaled to the unit, with one decimal."""
    volts = parse_number(key, value)
    factor = ctx.nominal_battery_voltage / 48.0
    lo, hi = round1(low * factor), round1(high * factor)
    if not Decimal(str(lo)) <= volts <= Decimal(str(hi)):
        raise SettingError(f"{key}: {volts} V out of range {lo}-{hi} V for a {ctx.nominal_battery_voltage:g} V battery")
    if decimals(volts) > 1:  # the command carries 0.1 V: 54.05 would be sent as 54.0
        raise SettingError(f"{key}: {volts} V has more than one decimal")
    return volts


def _partner(key: str, partner: str, known: float | None) -> Decimal:
    if known is None:
        raise SettingError(f"{key}: the {partner} in force is unknown (read PIRI first): it is set in the same command")
    return Decimal(str(known)).quantize(Decimal("0.1"))


def _charge_voltage(bulk: bool) -> Builder:
    """MCHGV<bulk>,<float>: this half from the value, the other from the context."""

    def build(key: str, value: str | float, ctx: Pi18Context) -> str:
        volts = _voltage(key, value, 48.0, 58.4, ctx)
        if bulk:
            other = _partner(key, "float voltage", ctx.float_voltage)
            return f"MCHGV{_tenths(volts)},{_tenths(other)}"
        other = _partner(key, "bulk voltage", ctx.bulk_voltage)
        return f"MCHGV{_tenths(other)},{_tenths(volts)}"

    return build


def _cut_off(key: str, value: str | float, ctx: Pi18Context) -> str:
    return "PSDV" + _tenths(_voltage(key, value, 40.0, 48.0, ctx))


def _steps(*values: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


def _range(low: str, high: str, step: str) -> tuple[Decimal, ...]:
    start, stop, by = Decimal(low), Decimal(high), Decimal(step)
    return tuple(start + by * i for i in range(int((stop - start) / by) + 1))


#: BUCD's selectable values per nominal battery voltage (PDF, "Set battery re-charged and
#: re-discharged voltage when utility is available"). 0 re-discharge = when full.
RECHARGE_VOLTAGES: Mapping[float, tuple[Decimal, ...]] = MappingProxyType(
    {
        12.0: _steps("11", "11.3", "11.5", "11.8", "12", "12.3", "12.5", "12.8"),
        24.0: _range("22", "25.5", "0.5"),
        48.0: _range("44", "51", "1"),
    }
)
REDISCHARGE_VOLTAGES: Mapping[float, tuple[Decimal, ...]] = MappingProxyType(
    {
        12.0: _steps("0", "12", "12.3", "12.5", "12.8", "13", "13.3", "13.5", "13.8", "14", "14.3", "14.5"),
        24.0: (Decimal(0), *_range("24", "29", "0.5")),
        48.0: (Decimal(0), *_range("48", "58", "1")),
    }
)

#: The finest step between listed values, for a number entity (the setter still takes only
#: the listed ones: 11.3 V on a 12 V unit, not 11.4 V).
LISTED_STEP: Mapping[float, float] = MappingProxyType({12.0: 0.1, 24.0: 0.5, 48.0: 1.0})


def _listed(key: str, value: str | float, allowed: tuple[Decimal, ...], ctx: Pi18Context) -> Decimal:
    volts = parse_number(key, value)
    if volts not in allowed:
        shown = ", ".join(f"{v:g}" for v in allowed)
        raise SettingError(f"{key}: {volts} V is not one a {ctx.nominal_battery_voltage:g} V unit takes ({shown})")
    return volts


def _utility_voltage(recharge: bool) -> Builder:
    """BUCD<re-charge>,<re-discharge>: this half from the value, the other from the context."""

    def build(key: str, value: str | float, ctx: Pi18Context) -> str:
        if recharge:
            volts = _listed(key, value, RECHARGE_VOLTAGES[ctx.nominal_battery_voltage], ctx)
            other = _partner(key, "re-discharge voltage", ctx.redischarge_voltage)
            return f"BUCD{_tenths(volts)},{_tenths(other)}"
        volts = _listed(key, value, REDISCHARGE_VOLTAGES[ctx.nominal_battery_voltage], ctx)
        other = _partner(key, "re-charge voltage", ctx.recharge_voltage)
        return f"BUCD{_tenths(other)},{_tenths(volts)}"

    return build


def _charge_current(utility: bool) -> Builder:
    def build(key: str, value: str | float, ctx: Pi18Context) -> str:
        offered = ctx.max_utility_charging_currents if utility else ctx.max_charging_currents
        amps = offered_amps(key, value, offered, SETTING_MAP[key])
        return f"{'MUCHGC' if utility else 'MCHGC'}{ctx.unit},{amps:03d}"

    return build


# --- the allow-list ------------------------------------------------------------------


_piri = read_back("PIRI")


def _only(options: Mapping[str, str], allowed: str) -> dict[str, str]:
    return {raw: label for raw, label in options.items() if raw in allowed}


_V = {"unit": "V", "step": 0.1}

_ENTRIES: tuple[tuple[Setting, Builder], ...] = (
    (
        _piri("output_source_priority", "Output source priority", options=tuple(enums.OUTPUT_SOURCE_PRIORITY.values())),
        _select("POP", enums.OUTPUT_SOURCE_PRIORITY),
    ),
    (
        _piri(
            "charger_source_priority", "Charger source priority", options=tuple(enums.CHARGER_SOURCE_PRIORITY.values())
        ),
        _select("PCP", enums.CHARGER_SOURCE_PRIORITY, per_unit=True),
    ),
    (
        _piri("solar_power_priority", "Solar power priority", options=tuple(enums.SOLAR_POWER_PRIORITY.values())),
        _select("PSP", enums.SOLAR_POWER_PRIORITY),
    ),
    (
        _piri("input_voltage_range", "AC input range", options=tuple(enums.INPUT_VOLTAGE_RANGE.values())),
        _select("PGR", enums.INPUT_VOLTAGE_RANGE),
    ),
    (  # the PDF's setter takes 0-2 only, whatever PIRI may report
        _piri("battery_type", "Battery type", options=labels(enums.BATTERY_TYPE, "012")),
        _select("PBT", _only(enums.BATTERY_TYPE, "012")),
    ),
    (
        _piri("max_charging_current", "Max charging current", minimum=10, maximum=150, step=1, unit="A"),
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
            readback_command="PIRI",
        ),
        _charge_current(utility=True),
    ),
    (
        _piri("battery_bulk_voltage", "Battery bulk (C.V.) voltage", minimum=48.0, maximum=58.4, **_V),
        _charge_voltage(bulk=True),
    ),
    (
        _piri("battery_float_voltage", "Battery float voltage", minimum=48.0, maximum=58.4, **_V),
        _charge_voltage(bulk=False),
    ),
    (
        _piri("battery_under_voltage", "Battery cut-off voltage", minimum=40.0, maximum=48.0, **_V),
        _cut_off,
    ),
    (
        _piri("battery_recharge_voltage", "Battery re-charge voltage", minimum=44.0, maximum=51.0, step=1.0, unit="V"),
        _utility_voltage(recharge=True),
    ),
    (
        _piri(
            "battery_redischarge_voltage",
            "Battery re-discharge voltage (0: when full)",
            minimum=0.0,
            maximum=58.0,
            step=1.0,
            unit="V",
        ),
        _utility_voltage(recharge=False),
    ),
    *flag_entries(enums.FLAG_LETTERS, "FLAG"),
)

_ALLOWED = AllowList("PI18", _ENTRIES)
SETTINGS: tuple[Setting, ...] = _ALLOWED.settings
SETTING_MAP: Mapping[str, Setting] = _ALLOWED.setting_map
setter_command = _ALLOWED.setter_command


def expected_readback(key: str, value: str | float) -> Value:
    """What the setting's read-back field shows once `value` took effect.

    Call after setter_command() accepted the value.
    """
    setting = SETTING_MAP[key]
    if setting.readback_command == "FLAG":
        return str(value).strip().upper() == "ON"
    if setting.options:
        return str(value).strip().lower()
    number = parse_number(key, value)
    return int(number) if setting.unit == "A" else float(number)


def settings_for(ctx: Pi18Context) -> tuple[Setting, ...]:
    """SETTINGS with bounds narrowed to this unit: battery voltages scaled to its nominal
    voltage (the listed BUCD values' span), charge currents to the span of its own lists."""
    factor = ctx.nominal_battery_voltage / 48.0
    listed = {
        "battery_recharge_voltage": RECHARGE_VOLTAGES[ctx.nominal_battery_voltage],
        "battery_redischarge_voltage": REDISCHARGE_VOLTAGES[ctx.nominal_battery_voltage],
    }
    lists = {
        "max_charging_current": ctx.max_charging_currents,
        "max_utility_charging_current": ctx.max_utility_charging_currents,
    }
    narrowed = []
    for setting in SETTINGS:
        if setting.key in listed:
            values = listed[setting.key]
            setting = setting._replace(
                minimum=float(min(values)), maximum=float(max(values)), step=LISTED_STEP[ctx.nominal_battery_voltage]
            )
        elif setting.unit == "V":
            setting = setting._replace(
                minimum=round1((setting.minimum or 0.0) * factor),
                maximum=round1((setting.maximum or 0.0) * factor),
            )
        elif lists.get(setting.key):
            currents = lists[setting.key]
            setting = setting._replace(minimum=min(currents), maximum=max(currents))
        narrowed.append(setting)
    return tuple(narrowed)

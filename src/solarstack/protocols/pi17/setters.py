"""Protocols layer (PI17): settings — typed, range-checked setter command text.

Pure: value in, command text out (or SettingError with a one-line reason); no I/O,
no framing (encode() frames the text). The allow-list is `SETTINGS`; nothing else can
become a setter, and setters.py never produces a query (commands.is_query() tells them
apart). Values are read exactly (Decimal) by the family's rules (protocols/pi30/values.py):
`5_4`, `inf`, `54.05` for a 0.1 V field are refused, never rounded.

PI17 specifics, from the "Infini-Solar 5KW protocol" PDF (2016-03-09) and the 2022-09-21
LV6K / 3P / TWIN PDF (jblance/mpp-solar docs/protocols/):
  * PI17 has no output or charger source priority commands (POP / PCP); what decides where
    power goes is the solar priority (`SEP00`-`SEP02`) and seven energy-distribution
    switches (`EDA1` = solar charges the battery, `EDB1` = the grid charges it, …).
  * Voltages go as four digits of 0.1 V (`MCHGV0564,0540`), currents as four digits of
    0.1 A (`MCHGC0600` = 60.0 A), the hybrid-mode discharge limit as whole amps
    (`BDCM0250`).
  * Bulk and float voltage are one command (`MCHGV`), and the four discharge voltages are
    another (`BATDV<cut-off>,<cut-off back>,<hybrid cut-off>,<hybrid back>`): each is its own
    setting here, and the other values are those in force, from BATS (`Pi17Context`).
    Without them the setting is refused rather than guessed.
  * Flags are `PE<letter>` / `PD<letter>` (`^S004PEA`: the PDFs' `^S004Pmn`, m = E/D),
    the letters of FLAG; only A-F are offered, the ones both PDFs name alike. mpp-solar
    also lists `PA1`, `PB0` … (letter then 0/1), which neither PDF has: not offered.
Ranges: the PDFs give 40.0-60.0 V (`400~600`) for every battery voltage they bound and
10-300 A for BDCM; for MCHGC / MUCHGC they give none, so those take 0-300 A, mpp-solar's
bound (`[012]\\d\\d\\d`). A unit's own MAR reply (charge voltage and charging current
limits) narrows MCHGV and MCHGC further (`context_from(bats, mar)`, `settings_for`).
mpp-solar checks only the digits' shape (MCHGV and BATDV 40.0-59.9 V, BDCM 0-299 A) and
calls MCHGC's unit mA in its help where the PDFs say 0.1 A; we follow the PDFs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

from solarstack.core.errors import SettingError
from solarstack.core.fields import Setting, Value
from solarstack.protocols.pi17 import enums

# One rule for reading a setting's value in the whole family (see the module docstring).
from solarstack.protocols.pi30.values import decimals, parse_number, quote, whole

#: Battery voltage bounds, V (the PDFs' `400~600` in 0.1 V).
VOLTS = (40.0, 60.0)
#: Charge current bounds, A (MCHGC / MUCHGC).
AMPS = (0.0, 300.0)
#: Hybrid-mode discharge current bounds, A (BDCM: "range: 10~300").
DISCHARGE_AMPS = (10, 300)

#: BATDV's four values in command order.
DISCHARGE_VOLTAGES = (
    "battery_under_voltage",
    "battery_under_back_voltage",
    "battery_weak_voltage",
    "battery_weak_back_voltage",
)


class Pi17Context(NamedTuple):
    """What a setter needs to know about the device (from its own answers): the values in
    force (BATS), for the commands that set several at once, and the unit's own ranges
    (MAR) for charge voltages and current. None: unknown (the static bounds apply)."""

    charge_voltage_range: tuple[float, float] | None = None
    charging_current_range: tuple[float, float] | None = None
    bulk_voltage: float | None = None
    float_voltage: float | None = None
    under_voltage: float | None = None
    under_back_voltage: float | None = None
    weak_voltage: float | None = None
    weak_back_voltage: float | None = None


def _volts(bats: Mapping[str, Value], key: str) -> float | None:
    value = bats.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _range(mar: Mapping[str, Value] | None, key: str) -> tuple[float, float] | None:
    low, high = _volts(mar or {}, f"{key}_min"), _volts(mar or {}, f"{key}_max")
    return (low, high) if low is not None and high is not None and 0 <= low <= high else None


def context_from(bats: Mapping[str, Value], mar: Mapping[str, Value] | None = None) -> Pi17Context:
    """Build the context from decoded BATS (and MAR, if the unit answers it)."""
    return Pi17Context(
        charge_voltage_range=_range(mar, "charge_voltage"),
        charging_current_range=_range(mar, "charging_current"),
        bulk_voltage=_volts(bats, "battery_bulk_voltage"),
        float_voltage=_volts(bats, "battery_float_voltage"),
        under_voltage=_volts(bats, "battery_under_voltage"),
        under_back_voltage=_volts(bats, "battery_under_back_voltage"),
        weak_voltage=_volts(bats, "battery_weak_voltage"),
        weak_back_voltage=_volts(bats, "battery_weak_back_voltage"),
    )


# --- one builder per kind of setting -----------------------------------------------

Builder = Callable[[str, "str | float", Pi17Context], str]


def _select(prefix: str, options: Mapping[str, str]) -> Builder:
    codes = {label: raw for raw, label in options.items()}

    def build(key: str, value: str | float, ctx: Pi17Context) -> str:
        code = codes.get(str(value).strip().lower())
        if code is None:
            raise SettingError(f"{key}: {quote(value)} is not one of {', '.join(codes)}")
        return prefix + code

    return build


def _on_off(key: str, value: str | float) -> bool:
    state = str(value).strip().upper()
    if state not in ("ON", "OFF"):
        raise SettingError(f"{key}: {quote(value)} is not ON or OFF")
    return state == "ON"


def _tenths(key: str, value: str | float, low: float, high: float, unit: str) -> str:
    """Four digits of 0.1 `unit` (54.0 -> `0540`), within low..high, at most one decimal."""
    number = parse_number(key, value)
    if not Decimal(str(low)) <= number <= Decimal(str(high)):
        raise SettingError(f"{key}: {number} {unit} out of range {low:g}-{high:g} {unit}")
    if decimals(number) > 1:  # the command carries 0.1 units: 54.05 would be sent as 54.0
        raise SettingError(f"{key}: {number} {unit} has more than one decimal")
    return f"{int(number * 10):04d}"


def _known(key: str, partner: str, known: float | None) -> str:
    if known is None:
        raise SettingError(f"{key}: the {partner} in force is unknown (read BATS first): it is set in the same command")
    return f"{int(Decimal(str(known)).quantize(Decimal('0.1')) * 10):04d}"


def _charge_voltage(bulk: bool) -> Builder:
    """MCHGV<bulk>,<float>: this half from the value, the other from the context."""

    def build(key: str, value: str | float, ctx: Pi17Context) -> str:
        volts = _tenths(key, value, *(ctx.charge_voltage_range or VOLTS), "V")
        if bulk:
            return f"MCHGV{volts},{_known(key, 'float voltage', ctx.float_voltage)}"
        return f"MCHGV{_known(key, 'bulk voltage', ctx.bulk_voltage)},{volts}"

    return build


def _discharge_voltage(index: int) -> Builder:
    """BATDV a,b,c,d: this one from the value, the other three from the context."""

    def build(key: str, value: str | float, ctx: Pi17Context) -> str:
        known = (ctx.under_voltage, ctx.under_back_voltage, ctx.weak_voltage, ctx.weak_back_voltage)
        parts = [
            _tenths(key, value, *VOLTS, "V") if i == index else _known(key, name.replace("_", " "), known[i])
            for i, name in enumerate(DISCHARGE_VOLTAGES)
        ]
        return "BATDV" + ",".join(parts)

    return build


def _current(prefix: str, *, own_range: bool) -> Builder:
    """MCHGC / MUCHGC; MAR bounds only MCHGC ("battery Max. charged current")."""

    def build(key: str, value: str | float, ctx: Pi17Context) -> str:
        bounds = (ctx.charging_current_range if own_range else None) or AMPS
        return prefix + _tenths(key, value, *bounds, "A")

    return build


def _discharge_current(key: str, value: str | float, ctx: Pi17Context) -> str:
    return f"BDCM{whole(key, value, *DISCHARGE_AMPS):04d}"


def _switch(on: str, off: str) -> Builder:
    def build(key: str, value: str | float, ctx: Pi17Context) -> str:
        return on if _on_off(key, value) else off

    return build


# --- the allow-list ------------------------------------------------------------------


def _from(command: str, key: str, label: str, readback: str | None = None, **kw: Any) -> Setting:
    return Setting(key, label, readback=readback or key, readback_command=command, **kw)


_V: dict[str, Any] = {"unit": "V", "step": 0.1, "minimum": VOLTS[0], "maximum": VOLTS[1]}
_A: dict[str, Any] = {"unit": "A", "step": 0.1, "minimum": AMPS[0], "maximum": AMPS[1]}
_LABELS = {
    "solar_charge_battery": "Solar charges the battery",
    "ac_charge_battery": "Grid charges the battery",
    "feed_to_grid": "Feed power to the grid",
    "battery_to_load_when_solar_ok": "Battery supplies the loads while solar is available",
    "battery_to_load_when_solar_lost": "Battery supplies the loads without solar",
    "battery_to_grid_when_solar_ok": "Battery feeds the grid while solar is available",
    "battery_to_grid_when_solar_lost": "Battery feeds the grid without solar",
    "mute_buzzer": "Mute the buzzer",
    "mute_buzzer_standby": "Mute the buzzer in standby",
    "mute_buzzer_on_battery": "Mute the buzzer only while on battery",
    "generator_as_ac_input": "Generator as AC input",
    "wide_ac_input_range": "Wide AC input range",
    "ng_relay": "N/G relay",
    "battery_under_voltage": "Battery cut-off voltage",
    "battery_under_back_voltage": "Battery cut-off recovery voltage",
    "battery_weak_voltage": "Battery cut-off voltage in hybrid mode",
    "battery_weak_back_voltage": "Battery cut-off recovery voltage in hybrid mode",
}

_ENTRIES: tuple[tuple[Setting, Builder], ...] = (
    (
        Setting(
            "solar_power_priority",
            "Solar power priority",
            options=tuple(enums.SOLAR_POWER_PRIORITY.values()),
            readback="solar_power_priority",
            readback_command="HECS",
        ),
        _select("SEP", enums.SOLAR_POWER_PRIORITY),
    ),
    *(
        (
            Setting(key, _LABELS[key], options=("ON", "OFF"), readback=key, readback_command="HECS"),
            _switch(f"ED{letter}1", f"ED{letter}0"),
        )
        for letter, key in enums.ENERGY_FLAGS
    ),
    (_from("BATS", "max_charging_current", "Max charging current", **_A), _current("MCHGC", own_range=True)),
    (
        _from("BATS", "max_utility_charging_current", "Max utility charging current", "max_ac_charging_current", **_A),
        _current("MUCHGC", own_range=False),
    ),
    (_from("BATS", "battery_bulk_voltage", "Battery bulk (C.V.) voltage", **_V), _charge_voltage(bulk=True)),
    (_from("BATS", "battery_float_voltage", "Battery float voltage", **_V), _charge_voltage(bulk=False)),
    *((_from("BATS", key, _LABELS[key], **_V), _discharge_voltage(i)) for i, key in enumerate(DISCHARGE_VOLTAGES)),
    (
        _from(
            "BATS",
            "max_hybrid_discharging_current",
            "Max battery discharge current in hybrid mode",
            unit="A",
            step=1,
            minimum=DISCHARGE_AMPS[0],
            maximum=DISCHARGE_AMPS[1],
        ),
        _discharge_current,
    ),
    (
        Setting(
            "battery_type",
            "Battery type",
            options=tuple(enums.BATTERY_TYPE.values()),
            readback="battery_type",
            readback_command="BATS",
        ),
        _select("BT", enums.BATTERY_TYPE),
    ),
    *(
        (
            Setting(key, _LABELS[key], options=("ON", "OFF"), readback=key, readback_command="FLAG"),
            _switch(f"PE{letter}", f"PD{letter}"),
        )
        for letter, key in enums.SETTABLE_FLAGS
    ),
)

SETTINGS: tuple[Setting, ...] = tuple(s for s, _ in _ENTRIES)
SETTING_MAP: Mapping[str, Setting] = MappingProxyType({s.key: s for s in SETTINGS})
_BUILDERS: Mapping[str, Builder] = MappingProxyType({s.key: b for s, b in _ENTRIES})


def setter_command(key: str, value: str | float, ctx: Pi17Context | None = None) -> str:
    """The exact setter text for `key` = `value` (e.g. `SEP01`, `MCHGC0600`), or SettingError."""
    builder = _BUILDERS.get(key)
    if builder is None:
        raise SettingError(f"unknown PI17 setting {quote(key)}; allowed: {', '.join(_BUILDERS)}")
    return builder(key, value, ctx or Pi17Context())


def expected_readback(key: str, value: str | float) -> Value:
    """What the setting's read-back field shows once `value` took effect.

    Call after setter_command() accepted the value.
    """
    setting = SETTING_MAP[key]
    if setting.options == ("ON", "OFF"):
        return str(value).strip().upper() == "ON"
    if setting.options:
        return str(value).strip().lower()
    number = parse_number(key, value)
    return int(number) if setting.step == 1 else float(number)


def settings_for(ctx: Pi17Context) -> tuple[Setting, ...]:
    """SETTINGS with the charge voltages' and charging current's bounds narrowed to the
    unit's own ranges (MAR), where known."""
    narrowed = {
        "battery_bulk_voltage": ctx.charge_voltage_range,
        "battery_float_voltage": ctx.charge_voltage_range,
        "max_charging_current": ctx.charging_current_range,
    }
    out = []
    for setting in SETTINGS:
        bounds = narrowed.get(setting.key)
        out.append(setting._replace(minimum=bounds[0], maximum=bounds[1]) if bounds else setting)
    return tuple(out)

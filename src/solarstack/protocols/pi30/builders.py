"""Protocols layer: the PI family's setter building blocks — builders that turn a value into
setter text, and the allow-list that holds them (setters.py here, and PI41's and PI18's
setters, build on it).

Pure: value in, command text out (or SettingError with a one-line reason); no I/O, no
framing. Values are read by values.py's rules. A builder needs only what `UnitContext`
names, so one builder serves every family's context (Pi30Context, Pi41Context, Pi18Context).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from solarstack.core.errors import SettingError
from solarstack.core.fields import Setting, Value
from solarstack.protocols.pi30.values import decimals, parse_number, quote, round1, whole

NOMINAL_VOLTAGES = (12.0, 24.0, 48.0)

#: What an action (a button) must receive to fire: HA's button `payload_press` default.
PRESS = "PRESS"
#: Actions that erase the unit's settings (PF: factory defaults). A reader leaves them off
#: its allow-list, catalogue and discovery unless its operator enables them.
DESTRUCTIVE: frozenset[str] = frozenset({"restore_defaults"})


class UnitContext(Protocol):
    """What the shared builders read of a family's setter context."""

    @property
    def nominal_battery_voltage(self) -> float: ...
    @property
    def max_charging_currents(self) -> tuple[int, ...]: ...
    @property
    def max_utility_charging_currents(self) -> tuple[int, ...]: ...
    @property
    def unit(self) -> int: ...


Ctx = TypeVar("Ctx", bound=UnitContext)
Builder = Callable[[str, "str | float", Ctx], str]
#: A builder any family's context can call.
AnyBuilder = Callable[[str, "str | float", UnitContext], str]


def nominal_voltage(rated_info: Mapping[str, Value], command: str = "QPIRI") -> float:
    """The battery's nominal voltage (12, 24 or 48 V) nearest the rated one in QPIRI."""
    rated = rated_info.get("rated_battery_voltage")
    if not isinstance(rated, int | float) or isinstance(rated, bool) or rated <= 0:
        raise SettingError(f"{command} has no rated battery voltage: cannot range-check battery settings")
    return min(NOMINAL_VOLTAGES, key=lambda v: abs(v - rated))


def currents(decoded: Mapping[str, Value] | None, key: str) -> tuple[int, ...]:
    """A decoded QMCHGCR / QMUCHGCR list as whole amps (empty when the unit gave none)."""
    items = (decoded or {}).get(key)
    return tuple(int(i) for i in items) if isinstance(items, list) else ()


class RatedContext(NamedTuple):
    """A unit's ratings that bound its settings, from its own answers: what PI41's setters
    need (Pi41Context) and what PI30's context adds firmware details to."""

    nominal_battery_voltage: float = 48.0
    max_charging_currents: tuple[int, ...] = ()  # QMCHGCR; empty: static bounds only
    max_utility_charging_currents: tuple[int, ...] = ()  # QMUCHGCR
    unit: int = 0  # parallel machine number the setter text carries


def rated_context(
    qpiri: Mapping[str, Value],
    qmchgcr: Mapping[str, Value] | None = None,
    qmuchgcr: Mapping[str, Value] | None = None,
    *,
    unit: int = 0,
) -> RatedContext:
    """The ratings from decoded QPIRI (and the current lists, if the unit answers them)."""
    return RatedContext(
        nominal_battery_voltage=nominal_voltage(qpiri),
        max_charging_currents=currents(qmchgcr, "charging_current_options"),
        max_utility_charging_currents=currents(qmuchgcr, "utility_charging_current_options"),
        unit=unit,
    )


def labels(options: Mapping[str, str], allowed: str) -> tuple[str, ...]:
    """The labels of the raw codes in `allowed`."""
    return tuple(label for raw, label in options.items() if raw in allowed)


def codes(options: Mapping[str, str], allowed: str, width: int = 2) -> dict[str, str]:
    """label -> zero-padded code for the raw digits in `allowed`."""
    return {label: raw.zfill(width) for raw, label in options.items() if raw in allowed}


def select(prefix: str, codes: Mapping[str, str]) -> AnyBuilder:
    """A choice by label (`sbu`) -> prefix + its code; `{unit}` in a code is the parallel unit."""

    def build(key: str, value: str | float, ctx: UnitContext) -> str:
        code = codes.get(str(value).strip().lower())
        if code is None:
            raise SettingError(f"{key}: {quote(value)} is not one of {', '.join(codes)}")
        return prefix + code.format(unit=ctx.unit)

    return build


def _on(key: str, value: str | float) -> bool:
    state = str(value).strip().upper()
    if state not in ("ON", "OFF"):
        raise SettingError(f"{key}: {quote(value)} is not ON or OFF")
    return state == "ON"


def flag(letter: str) -> AnyBuilder:
    """A QFLAG letter: `PE<letter>` for ON, `PD<letter>` for OFF."""

    def build(key: str, value: str | float, ctx: UnitContext) -> str:
        return ("PE" if _on(key, value) else "PD") + letter

    return build


def on_off(prefix: str) -> AnyBuilder:
    """ON / OFF as the digit 1 / 0 after `prefix`."""

    def build(key: str, value: str | float, ctx: UnitContext) -> str:
        return prefix + ("1" if _on(key, value) else "0")

    return build


def voltage(
    prefix: str, low: float, high: float, *, digits: int = 1, whole_volts: bool = False, zero_ok: bool = False
) -> AnyBuilder:
    """A battery voltage with 48 V-unit bounds scaled to the unit's nominal voltage; `digits`
    decimals on the wire (`dd.d`, `dd.dd`); `whole_volts`: only whole volts; `zero_ok`: 0 too."""

    def build(key: str, value: str | float, ctx: UnitContext) -> str:
        volts = parse_number(key, value)
        factor = ctx.nominal_battery_voltage / 48.0
        lo, hi = round1(low * factor), round1(high * factor)
        if not (zero_ok and volts == 0) and not Decimal(str(lo)) <= volts <= Decimal(str(hi)):
            zero = "0 (battery full) or " if zero_ok else ""
            span = f"{lo:g}-{hi:g}" if whole_volts else f"{lo}-{hi}"
            raise SettingError(
                f"{key}: {volts} V out of range {zero}{span} V for a {ctx.nominal_battery_voltage:g} V battery"
            )
        if whole_volts and decimals(volts):
            raise SettingError(f"{key}: {volts} V must be whole volts (the unit takes {lo:g}, {lo + 1:g} … {hi:g} V)")
        if decimals(volts) > digits:  # the command carries dd.d: 54.05 would be sent as 54.0 or 54.1
            places = "one decimal" if digits == 1 else f"{digits} decimals"
            raise SettingError(f"{key}: {volts} V has more than {places}")
        return f"{prefix}{volts:0{3 + digits}.{digits}f}"

    return build


def offered_amps(key: str, value: str | float, offered: tuple[int, ...], setting: Setting) -> int:
    """A charge current: one of the unit's own list when it gave one, else within the
    setting's static bounds."""
    if offered:
        amps = whole(key, value, min(offered), max(offered))
        if amps not in offered:
            raise SettingError(f"{key}: {amps} A is not one the device offers ({', '.join(map(str, offered))})")
        return amps
    return whole(key, value, setting.minimum or 0, setting.maximum or 0)


def press(text: str) -> AnyBuilder:
    """An action: `text` on the exact payload PRESS, anything else refused (`NO`, ``, `press`)."""

    def build(key: str, value: str | float, ctx: UnitContext) -> str:
        if value != PRESS:
            raise SettingError(f"{key}: an action runs only on the payload {PRESS}, not {quote(value)}")
        return text

    return build


def read_back(command: str) -> Callable[..., Setting]:
    """A Setting maker whose value is read back from the same key of `command`'s reply."""

    def make(key: str, label: str, **kw: Any) -> Setting:
        return Setting(key, label, readback=key, readback_command=command, **kw)

    return make


def flag_entries(letters: Iterable[tuple[str, str]], command: str = "QFLAG") -> tuple[tuple[Setting, AnyBuilder], ...]:
    """One ON/OFF setting per flag letter, read back from `command`."""
    return tuple(
        (
            Setting(
                key, key.replace("_", " ").capitalize(), options=("ON", "OFF"), readback=key, readback_command=command
            ),
            flag(letter),
        )
        for letter, key in letters
    )


class AllowList(Generic[Ctx]):
    """A family's settings (select/number entities) and actions (buttons, a clock), each with
    its builder: nothing else can become a setter."""

    def __init__(
        self,
        family: str,
        entries: Iterable[tuple[Setting, Builder[Ctx]]],
        actions: Iterable[tuple[Setting, Builder[Ctx]]] = (),
    ) -> None:
        entries, actions = tuple(entries), tuple(actions)
        self.family = family
        self.settings: tuple[Setting, ...] = tuple(s for s, _ in entries)
        self.actions: tuple[Setting, ...] = tuple(s for s, _ in actions)
        self.setting_map: Mapping[str, Setting] = MappingProxyType({s.key: s for s in (*self.settings, *self.actions)})
        self._builders: Mapping[str, Builder[Ctx]] = MappingProxyType({s.key: b for s, b in (*entries, *actions)})

    def setter_command(self, key: str, value: str | float, ctx: Ctx) -> str:
        """The exact setter text for `key` = `value` (e.g. `POP02`, `PBCV46.0`), or SettingError."""
        builder = self._builders.get(key)
        if builder is None:
            raise SettingError(f"unknown {self.family} setting {quote(key)}; allowed: {', '.join(self._builders)}")
        return builder(key, value, ctx)

    def expected_readback(self, key: str, value: str | float) -> Value:
        """What the setting's read-back field shows once `value` took effect (None: not read
        back; a clock reads back the device's time). Call after setter_command() accepted it."""
        setting = self.setting_map[key]
        if setting.readback is None or key == "clock":
            return None
        if setting.options == ("ON", "OFF"):
            return str(value).strip().upper() == "ON"  # QFLAG letters, QBEQI's 0/1 flags
        if key == "output_frequency":
            return float(value)
        if setting.options:
            return str(value).strip().lower()
        number = parse_number(key, value)
        return int(number) if setting.unit in ("A", "min", "h") else float(number)

    def settings_for(self, ctx: Ctx) -> tuple[Setting, ...]:
        """The settings with bounds narrowed to this unit: battery voltages scaled to its
        nominal voltage, charge currents to the span of its own lists (for HA number entities)."""
        factor = ctx.nominal_battery_voltage / 48.0
        lists = {
            "max_charging_current": ctx.max_charging_currents,
            "max_utility_charging_current": ctx.max_utility_charging_currents,
        }
        narrowed = []
        for setting in self.settings:
            if setting.unit == "V" and setting.key != "battery_voltage_calibration":  # an offset: not scaled
                setting = setting._replace(
                    minimum=round1((setting.minimum or 0.0) * factor),
                    maximum=round1((setting.maximum or 0.0) * factor),
                )
            elif lists.get(setting.key):
                offered = lists[setting.key]
                setting = setting._replace(minimum=min(offered), maximum=max(offered))
            narrowed.append(setting)
        return tuple(narrowed)

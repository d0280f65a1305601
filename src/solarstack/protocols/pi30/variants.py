"""Protocols layer (PI30): the firmware variants of PI30 as small deltas over commands.py.

Pure data plus one derivation; no I/O, no frame parsing (codec.py decodes with the tables
derived here). Every variant answers QPI with `PI30`; what differs is the layout of a few
replies. A variant never copies a base table: it names, per command, the base rows its
firmware does not send (`drop`, by key) and its own rows (`rows`: a row whose key is a base
key replaces that row in place, any other is added). `derive` applies the delta; the base
tables in commands.py stay the only copy. The base PI30 table already carries the PI30MAX
additions (QPIGS fields 21-23, QPIGS2, QET/QLT…, QLED) as trailing rows and extra queries,
so MAX needs no variant.

    variant  units (what sources call them)         differs from base PI30 in
    revo     Sorotec REVO / REVO II (PI30REVO)      QPIGS (PV power and the day's PV energy
                                                    where PI30 has PV current and discharge
                                                    current; 17, 18, 20 reserved), QPIRI
                                                    (25 fields; field 8 is the low-voltage alarm)
    mst      PIP4048MST, 3 PV inputs (PI30MST)      QPIGS2 (PV2 and PV3, 12 fields)
    m044     Axpert MAX 7.2k, QGMN 044 (PI30M044)   QPIRI battery types 0-9 and no utility-first
                                                    charging, QPIWS 36 bits, QMOD `C` bypass
    m045     LV6548 class (PI30M045)                QDI / QPGSn charger priority numbered
                                                    0 solar, 1 solar+utility, 2 solar only;
                                                    DAT takes yymmddhhmmss

Sources (facts only, our own rows): the protocol modules pi30revo, pi30mst, pi30m044,
pi30m045 and pi30max of jblance/mpp-solar (at 902b210c, 2025-12-24); the Sorotec "Revo RS232
Communication Protocol V02/V03" (a PDF in jblance/mpp-solar docs/protocols); mpp-solar pull
requests #267 (MST QPIGS2, from the vendor document), #386 and #387 (LV6548: QPIRI follows
PI30 numbering, QDI/QPGSn do not). docs/inverter-protocols.md lists where they disagree and
which reading these rows take.

Not here: REVO's own QALL / PQSE / PSET / QLITH0 (a one-byte additive checksum instead of
the CRC: another framing), and detection — no source ties a variant to a QMN/QGMN answer
(QGMN `044` is also what a plain MAX unit, MKS2-8000, answers), so a variant is named on the
device URL (`?variant=revo`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from solarstack.core.errors import ConfigError
from solarstack.core.fields import FieldTable
from solarstack.protocols.pi30 import commands, enums
from solarstack.protocols.pi30.commands import QPIWS, RATING, WARNING, Command, bits, choice, num, text, whole


class Delta(NamedTuple):
    """One command's difference from the base table."""

    rows: FieldTable = ()  # same key as a base row: replaces it in place; else added
    drop: frozenset[str] = frozenset()  # base keys this firmware does not send


class Variant(NamedTuple):
    """A PI30 firmware variant: per-command deltas, plus what the device side reads of it."""

    name: str
    description: str
    deltas: Mapping[str, Delta]  # by command name (`QPGSn` for the patterned one)
    #: Setter context: DAT takes yymmddhhmmss (setters.Pi30Context.short_clock).
    short_clock: bool = False
    #: Queries worth polling with QPIGS on this variant (its extra live values).
    live: tuple[str, ...] = ()


def derive(base: FieldTable, delta: Delta) -> FieldTable:
    """The variant's table: base rows minus `drop`, `rows` replacing by key or added, by position."""
    replacing = {f.key: f for f in delta.rows}
    rows = [replacing.pop(f.key, f) for f in base if f.key not in delta.drop]
    rows.extend(replacing.values())
    return tuple(sorted(rows, key=lambda f: f.pos))  # stable: bits of one token keep their order


# --- REVO ---------------------------------------------------------------------------
# Vendor document 1.2: field 12 "changed from PV current to PV power" (W), field 15 "changed
# to the amount of power generated on the day" (Wh), 17/18 reserved, 19 PV power, 20
# reserved; no MAX tail. So REVO reports no PV current and no battery discharge current.
_REVO_QPIGS = Delta(
    rows=(
        # a second reading of the same PV power as field 19: no pv_power role (it would count twice)
        whole("pv_generating_power", 12, "W", "04d", group="pv"),
        # the inverter's own count, reset at its midnight: not the reader's integrated pv_energy
        num(
            "inverter_pv_energy_today",
            15,
            "kWh",
            "05.0f",
            scale=0.001,
            state_class="total_increasing",
            group="energy",
            label="PV energy today (inverter's count)",
        ),
    ),
    drop=frozenset(
        {
            "pv_input_current",
            "battery_discharge_current",
            "battery_voltage_offset_for_fans",
            "eeprom_version",
            *(key for _, key in enums.QPIGS_STATUS2_BITS),  # "aaa reserved"; kept raw as extra_20
            "solar_feed_to_grid",
            "country",
            "solar_feed_to_grid_power",
        }
    ),
)

# Vendor document 1.1: 25 fields; field 8 is the low-voltage *alarm* point (PI30: re-charge
# voltage), 15-24 "reserved" but sent (decoded as PI30 names them, as mpp-solar does).
_REVO_QPIRI = Delta(
    rows=(num("battery_low_alarm_voltage", 8, "V", "04.1f", **RATING),),
    drop=frozenset({"battery_recharge_voltage", "max_cv_charging_time", "operation_logic", "max_discharging_current"}),
)

# --- MST: three PV inputs -------------------------------------------------------------
# mpp-solar PR #267 (from the vendor document): PV2 then PV3, each current, voltage, SCC
# battery voltage, charging power, plus AC charging and the PV total.
_MST_QPIGS2 = Delta(
    rows=(
        num("battery_voltage_scc2", 2, "V", "05.2f", group="battery"),
        whole("pv2_input_power", 3, "W", "05d", role="pv_power", group="pv"),
        text("pv_status", 4),
        num("ac_charging_current", 5, "A", "04.1f", group="battery"),
        whole("ac_charging_power", 6, "W", "05d", group="grid"),
        num("pv3_input_current", 7, "A", "04.1f", group="pv"),
        num("pv3_input_voltage", 8, "V", "05.1f", group="pv"),
        num("battery_voltage_scc3", 9, "V", "05.2f", group="battery"),
        whole("pv3_input_power", 10, "W", "05d", role="pv_power", group="pv"),
        # the sum of the pv_power rows above: no role (it would count them twice)
        whole("pv_total_charging_power", 11, "W", "05d", group="pv"),
    ),
)

# --- M044: Axpert MAX 7.2k --------------------------------------------------------------
# QPIWS: 36 characters; bits 32, 33 and 35 named (34 unnamed). Every row is re-widened so
# the bit string is written and read as one 36-character token.
_M044_QPIWS = Delta(
    rows=(
        *(f._replace(fmt="36") for f in QPIWS),
        *bits(0, 36, ((32, "battery_weak_code1"), (33, "battery_weak_code2")), device_class="problem", **WARNING),
        # an equalisation charge in progress: what the user asked for, not a problem
        *bits(0, 36, ((35, "battery_equalization"),), group="status"),
    ),
)

_M044_QPIRI = Delta(
    rows=(
        choice("battery_type", 12, enums.BATTERY_TYPE_M044, **RATING),
        choice("charger_source_priority", 17, enums.CHARGER_SOURCE_PRIORITY_MAX, **RATING),
    ),
)

_M044_QMOD = Delta(rows=(choice("mode", 0, enums.MODE_WITH_BYPASS, role="mode", group="status"),))

# --- M045: LV6548 class -------------------------------------------------------------------
_M045_QDI = Delta(
    rows=(
        choice(
            "default_charger_source_priority", 10, enums.CHARGER_SOURCE_PRIORITY_NO_UTILITY, diagnostic=True, **RATING
        ),
        choice("default_battery_type", 11, enums.BATTERY_TYPE_M045, diagnostic=True, **RATING),
    ),
)
_M045_QPGS = Delta(rows=(choice("charger_source_priority", 21, enums.CHARGER_SOURCE_PRIORITY_NO_UTILITY, **RATING),))


#: Every known variant by name.
VARIANTS: Mapping[str, Variant] = MappingProxyType(
    {
        "revo": Variant(
            "revo",
            "Sorotec REVO / REVO II class (PI30REVO)",
            MappingProxyType({"QPIGS": _REVO_QPIGS, "QPIRI": _REVO_QPIRI}),
        ),
        "mst": Variant(
            "mst",
            "PIP4048MST class, three PV inputs (PI30MST)",
            MappingProxyType({"QPIGS2": _MST_QPIGS2}),
            live=("QPIGS2",),
        ),
        "m044": Variant(
            "m044",
            "Axpert MAX 7.2k, general model 044 (PI30M044)",
            MappingProxyType({"QPIRI": _M044_QPIRI, "QPIWS": _M044_QPIWS, "QMOD": _M044_QMOD}),
        ),
        "m045": Variant(
            "m045",
            "LV6548 class (PI30M045)",
            MappingProxyType({"QDI": _M045_QDI, "QPGSn": _M045_QPGS}),
            short_clock=True,
        ),
    }
)


def find_variant(name: str) -> Variant:
    """The variant called `name`, or ConfigError (one line) listing the known ones."""
    found = VARIANTS.get(name.strip().lower())
    if found is None:
        raise ConfigError(f"unknown PI30 variant {name!r}; known: {', '.join(VARIANTS)}")
    return found


@functools.cache
def _command(name: str, which: str) -> Command:
    spec = commands.COMMANDS[name]
    delta = find_variant(which).deltas.get(name)
    return spec if delta is None else spec._replace(fields=derive(spec.fields, delta))


def canonical(variant: str | None) -> str | None:
    """A variant's name as VARIANTS spells it; None (or empty) for base PI30."""
    return find_variant(variant).name if variant else None


def by_name(name: str, variant: str | None = None) -> Command:
    """A command by its table name (`QPGSn`, not `QPGS0`) in `variant`'s layout."""
    which = canonical(variant)
    return commands.COMMANDS[name] if which is None else _command(name, which)


def lookup(command: str, variant: str | None = None) -> Command:
    """The Command a command text belongs to, with `variant`'s table (None: base PI30).

    ConfigError (one line) for an unknown command or variant.
    """
    spec = commands.lookup(command)
    if not variant:
        return spec
    return _command(spec.name, find_variant(variant).name)


def table(command: str, variant: str | None = None) -> FieldTable:
    """The field table of a query in `variant`'s layout (empty for setters)."""
    return lookup(command, variant).fields

"""Protocols layer (PI41): every command as data — one field table per query.

Pure data plus name resolution; must not do I/O, parse frames (codec.py does) or check
setting values (setters.py does). The row type, its helpers and conventions are PI30's
(protocols/pi30/commands.py: `pos` token index, `fmt` the firmware's text, BOOL rows a
character of a bit string); keys PI30 also reports keep PI30's key, role, group and unit.
Where PI41 sends PI30's command or a prefix of PI30's table, it is PI30's (`_pi30`,
`like_pi30`: PI30's rows with PI41's differences, by the variant rule of
protocols/pi30/variants.py), and lookup is PI30's `CommandIndex` over these commands.

PI41 is the LV5048 class: a split-phase unit with two output lines (L1, L2) and two
charge controllers. Its replies are PI30-framed, and most queries have PI30's layout;
where they do not, the table here is PI41's own:

  * QPIGS: PI30's first 16 fields, then a status string with QPGSn's bits (not PI30's
    QPIGS bits), two reserved fields, PV power and three more bits; L1 only;
  * QPIGS2: line 2 and the second PV input (PI30MAX's QPIGS2 is PV2 only);
  * QPIRI: PI30's first 26 fields (no operation logic, no max discharge current) with
    PI41's output modes; QDI likewise, 26 fields;
  * QPGSn: PI30's QPGSn up to the battery discharge current (27 fields, no PV2);
  * QP2GSn: the same for line 2 of unit n.

Sources (facts only, our own tables): the vendor's "LV5048 5KW communication protocol"
2019-02-22 (jblance/mpp-solar docs/protocols/PI41_LV5048.5KW.protocol-20190222.for.customer.pdf),
the authority for layouts, ranges and setters; jblance/mpp-solar mppsolar/protocols/pi41.py
(PI30's commands plus QPIGS, QPIGS2, QPIRI, QPGSn, QP2GSn) and its test replies, of which
QPGSn / QP2GSn come from a user's LV5048 (jblance/mpp-solar#11). Where they disagree:

  * QPIGS field 12 / QPIGS2 field 7 are "PV input current for battery" (PDF); field 19 is
    "PV charging power" (PDF) / "PV input power" (mpp-solar): we read it as pv_input_power;
  * QPIGS2's status bits: see enums.L2_STATUS_BITS; QPIGS's b4: enums.STATUS_BITS;
  * QPIRI's max charging time at C.V.: `60` in one mpp-solar sample, `000` in another and
    YYY in the PDF: read as a number whatever its width;
  * QP2GSn's first field is 0/1 in the PDF and `11` in the recorded reply: its first
    character is read, the rest ignored;
  * mpp-solar sends PI30's MCHGC for the max charging current; the PDF lists only
    MNCHGC<m><nnn> (three digits), which is what we send (setters.py). QPI and QMN are
    mpp-solar's (inherited from PI30), not in the PDF: kept, a unit that lacks them NAKs.
"""

from __future__ import annotations

from collections.abc import Mapping

from solarstack.core.fields import Field, FieldTable
from solarstack.protocols.pi30 import commands as pi30
from solarstack.protocols.pi30.commands import (
    RATING,
    STATUS,
    WARNING,
    Command,
    CommandIndex,
    Marks,
    Style,
    bits,
    choice,
    flag,
    num,
    parameterised,
    query,
    setter,
    text,
    whole,
)
from solarstack.protocols.pi30.variants import Delta, derive
from solarstack.protocols.pi41 import enums

__all__ = ["COMMANDS", "Command", "Style", "is_query", "lookup", "table"]


def like_pi30(base: FieldTable, *rows: Field, upto: int) -> FieldTable:
    """A PI30 table's rows before position `upto`, `rows` replacing the row of their key or
    added (PI30's variant rule, protocols/pi30/variants.py)."""
    return derive(base, Delta(rows, frozenset(f.key for f in base if f.pos >= upto)))


#: The status bits that report a problem; the others are plain status.
_PROBLEMS: Mapping[str, Marks] = {"battery_open": WARNING, "battery_under": WARNING, "line_loss": WARNING}

QPIGS: FieldTable = like_pi30(
    pi30.QPIGS,
    # line 1's share: both lines' load (the load_power role) is derived (energy.py)
    whole("ac_output_active_power", 5, "W", "04d", group="output"),
    num("pv_input_current", 12, "A", "04.0f", group="pv"),  # "PV1 input current for battery"
    *bits(16, 8, enums.STATUS_BITS, _PROBLEMS, **STATUS),
    # 17, 18: reserved (QQ, VV)
    whole("pv_input_power", 19, "W", "05d", role="pv_power", group="pv"),
    # b10 b9 b8 as on PI30; b8 is reserved here (PI30: dustproof installed)
    flag("charging_to_float", 20, bit=0, width=3, **STATUS),
    flag("switched_on", 20, bit=1, width=3, **STATUS),
    upto=16,
)

QPIGS2: FieldTable = (
    num("l2_ac_input_voltage", 0, "V", "05.1f", group="grid"),
    num("l2_ac_input_frequency", 1, "Hz", "04.1f", group="grid"),
    num("l2_ac_output_voltage", 2, "V", "05.1f", group="output"),
    num("l2_ac_output_frequency", 3, "Hz", "04.1f", group="output"),
    whole("l2_ac_output_apparent_power", 4, "VA", "04d", group="output"),
    whole("l2_ac_output_active_power", 5, "W", "04d", group="output"),
    whole("l2_ac_output_load", 6, "%", "03d", group="output"),
    num("pv2_input_current", 7, "A", "04.0f", group="pv"),  # "PV2 input current for battery"
    num("pv2_input_voltage", 8, "V", "05.1f", group="pv"),
    num("battery_voltage_l2", 9, "V", "05.2f", group="battery"),
    *bits(10, 8, enums.L2_STATUS_BITS, {"l2_line_loss": WARNING}, **STATUS),
)

# PI30's first 26 fields, with PI41's battery types and output modes.
QPIRI: FieldTable = like_pi30(
    pi30.QPIRI,
    choice("battery_type", 12, enums.BATTERY_TYPE, **RATING),
    choice("output_mode", 21, enums.OUTPUT_MODE, **RATING),
    upto=26,
)

QDI: FieldTable = like_pi30(
    pi30.QDI,
    choice("default_battery_type", 11, enums.BATTERY_TYPE, diagnostic=True, **RATING),
    choice("default_output_mode", 21, enums.OUTPUT_MODE, diagnostic=True, **RATING),
    upto=26,
)

# Unit n of a parallel system (line 1), PI30's QPGSn rows 0-26 with PI41's output modes.
QPGS: FieldTable = like_pi30(
    pi30.QPGS,
    whole("ac_output_active_power", 9, "W", "04d", group="output"),  # line 1's share: no load_power role
    choice("output_mode", 20, enums.OUTPUT_MODE, **RATING),
    upto=27,
)

# Line 2 of unit n: `l2_` keys, so a reader can merge both lines of a unit into one state.
QP2GS: FieldTable = (
    flag("l2_parallel_valid", 0, diagnostic=True, group="status"),
    text("l2_serial_number", 1),
    choice("l2_mode", 2, enums.MODE, group="status"),
    text("l2_fault_code", 3, diagnostic=False, **WARNING),
    num("l2_ac_input_voltage", 4, "V", "05.1f", group="grid"),
    num("l2_ac_input_frequency", 5, "Hz", "05.2f", group="grid"),
    num("l2_ac_output_voltage", 6, "V", "05.1f", group="output"),
    num("l2_ac_output_frequency", 7, "Hz", "05.2f", group="output"),
    whole("l2_ac_output_apparent_power", 8, "VA", "04d", group="output"),
    whole("l2_ac_output_active_power", 9, "W", "04d", group="output"),
    whole("l2_ac_output_load", 10, "%", "03d", group="output"),
    num("battery_voltage_l2", 11, "V", "04.1f", group="battery"),
    whole("l2_battery_charging_current", 12, "A", "03d", group="battery"),
    whole("l2_battery_capacity", 13, "%", "03d", group="battery"),
    num("pv2_input_voltage", 14, "V", "05.1f", group="pv"),
    num("pv2_input_current", 15, "A", "02.0f", group="pv"),
    *bits(
        16,
        8,
        (
            (0, "scc2_ok"),
            (1, "l2_ac_charging"),
            (2, "scc2_charging"),
            (3, "l2_battery_open"),
            (4, "l2_battery_under"),
            (5, "l2_line_loss"),
            (6, "l2_load_on"),
            (7, "l2_configuration_changed"),
        ),
        {"l2_battery_open": WARNING, "l2_battery_under": WARNING, "l2_line_loss": WARNING},
        **STATUS,
    ),
)

QBEQI: FieldTable = like_pi30(pi30.QBEQI, upto=9)  # no elapsed time


def _pi30(*names: str) -> tuple[Command, ...]:
    """PI30's commands of these names, unchanged on PI41."""
    return tuple(pi30.COMMANDS[name] for name in names)


# The PDF shows a space after QVFW2's colon (`VERFW2: NNNNN.NN`); the codec strips it.
_QUERIES: tuple[Command, ...] = (
    *_pi30("QPI", "QID", "QSID", "QVFW", "QVFW2", "QMN", "QGMN"),
    query("QPIRI", "rated information and current settings", QPIRI),
    *_pi30("QFLAG"),
    query("QPIGS", "general status, line 1 and PV1", QPIGS),
    query("QPIGS2", "general status, line 2 and PV2", QPIGS2),
    *_pi30("QMOD"),
    query("QPIWS", "warning status", bits(0, 32, enums.QPIWS_BITS, device_class="problem", **WARNING)),
    query("QDI", "default settings", QDI),
    *_pi30("QMCHGCR", "QMUCHGCR"),
    query("QOPM", "output mode", (choice("output_mode", 0, enums.OUTPUT_MODE_2DIGIT, **RATING),)),
    query("QBEQI", "battery equalization status", QBEQI),
    parameterised("QPGSn", "parallel system status of unit n (line 1)", QPGS, r"QPGS(\d)", "QPGS0"),
    parameterised("QP2GSn", "parallel system status of unit n (line 2)", QP2GS, r"QP2GS(\d)", "QP2GS0"),
)

# Setters as the PDF lists them (section 3); setters.py builds and range-checks their text.
_SETTERS: tuple[Command, ...] = (
    *_pi30("PE", "PD", "PF"),
    setter("MNCHGC", "max charging current (unit m, nnn A)", r"MNCHGC\d{4}", "MNCHGC0060"),
    setter("MUCHGC", "max utility charging current (unit m, nn A)", r"MUCHGC\d{3}", "MUCHGC030"),
    setter("F", "output frequency", r"F(50|60)", "F60"),
    *_pi30("POP", "PBCV", "PBDV"),
    setter("PCP", "charger source priority", r"PCP0[0-3]", "PCP02"),
    *_pi30("PGR"),
    setter("PBT", "battery type", r"PBT0[0-2]", "PBT00"),
    setter("POPM", "output mode", r"POPM0[0-6]", "POPM01"),
    *_pi30("PPCP", "PSDV", "PCVV", "PBFT", "PPVOKC", "PSPB"),
    setter("PBEQE", "battery equalization on/off", r"PBEQE[01]", "PBEQE1"),
    setter("PBEQT", "battery equalization time", r"PBEQT\d{3}", "PBEQT060"),
    setter("PBEQP", "battery equalization period", r"PBEQP\d{3}", "PBEQP030"),
    setter("PBEQV", "battery equalization voltage", r"PBEQV\d\d\.\d\d", "PBEQV58.40"),
    setter("PBEQOT", "battery equalization over time", r"PBEQOT\d{3}", "PBEQOT120"),
    setter("PBEQA", "battery equalization now on/off", r"PBEQA[01]", "PBEQA1"),
    setter("PCVT", "max charging time at C.V. stage", r"PCVT\d{3}", "PCVT120"),
)

_INDEX = CommandIndex("PI41", (*_QUERIES, *_SETTERS))
#: Every command by name (parameterised ones under their pattern name, e.g. `QPGSn`).
COMMANDS: Mapping[str, Command] = _INDEX.commands
lookup, table, is_query = _INDEX.lookup, _INDEX.table, _INDEX.is_query

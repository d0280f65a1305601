"""Protocols layer: Victron VE.Direct text protocol (BMV / SmartShunt, SmartSolar MPPT), pure codec.

Facts: PROTOCOLS.md "Victron VE.Direct" (after Victron's "VE.Direct
Protocol" document) and recorded dumps (tests/bms/bms_frames.py). 19200 8N1, the device
talks unasked, one block per second. No I/O, no logging.

A block::

    \\r\\n <label> \\t <value>   (repeated)
    \\r\\n Checksum \\t <one byte>        sum of every byte of the block, mod 256, is 0

The checksum byte can be anything (\\r, \\n, ':' or \\t included), so a block ends one
byte after "Checksum\\t", whatever that byte is. Battery monitors split their fields
over several blocks, each with its own checksum; the device layer merges blocks.
Asynchronous HEX messages (':' ... '\\n') may sit inside a text block on older
firmware: they are not part of the checksum and are cut out before it is checked.

Each label maps to one Field row (LABELS); values are scaled to base units (mV -> V,
mA -> A, ‰ -> %, 0.01 kWh -> kWh). Labels we do not know are ignored, never fatal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from solarstack.core.errors import ConfigError, CrcError, FrameError
from solarstack.core.fields import NO_STATISTICS, Field, FieldTable, Kind, Value

CHECKSUM_LABEL = b"\r\nChecksum\t"
MAX_BLOCK = 1024
_HEX_MESSAGE = re.compile(rb":[0-9A-Fa-f]+\n")

_ON_OFF = {"ON": True, "OFF": False}
_CS = {
    "0": "off", "1": "low_power", "2": "fault", "3": "bulk", "4": "absorption", "5": "float",
    "6": "storage", "7": "equalize", "9": "inverting", "11": "power_supply", "245": "starting_up",
    "246": "repeated_absorption", "247": "auto_equalize", "248": "battery_safe", "252": "external_control",
}  # fmt: skip
_MPPT = {"0": "off", "1": "limited", "2": "active"}
#: AR (alarm reason) bits, Victron's table
ALARM_BITS = (
    "low_voltage", "high_voltage", "low_soc", "low_starter_voltage", "high_starter_voltage",
    "low_temperature", "high_temperature", "mid_voltage", "overload", "dc_ripple",
    "low_ac_voltage", "high_ac_voltage", "short_circuit", "bms_lockout",
)  # fmt: skip


def _f(key: str, unit: str | None = None, scale: float = 1.0, kind: Kind = Kind.FLOAT, **kw: object) -> Field:
    return Field(key, 0, kind, unit, scale, **kw)  # type: ignore[arg-type]


def _energy(key: str, role: str | None = None) -> Field:
    """A lifetime counter in 0.01 kWh."""
    return _f(key, "kWh", 0.01, state_class="total_increasing", role=role, group="energy", precision=2)


def _today(key: str, role: str | None = None) -> Field:
    """A day's figure in 0.01 kWh."""
    return _f(key, "kWh", 0.01, state_class="total", role=role, group="energy", precision=2)


def _yesterday(key: str) -> Field:
    """Yesterday's figure in 0.01 kWh: a number that changes once a day, not a meter."""
    return _f(key, "kWh", 0.01, state_class=NO_STATISTICS, group="energy", precision=2)


def _id(key: str) -> Field:
    return _f(key, kind=Kind.TEXT, diagnostic=True, group="status")


#: VE.Direct label -> our row. `pos` is unused: text fields are found by label. `group` places
#: a row on a page, `role` says what it means (core/catalog.py): one table serves battery
#: monitors and solar chargers, so V / I are the battery's on both. `precision` is the
#: label's resolution in the row's unit (mV as V -> 3, 0.01 kWh -> 2), power in whole watts.
LABELS: Mapping[str, Field] = {
    "V": _f("voltage", "V", 0.001, role="battery_voltage", group="battery", precision=3),
    "V2": _f("voltage_2", "V", 0.001, group="battery", precision=3),
    "V3": _f("voltage_3", "V", 0.001, group="battery", precision=3),
    "VS": _f("starter_voltage", "V", 0.001, group="battery", precision=3),
    "VM": _f("mid_voltage", "V", 0.001, group="battery", precision=3),
    "DM": _f("mid_deviation", "%", 0.1, group="battery", precision=1),
    "VPV": _f("pv_voltage", "V", 0.001, group="pv", precision=3),
    "PPV": _f("pv_power", "W", 1.0, Kind.INT, role="pv_power", group="pv", precision=0),
    "I": _f("current", "A", 0.001, role="battery_current", group="battery", precision=3),
    "I2": _f("current_2", "A", 0.001, group="battery", precision=3),
    "I3": _f("current_3", "A", 0.001, group="battery", precision=3),
    "IL": _f("load_current", "A", 0.001, group="output", precision=3),
    "LOAD": _f("load", kind=Kind.BOOL, device_class="power", group="output"),
    "T": _f("temperature", "°C", 1.0, role="temperature", group="temperature", precision=0),
    "P": _f("power", "W", 1.0, Kind.INT, role="battery_power", group="battery", precision=0),
    "CE": _f("consumed_capacity", "Ah", 0.001, group="battery", precision=3),
    "SOC": _f("soc", "%", 0.1, device_class="battery", role="soc", group="battery", precision=1),
    "TTG": _f("time_to_go", "min", 1.0, Kind.INT, group="battery", precision=0),  # -1 (infinite) -> None
    "Alarm": _f("alarm", kind=Kind.BOOL, device_class="problem", role="warning", group="warnings"),
    "Relay": _f("relay", kind=Kind.BOOL, group="status"),
    "AR": _f("alarm_reason", kind=Kind.INT, diagnostic=True, group="warnings"),
    "OR": _f("off_reason", kind=Kind.TEXT, diagnostic=True, group="status"),
    # history: figures the monitor keeps since its last reset (no role: not live readings)
    "H1": _f("deepest_discharge", "Ah", 0.001, diagnostic=True, group="battery", precision=3),
    "H2": _f("last_discharge", "Ah", 0.001, diagnostic=True, group="battery", precision=3),
    "H3": _f("average_discharge", "Ah", 0.001, diagnostic=True, group="battery", precision=3),
    "H4": _f("cycles", kind=Kind.INT, state_class="total_increasing", group="battery"),
    "H5": _f("full_discharges", kind=Kind.INT, diagnostic=True, state_class="total_increasing", group="battery"),
    "H6": _f("cumulative_ah_drawn", "Ah", 0.001, diagnostic=True, group="battery", precision=3),
    "H7": _f("min_battery_voltage", "V", 0.001, diagnostic=True, group="battery", precision=3),
    "H8": _f("max_battery_voltage", "V", 0.001, diagnostic=True, group="battery", precision=3),
    "H9": _f("seconds_since_full_charge", "s", 1.0, Kind.INT, diagnostic=True, group="battery", precision=0),
    "H10": _f("automatic_syncs", kind=Kind.INT, diagnostic=True, group="battery"),
    "H11": _f("low_voltage_alarms", kind=Kind.INT, diagnostic=True, group="warnings"),
    "H12": _f("high_voltage_alarms", kind=Kind.INT, diagnostic=True, group="warnings"),
    "H13": _f("low_starter_voltage_alarms", kind=Kind.INT, diagnostic=True, group="warnings"),
    "H14": _f("high_starter_voltage_alarms", kind=Kind.INT, diagnostic=True, group="warnings"),
    "H15": _f("min_starter_voltage", "V", 0.001, diagnostic=True, group="battery", precision=3),
    "H16": _f("max_starter_voltage", "V", 0.001, diagnostic=True, group="battery", precision=3),
    # no battery energy roles: the reader integrates those for every battery device
    # (devices/bms.py BATTERY_COUNTERS), and a device has one row per energy role
    "H17": _energy("energy_discharged"),
    "H18": _energy("energy_charged"),
    # a solar charger's own PV counters: the only PV energy such a device has
    "H19": _energy("yield_total", role="pv_energy"),
    "H20": _today("yield_today", role="pv_energy_today"),
    "H21": _f("max_power_today", "W", 1.0, Kind.INT, group="pv", precision=0),
    "H22": _yesterday("yield_yesterday"),
    "H23": _f("max_power_yesterday", "W", 1.0, Kind.INT, diagnostic=True, group="pv", precision=0),
    "HSDS": _f("day_sequence", kind=Kind.INT, diagnostic=True, group="energy"),
    "ERR": _f("error_code", kind=Kind.INT, diagnostic=True, group="warnings"),  # 0 = no error
    "CS": _f("charge_state", kind=Kind.ENUM, options=_CS, group="status"),
    "MPPT": _f("tracker_mode", kind=Kind.ENUM, options=_MPPT, group="pv"),
    "MON": _f("monitor_mode", kind=Kind.INT, diagnostic=True, group="status"),
    "PID": _id("product_id"),
    "FW": _id("firmware"),
    "SER#": _id("serial_number"),
    "BMV": _id("model"),
}
#: alarm reasons as named booleans, derived from AR
ALARMS: FieldTable = tuple(
    Field(f"alarm_{name}", 0, Kind.BOOL, bit=i, device_class="problem", role="warning", group="warnings")
    for i, name in enumerate(ALARM_BITS)
)
FIELDS: FieldTable = (*LABELS.values(), *ALARMS)


def split_frames(buf: bytearray) -> list[bytes]:
    """Cut complete blocks off `buf`: everything up to and including the byte after "Checksum\\t"."""
    blocks: list[bytes] = []
    while True:
        at = buf.find(CHECKSUM_LABEL)
        if at < 0 or at + len(CHECKSUM_LABEL) >= len(buf):
            if len(buf) > MAX_BLOCK and at < 0:  # a stream with no checksum line is noise
                del buf[: len(buf) - len(CHECKSUM_LABEL)]
            return blocks
        end = at + len(CHECKSUM_LABEL) + 1
        blocks.append(bytes(buf[:end]))
        del buf[:end]


def strip_hex(block: bytes) -> bytes:
    """Cut asynchronous HEX messages out of the text before the checksum byte."""
    head, tail = block[:-1], block[-1:]
    return _HEX_MESSAGE.sub(b"", head) + tail


def fields_of(block: bytes) -> dict[str, str]:
    """Verify one block's checksum and return its label -> raw text pairs."""
    text = strip_hex(block)
    if text[-len(CHECKSUM_LABEL) - 1 : -1] != CHECKSUM_LABEL:
        raise FrameError("VE.Direct block without a Checksum line")
    if len(text) > MAX_BLOCK:
        raise FrameError(f"VE.Direct block of {len(text)} bytes is too long")
    start = text.find(b"\r\n")
    if start < 0:
        raise FrameError("VE.Direct block does not start with \\r\\n")
    text = text[start:]
    if sum(text) & 0xFF:
        raise CrcError(f"VE.Direct block checksum off by {sum(text) & 0xFF}")
    pairs: dict[str, str] = {}
    for line in text[: -len(CHECKSUM_LABEL) - 1].split(b"\r\n"):
        if not line:
            continue
        label, sep, value = line.partition(b"\t")
        if not sep:
            raise FrameError(f"VE.Direct line without a tab: {line[:20]!r}")
        pairs[label.decode("ascii", "replace")] = value.decode("ascii", "replace")
    return pairs


def _value(f: Field, raw: str) -> Value:
    if f.kind is Kind.TEXT:
        return raw
    if f.kind is Kind.BOOL:
        return _ON_OFF.get(raw.upper())
    if f.kind is Kind.ENUM:
        return f.options.get(raw, raw) if f.options else raw
    try:
        number = int(raw, 0) if raw.lower().startswith("0x") else int(raw)
    except ValueError:
        try:
            number = float(raw)  # type: ignore[assignment]
        except ValueError:
            number = math.nan  # type: ignore[assignment]
        if not math.isfinite(number):  # "inf", "nan": line noise, never a device value
            raise FrameError(f"VE.Direct {f.key}: {raw!r} is not a number") from None
    if f.key == "time_to_go" and number == -1:
        return None  # "infinite": not a number a graph should plot
    if f.kind is Kind.INT:
        return round(number * f.scale)
    return round(number * f.scale, 6)


def decode(block: bytes) -> dict[str, Value]:
    """Decode one block (checksum verified); unknown labels are skipped."""
    values: dict[str, Value] = {}
    for label, raw in fields_of(block).items():
        f = LABELS.get(label)
        if f is not None:
            values[f.key] = _value(f, raw)
    reason = values.get("alarm_reason")
    if isinstance(reason, int):
        for a in ALARMS:
            assert isinstance(a.bit, int)
            values[a.key] = bool((reason >> a.bit) & 1)
    return values


def encode(pairs: list[tuple[str, str]]) -> bytes:
    """A block with its checksum (simulators, tests)."""
    body = b"".join(b"\r\n" + k.encode() + b"\t" + v.encode() for k, v in pairs) + CHECKSUM_LABEL
    return body + bytes([(-sum(body)) & 0xFF])


class Codec:
    """The CLI's face of this codec (protocols/catalog.py): text blocks in, merged fields out."""

    def encode(self, command: str) -> bytes:
        raise ConfigError("VE.Direct devices talk unasked: there is no request to encode")

    def decode(self, frame: bytes, command: str | None) -> tuple[dict[str, Value], FieldTable]:
        blocks = split_frames(bytearray(frame))
        if not blocks:
            raise FrameError("no complete VE.Direct block (it ends with Checksum<TAB><byte>)")
        values: dict[str, Value] = {}
        for block in blocks:
            values.update(decode(block))
        return values, FIELDS

    def describe(self) -> list[tuple[str, str, str]]:
        return [("query", "blocks", "listen for one cycle of text blocks (the device talks unasked)")]

"""Protocols layer: JK BMS over RS485 / TTL (the "4E 57" protocol), pure codec.

Facts: PROTOCOLS.md "JK BMS over RS485/TTL" (after the vendor's
"JK BMS RS485 protocol" document) and recorded replies (tests/bms/bms_frames.py).
115200 8N1. No I/O, no logging.

Frame (both directions, big-endian)::

    0      2              4                 8     9        10     11 ........ n-9    n-5   n-4
    4E 57 | length u16    | terminal u32    | cmd | source | type | info ...   | record u32 | 68 | checksum u32
            = n - 2                           06 read all, source 03 PC / 00 BMS, type 0 request / 1 reply
    checksum = 16-bit sum of bytes 0 .. n-5 (through the 0x68), upper two bytes zero

Info is a run of `id value` pairs, each id with a fixed value size (SIZES); 0x79 (cell
voltages) is `79 len` then `len/3` triples `cell_no u16_mV`. An id we do not know has
no known size, so the rest cannot be walked: FrameError, never a guess.

Quirks, per the vendor document: temperatures above 100 are negative with 100 as zero
(101 = -1 °C); current in protocol version 1 (id 0xC0) is 10 mA units with bit 15 set
while charging, in version 0 it is (10000 - raw) * 0.01 A.
"""

from __future__ import annotations

from typing import Any

from solarstack.core.errors import ConfigError, CrcError, FrameError
from solarstack.core.fields import Field, FieldTable, Kind, Value
from solarstack.protocols.binary import read_field

START = b"\x4e\x57"
END_MARK = 0x68
CMD_READ_ALL = 0x06
MIN_LEN = 2 + 2 + 4 + 3 + 4 + 1 + 4  # empty info
MAX_LEN = 1024

#: value size in bytes per id (0x79 is length-prefixed, handled apart)
SIZES: dict[int, int] = {
    0x80: 2, 0x81: 2, 0x82: 2, 0x83: 2, 0x84: 2, 0x85: 1, 0x86: 1, 0x87: 2, 0x89: 4,
    0x8A: 2, 0x8B: 2, 0x8C: 2, 0x9D: 1, 0xA9: 1, 0xAA: 4, 0xAB: 1, 0xAC: 1, 0xAD: 2,
    0xAE: 1, 0xAF: 1, 0xB0: 2, 0xB1: 1, 0xB2: 10, 0xB3: 1, 0xB4: 8, 0xB5: 4, 0xB6: 4,
    0xB7: 15, 0xB8: 1, 0xB9: 4, 0xBA: 24, 0xC0: 1,
    **{i: 2 for i in range(0x8E, 0x9D)},
    **{i: 2 for i in range(0x9E, 0xA9)},
}  # fmt: skip

#: 0x8B warning bits (vendor document), bit i -> alarm_<name>
WARNING_BITS = (
    "low_capacity",
    "mos_overtemperature",
    "charge_overvoltage",
    "discharge_undervoltage",
    "battery_overtemperature",
    "charge_overcurrent",
    "discharge_overcurrent",
    "cell_voltage_difference",
    "box_overtemperature",
    "battery_undertemperature",
    "cell_overvoltage",
    "cell_undervoltage",
    "protection_309a",
    "protection_309b",
)

TEMPERATURE_KEYS = ("temperature_mos", "temperature_1", "temperature_2")


def _reg(
    key: str, reg: int, kind: Kind = Kind.FLOAT, unit: str | None = None, scale: float = 1.0, **kw: object
) -> Field:
    """A row for register `reg`: `pos` is the register id, the value starts at its byte 0."""
    size = SIZES[reg]
    fmt = kw.pop("fmt", None) or {1: ">B", 2: ">H", 4: ">I"}.get(size, f"{size}s")
    return Field(key, reg, kind, unit, scale, fmt, **kw)  # type: ignore[arg-type]


def _sensor(key: str, reg: int, **kw: Any) -> Field:
    """A temperature register: raw here, turned into °C by decode() (the 100-offset rule)."""
    return _reg(key, reg, Kind.FLOAT, "°C", role="temperature", group="temperature", precision=0, **kw)


def _stored(key: str, reg: int, kind: Kind, unit: str | None = None, scale: float = 1.0, **kw: Any) -> Field:
    """A protection or balancer setting the BMS stores: a rating, never charted."""
    return _reg(key, reg, kind, unit, scale, diagnostic=True, role="rating", group="ratings", **kw)


# `group` places a row on a page, `role` says what it means (core/catalog.py); `precision` is
# the register's resolution in the row's unit (10 mV -> 2), power in whole watts.
READ_ALL: FieldTable = (
    Field("cell_voltages", 0x79, Kind.ARRAY, "V", 0.001, fmt=None, role="cell_voltage", group="cells", precision=3),
    _reg("cell_count", 0x8A, Kind.INT, group="cells"),
    Field("max_cell_voltage", 0, Kind.FLOAT, "V", fmt=None, group="cells", precision=3),
    Field("min_cell_voltage", 0, Kind.FLOAT, "V", fmt=None, group="cells", precision=3),
    Field("delta_cell_voltage", 0, Kind.FLOAT, "V", fmt=None, group="cells", precision=3),
    Field("average_cell_voltage", 0, Kind.FLOAT, "V", fmt=None, group="cells", precision=3),
    _sensor("temperature_mos", 0x80),
    _sensor("temperature_1", 0x81, label="Temperature 1 (box)"),
    _sensor("temperature_2", 0x82, label="Temperature 2 (battery)"),
    _reg("voltage", 0x83, Kind.FLOAT, "V", 0.01, role="battery_voltage", group="battery", precision=2),
    # raw here, signed and scaled (10 mA) by decode()
    _reg("current", 0x84, Kind.FLOAT, "A", role="battery_current", group="battery", precision=2),
    Field("power", 0, Kind.FLOAT, "W", fmt=None, role="battery_power", group="battery", precision=0),
    _reg("soc", 0x85, Kind.INT, "%", device_class="battery", role="soc", group="battery", precision=0),
    _reg("temperature_sensor_count", 0x86, Kind.INT, diagnostic=True, group="temperature"),
    _reg("cycles", 0x87, Kind.INT, state_class="total_increasing", group="battery"),
    _reg("cycle_capacity", 0x89, Kind.FLOAT, "Ah", state_class="total_increasing", group="battery", precision=0),
    _reg("warnings", 0x8B, Kind.INT, diagnostic=True, group="warnings"),
    *(
        _reg(f"alarm_{name}", 0x8B, Kind.BOOL, bit=i, device_class="problem", role="warning", group="warnings")
        for i, name in enumerate(WARNING_BITS)
    ),
    _reg("charge_mosfet", 0x8C, Kind.BOOL, bit=0, device_class="power", group="status"),
    _reg("discharge_mosfet", 0x8C, Kind.BOOL, bit=1, device_class="power", group="status"),
    _reg("balancing", 0x8C, Kind.BOOL, bit=2, group="cells"),
    _stored("cell_overvoltage_protection", 0x90, Kind.FLOAT, "V", 0.001, precision=3),
    _stored("cell_undervoltage_protection", 0x93, Kind.FLOAT, "V", 0.001, precision=3),
    _stored("discharge_overcurrent_protection", 0x97, Kind.FLOAT, "A", precision=0),
    _stored("charge_overcurrent_protection", 0x99, Kind.FLOAT, "A", precision=0),
    _stored("balance_start_voltage", 0x9B, Kind.FLOAT, "V", 0.001, precision=3),
    _stored("balancer_enabled", 0x9D, Kind.BOOL),
    _reg("full_capacity", 0xAA, Kind.FLOAT, "Ah", group="battery", precision=0),
    # full capacity x SOC in whole %: one decimal of Ah is all there is
    Field("remaining_capacity", 0, Kind.FLOAT, "Ah", fmt=None, group="battery", precision=1),
    _reg(
        "runtime", 0xB6, Kind.INT, "min", diagnostic=True, state_class="total_increasing", group="status", precision=0
    ),
    _reg("software_version", 0xB7, Kind.TEXT, diagnostic=True, group="status"),
    _reg("device_id", 0xBA, Kind.TEXT, diagnostic=True, group="status"),
    _reg("protocol_version", 0xC0, Kind.INT, diagnostic=True, group="status"),
)


def checksum(data: bytes) -> int:
    return sum(data) & 0xFFFF


def encode(command: int = CMD_READ_ALL, info: bytes = b"\x00", *, source: int = 3, frame_type: int = 0) -> bytes:
    """A frame; the default is the read-all request."""
    length = 2 + 4 + 3 + len(info) + 4 + 1 + 4
    body = START + length.to_bytes(2, "big") + bytes(4) + bytes([command, source, frame_type]) + info
    body += bytes(4) + bytes([END_MARK])
    return body + checksum(body).to_bytes(4, "big")


READ_ALL_REQUEST = encode()


def frame_end(buf: bytes) -> int | None:
    """Length of the frame at the start of `buf` once complete, else None (need more)."""
    if len(buf) < 4:
        return None
    total = int.from_bytes(buf[2:4], "big") + 2
    return total if len(buf) >= total else None


def split_frames(buf: bytearray) -> list[bytes]:
    """Cut complete frames off `buf` (serial bytes appended in order); garbage is dropped."""
    frames: list[bytes] = []
    while True:
        start = buf.find(START)
        if start < 0:
            del buf[: max(0, len(buf) - 1)]
            return frames
        del buf[:start]
        if len(buf) < 4:
            return frames
        end = int.from_bytes(buf[2:4], "big") + 2
        if not MIN_LEN <= end <= MAX_LEN:  # a false start: skip it
            del buf[:2]
            continue
        if len(buf) < end:
            return frames
        frames.append(bytes(buf[:end]))
        del buf[:end]


def info_of(frame: bytes) -> bytes:
    """Check a frame and return its info bytes."""
    if len(frame) < MIN_LEN:
        raise FrameError(f"JK serial frame of {len(frame)} bytes is too short")
    if frame[:2] != START:
        raise FrameError(f"JK serial frame starts {frame[:2].hex(' ')}, expected 4e 57")
    total = int.from_bytes(frame[2:4], "big") + 2
    if total != len(frame):
        raise FrameError(f"JK serial frame says {total} bytes, got {len(frame)}")
    if frame[-5] != END_MARK:
        raise FrameError(f"JK serial end mark {frame[-5]:02x}, expected 68")
    want = checksum(frame[:-4])
    got = int.from_bytes(frame[-4:], "big")
    if want != got:
        raise CrcError(f"JK serial checksum {got:04x} != {want:04x}")
    return frame[11:-9]


def registers(info: bytes) -> dict[int, bytes]:
    """Split info into id -> value bytes."""
    out: dict[int, bytes] = {}
    i = 0
    while i < len(info):
        reg = info[i]
        if reg == 0x79:
            if i + 1 >= len(info):
                raise FrameError("JK serial 0x79 without its length byte")
            size = info[i + 1]
            if size % 3:
                raise FrameError(f"JK serial 0x79 length {size} is not a multiple of 3")
            i += 1  # the length byte counts as part of the value's header
            start = i + 1
        else:
            size = SIZES.get(reg, -1)
            if size < 0:
                raise FrameError(f"JK serial register {reg:#04x} unknown at info byte {i}: cannot walk on")
            start = i + 1
        if start + size > len(info):
            raise FrameError(f"JK serial register {reg:#04x} truncated")
        out[reg] = info[start : start + size]
        i = start + size
    return out


def _temperature(raw: float) -> float:
    return float(-(raw - 100) if raw > 100 else raw)


def _current(raw: int, protocol_version: int) -> float:
    if protocol_version >= 1:
        amps = round((raw & 0x7FFF) * 0.01, 2)
        return amps if raw & 0x8000 or amps == 0 else -amps
    return round((10000 - raw) * 0.01, 2)


def decode(frame: bytes) -> dict[str, Value]:
    """Decode a read-all reply into readings; rows whose register is absent are left out."""
    regs = registers(info_of(frame))
    values: dict[str, Value] = {}
    for f in READ_ALL:
        if f.fmt is None or f.pos not in regs:
            continue
        # the row's value sits at byte 0 of its register's bytes
        values[f.key] = read_field(f._replace(pos=0), regs[f.pos])
    cells: list[float] = []
    if 0x79 in regs:
        raw = regs[0x79]
        cells = [round(int.from_bytes(raw[j + 1 : j + 3], "big") * 0.001, 3) for j in range(0, len(raw), 3)]
    values["cell_voltages"] = cells
    values.setdefault("cell_count", len(cells))
    if cells:
        values["max_cell_voltage"] = max(cells)
        values["min_cell_voltage"] = min(cells)
        values["delta_cell_voltage"] = round(max(cells) - min(cells), 3)
        values["average_cell_voltage"] = round(sum(cells) / len(cells), 3)
    for key in TEMPERATURE_KEYS:
        if isinstance(values.get(key), float):
            values[key] = _temperature(values[key])  # type: ignore[arg-type]
    if "current" in values:
        version = values.get("protocol_version", 0)
        assert isinstance(version, int)
        raw_current = int.from_bytes(regs[0x84], "big")
        current = _current(raw_current, version)
        values["current"] = current
        voltage = values.get("voltage")
        if isinstance(voltage, float):
            values["power"] = round(voltage * current, 2) + 0.0
    soc, full = values.get("soc"), values.get("full_capacity")
    if isinstance(soc, int) and isinstance(full, float):
        values["remaining_capacity"] = round(full * soc / 100, 3)
    return values


def encode_registers(regs: list[tuple[int, bytes]]) -> bytes:
    """A read-all reply carrying `regs` in order (simulators, tests). 0x79's value includes its length."""
    info = b"".join(bytes([reg]) + value for reg, value in regs)
    return encode(CMD_READ_ALL, info, source=0, frame_type=1)


class Codec:
    """The CLI's face of this codec (protocols/catalog.py)."""

    def encode(self, command: str) -> bytes:
        if command.lower() not in ("read_all", "all"):
            raise ConfigError(f"jkserial has one command, read_all (got {command!r})")
        return READ_ALL_REQUEST

    def decode(self, frame: bytes, command: str | None) -> tuple[dict[str, Value], FieldTable]:
        return decode(frame), READ_ALL

    def describe(self) -> list[tuple[str, str, str]]:
        return [("query", "read_all", "every register: cells, pack, temperatures, status, warnings, settings")]

"""Protocols layer: JK BMS over Bluetooth LE ("JK02"), pure codec.

Facts: PROTOCOLS.md "JK BMS over BLE"; offsets cross-checked against
syssi/esphome-jk-bms (components/jk_bms_ble) and recorded frames (tests/bms/bms_frames.py).
No I/O, no logging: the BLE transport hands us bytes, the device layer calls us.

Request (host -> BMS, written to characteristic 0xFFE1), 20 bytes::

    0    4    5    6          10                 19
    AA 55 90 EB | cmd | len | value u32 LE | 9 x 00 | sum8(bytes 0..18)
    cmd 0x97 device info, 0x96 cell info (the BMS then streams 0x01 / 0x02 frames)

Reply (notifications, reassembled), 300 bytes (some firmware pads to 320)::

    0            4      5         6 ................................ 299
    55 AA EB 90 | type | counter | payload, all little-endian ......... | sum8(0..298)
    type 0x01 settings, 0x02 cell info, 0x03 device info

Cell info has two layouts: firmware < 11 uses 24 cell slots, >= 11 uses 32 slots and
moves everything after the cells (see CELL_INFO_24 / CELL_INFO_32 for every offset).
`layout_for(software_version)` picks one from the device-info frame.

Temperatures: MOS, T1, T2 on both layouts; the 32-slot layout of the JK-PB series also
carries T3, T4, T5 (bytes 254 / 256 / 258). Their order follows JK's own register map,
"BMS RS485 Modbus V1.1" (the cell-info frame is register block 0x1200 behind the 6-byte
header: TempBat3/4/5 at block offsets 248/250/252), as stored in syssi/esphome-jk-bms
docs/pb2a16s20p/; patman15/aiobmsble reads the same. esphome-jk-bms' BLE component
publishes 254 as T5 and 258 as T3, reversed: we follow the vendor. A presence mask
(byte 214; 182 on the 24-slot layout: bit 0 MOS, bits 1-5 T1-T5, 1 = fitted, 0 =
missing) says which sensors are fitted; a missing sensor's reading decodes to None.

Readings follow one convention for every BMS: current > 0 while charging, voltages in
V, capacities in Ah, temperatures in °C, cell voltages as a list (`cell_voltages`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from solarstack.core.errors import ConfigError, CrcError, FrameError
from solarstack.core.fields import Field, FieldTable, Kind, Value
from solarstack.protocols.binary import bits, checksum8, walk

HEADER = b"\x55\xaa\xeb\x90"
REQUEST_HEADER = b"\xaa\x55\x90\xeb"
FRAME_LEN = 300
CMD_CELL_INFO = 0x96
CMD_DEVICE_INFO = 0x97
TYPE_SETTINGS, TYPE_CELL_INFO, TYPE_DEVICE_INFO = 0x01, 0x02, 0x03

Layout = Literal["24", "32"]

#: JK error bits (bit i of the error word), names after esphome-jk-bms. Sources
#: disagree on the byte order of this word; we read it little-endian like every
#: other field (PROTOCOLS.md) and test it against recorded frames with no alarm.
ERROR_BITS = (
    "wire_resistance",
    "mos_overtemperature",
    "cell_count_mismatch",
    "current_sensor",
    "cell_overvoltage",
    "battery_overvoltage",
    "charge_overcurrent",
    "charge_short_circuit",
    "charge_overtemperature",
    "charge_undertemperature",
    "internal_communication",
    "cell_undervoltage",
    "battery_undervoltage",
    "discharge_overcurrent",
    "discharge_short_circuit",
    "discharge_overtemperature",
)

_BALANCING = {"0": "off", "1": "charging", "2": "discharging"}
_ONE_BASED = {"max_cell_index": 1, "min_cell_index": 1}

#: Which bit of `temperature_sensors_mask` says each sensor is fitted (vendor register
#: map, "TempSensorAbsent": 1 normal, 0 missing). Rows a layout lacks are skipped.
TEMPERATURE_PRESENCE_BITS = {
    "temperature_mos": 0,
    "temperature_1": 1,
    "temperature_2": 2,
    "temperature_3": 3,
    "temperature_4": 4,
    "temperature_5": 5,
}


def _temperature(key: str, pos: int) -> Field:
    """A sensor in 0.1 °C, signed."""
    return Field(key, pos, Kind.FLOAT, "°C", 0.1, "<h", role="temperature", group="temperature", precision=1)


def _cell_info(
    *, mask: int, res: int, volt: int, mos_t: int, t1: int, err: int, err_fmt: str, tail: int, slots: int
) -> FieldTable:
    """One layout's table. `tail` is where balance current starts (138 / 170).

    `group` places a row on a page and `role` says what it means (core/catalog.py);
    `precision` is the wire's resolution in the row's unit (mV as V: 3), power in whole watts.
    """
    # the sensor mask sits 44 bytes after `tail` on both layouts (182 / 214): esphome-jk-bms
    # and aiobmsble read it there; JK's register map documents the 32-slot one
    e = "errors"
    return (
        Field(
            "cell_voltages", 6, Kind.ARRAY, "V", 0.001, f"<{slots}H", role="cell_voltage", group="cells", precision=3
        ),
        Field("cell_count", 0, Kind.INT, fmt=None, group="cells"),
        Field("enabled_cells_mask", mask, Kind.INT, fmt="<I", diagnostic=True, group="cells"),
        Field("average_cell_voltage", mask + 4, Kind.FLOAT, "V", 0.001, "<H", group="cells", precision=3),
        Field("delta_cell_voltage", mask + 6, Kind.FLOAT, "V", 0.001, "<H", group="cells", precision=3),
        Field("max_cell_index", mask + 8, Kind.INT, fmt="<B", diagnostic=True, group="cells"),
        Field("min_cell_index", mask + 9, Kind.INT, fmt="<B", diagnostic=True, group="cells"),
        Field("max_cell_voltage", 0, Kind.FLOAT, "V", fmt=None, group="cells", precision=3),
        Field("min_cell_voltage", 0, Kind.FLOAT, "V", fmt=None, group="cells", precision=3),
        Field(
            "cell_resistances", res, Kind.ARRAY, "mΩ", 1.0, f"<{slots}H", diagnostic=True, group="cells", precision=0
        ),
        Field("voltage", volt, Kind.FLOAT, "V", 0.001, "<I", group="battery", role="battery_voltage", precision=3),
        # unsigned on the wire; sign from current. Whole watts: mW digits of a pack's power are noise
        Field("power", volt + 4, Kind.FLOAT, "W", 0.001, "<I", group="battery", role="battery_power", precision=0),
        Field("current", volt + 8, Kind.FLOAT, "A", 0.001, "<i", group="battery", role="battery_current", precision=3),
        _temperature("temperature_1", t1),
        _temperature("temperature_2", t1 + 2),
        _temperature("temperature_mos", mos_t),
        Field(e, err, Kind.INT, fmt=err_fmt, diagnostic=True, group="warnings"),
        *bits("alarm_", ERROR_BITS, err, err_fmt, role="warning", group="warnings"),
        Field("balance_current", tail, Kind.FLOAT, "A", 0.001, "<h", group="cells", precision=3),
        Field("balancing_action", tail + 2, Kind.ENUM, fmt="<B", options=_BALANCING, group="cells"),
        Field("balancing", tail + 2, Kind.BOOL, fmt="<B", group="cells"),
        Field(
            "soc", tail + 3, Kind.INT, "%", fmt="<B", device_class="battery", group="battery", role="soc", precision=0
        ),
        Field("remaining_capacity", tail + 4, Kind.FLOAT, "Ah", 0.001, "<I", group="battery", precision=3),
        Field("full_capacity", tail + 8, Kind.FLOAT, "Ah", 0.001, "<I", group="battery", precision=3),
        Field("cycles", tail + 12, Kind.INT, fmt="<I", state_class="total_increasing", group="battery"),
        Field(
            "cycle_capacity",
            tail + 16,
            Kind.FLOAT,
            "Ah",
            0.001,
            "<I",
            state_class="total_increasing",
            group="battery",
            precision=3,
        ),
        Field("soh", tail + 20, Kind.INT, "%", fmt="<B", diagnostic=True, group="battery", precision=0),
        Field(
            "runtime",
            tail + 24,
            Kind.INT,
            "s",
            fmt="<I",
            diagnostic=True,
            state_class="total_increasing",
            group="status",
            precision=0,
        ),
        Field("charge_mosfet", tail + 28, Kind.BOOL, fmt="<B", device_class="power", group="status"),
        Field("discharge_mosfet", tail + 29, Kind.BOOL, fmt="<B", device_class="power", group="status"),
        Field("temperature_sensors_mask", tail + 44, Kind.INT, fmt="<B", diagnostic=True, group="temperature"),
    )


#: firmware < 11: 24 cell slots (offsets: PROTOCOLS.md table, left column)
CELL_INFO_24: FieldTable = _cell_info(
    mask=54, res=64, volt=118, mos_t=134, t1=130, err=136, err_fmt="<H", tail=138, slots=24
)
#: firmware >= 11: 32 cell slots; MOS temperature moves to 144, errors widen to u32 at 166;
#: T3-T5 (JK-PB series; vendor register map, see the module docstring) follow at 254
CELL_INFO_32: FieldTable = (
    *_cell_info(mask=70, res=80, volt=150, mos_t=144, t1=162, err=166, err_fmt="<I", tail=170, slots=32),
    Field("precharge_mosfet", 200, Kind.BOOL, fmt="<B", device_class="power", diagnostic=True, group="status"),
    _temperature("temperature_3", 254),
    _temperature("temperature_4", 256),
    _temperature("temperature_5", 258),
)

DEVICE_INFO: FieldTable = (
    Field("model", 6, Kind.TEXT, fmt="16s", diagnostic=True, group="status"),
    Field("hardware_version", 22, Kind.TEXT, fmt="8s", diagnostic=True, group="status"),
    Field("software_version", 30, Kind.TEXT, fmt="8s", diagnostic=True, group="status"),
    Field(
        "uptime",
        38,
        Kind.INT,
        "s",
        fmt="<I",
        diagnostic=True,
        state_class="total_increasing",
        group="status",
        precision=0,
    ),
    Field("power_on_count", 42, Kind.INT, fmt="<I", diagnostic=True, state_class="total_increasing", group="status"),
    Field("device_name", 46, Kind.TEXT, fmt="16s", diagnostic=True, group="status"),
    # the passcode at 62 is a secret: never decoded, never published
    Field("manufacturing_date", 78, Kind.TEXT, fmt="8s", diagnostic=True, group="status"),
    Field("serial_number", 86, Kind.TEXT, fmt="11s", diagnostic=True, group="status"),
)


def request(command: int, value: int = 0, length: int = 0) -> bytes:
    """The 20-byte request frame (0x96 cell info, 0x97 device info)."""
    body = REQUEST_HEADER + bytes([command & 0xFF, length & 0xFF]) + (value & 0xFFFFFFFF).to_bytes(4, "little")
    body += bytes(9)
    return body + bytes([checksum8(body)])


def layout_for(software_version: str) -> Layout:
    """Firmware major version < 11 -> 24-cell layout, else 32 (unknown -> 32, the current one)."""
    digits = ""
    for ch in software_version.strip().lstrip("vV"):
        if not ch.isdigit():
            break
        digits += ch
    return "24" if digits and int(digits) < 11 else "32"


def split_frames(buf: bytearray) -> list[bytes]:
    """Cut complete frames off the front of `buf` (notification bytes appended in order).

    Consumes what it returns and any garbage before a header (the 0xC8 "ready" note,
    the 20 padding bytes of 320-byte firmware). When a notification was lost, a frame
    would run into the next header: then we resync on that header instead of handing
    over a frame that swallowed the next one. A frame that still fails its checksum is
    returned as is: `decode` raises CrcError so the error is counted, not hidden.
    """
    frames: list[bytes] = []
    while True:
        start = buf.find(HEADER)
        if start < 0:
            del buf[: max(0, len(buf) - (len(HEADER) - 1))]  # keep a possible partial header
            return frames
        del buf[:start]
        if len(buf) < FRAME_LEN:
            nxt = buf.find(HEADER, 1)
            if nxt > 0:  # a new frame started before this one was complete: a fragment was lost
                del buf[:nxt]
                continue
            return frames
        candidate = bytes(buf[:FRAME_LEN])
        nxt = buf.find(HEADER, 1, FRAME_LEN)
        if checksum8(candidate[:-1]) != candidate[-1] and nxt > 0:
            del buf[:nxt]
            continue
        frames.append(candidate)
        del buf[:FRAME_LEN]


def check(frame: bytes) -> int:
    """Validate header, length and checksum; return the frame type."""
    if len(frame) < FRAME_LEN:
        raise FrameError(f"JK02 frame of {len(frame)} bytes, need {FRAME_LEN}")
    if frame[:4] != HEADER:
        raise FrameError(f"JK02 frame starts {frame[:4].hex(' ')}, expected 55 aa eb 90")
    if checksum8(frame[: FRAME_LEN - 1]) != frame[FRAME_LEN - 1]:
        raise CrcError(f"JK02 checksum {frame[FRAME_LEN - 1]:02x} != {checksum8(frame[: FRAME_LEN - 1]):02x}")
    return frame[4]


def decode_cell_info(frame: bytes, layout: Layout = "32") -> dict[str, Value]:
    if check(frame) != TYPE_CELL_INFO:
        raise FrameError(f"JK02 frame type {frame[4]:#04x} is not cell info (0x02)")
    # the BMS counts cells from 0 in the index bytes; we number them from 1 like the app
    values = walk(CELL_INFO_24 if layout == "24" else CELL_INFO_32, frame, offsets=_ONE_BASED)
    mask = values["enabled_cells_mask"]
    assert isinstance(mask, int)
    # cells are numbered from 1 without gaps; the mask says how many are fitted
    count = mask.bit_count()
    cells = values["cell_voltages"]
    res = values["cell_resistances"]
    assert isinstance(cells, list) and isinstance(res, list)
    values["cell_voltages"] = cells[:count]
    values["cell_resistances"] = res[:count]
    values["cell_count"] = count
    fitted = cells[:count]
    values["max_cell_voltage"] = max(fitted) if fitted else None
    values["min_cell_voltage"] = min(fitted) if fitted else None
    current, power = values["current"], values["power"]
    assert isinstance(current, float) and isinstance(power, float)
    values["power"] = -power if current < 0 else power
    sensors = values["temperature_sensors_mask"]
    assert isinstance(sensors, int)
    # what a sensor the BMS marks missing reads (0 in recorded frames) is not a temperature
    values.update(
        {key: None for key, bit in TEMPERATURE_PRESENCE_BITS.items() if key in values and not sensors >> bit & 1}
    )
    return values


def decode_device_info(frame: bytes) -> dict[str, Value]:
    if check(frame) != TYPE_DEVICE_INFO:
        raise FrameError(f"JK02 frame type {frame[4]:#04x} is not device info (0x03)")
    return walk(DEVICE_INFO, frame)


def decode(frame: bytes, layout: Layout = "32") -> dict[str, Value]:
    """Decode any JK02 frame by its type byte; settings frames (0x01) carry no readings: {}."""
    kind = check(frame)
    if kind == TYPE_CELL_INFO:
        return decode_cell_info(frame, layout)
    if kind == TYPE_DEVICE_INFO:
        return decode_device_info(frame)
    if kind == TYPE_SETTINGS:
        return {}
    raise FrameError(f"JK02 frame type {kind:#04x} unknown")


def table(frame_type: int, layout: Layout = "32") -> FieldTable:
    if frame_type == TYPE_DEVICE_INFO:
        return DEVICE_INFO
    if frame_type == TYPE_CELL_INFO:
        return CELL_INFO_24 if layout == "24" else CELL_INFO_32
    return ()


def encode_frame(frame_type: int, payload: Mapping[int, bytes], counter: int = 0) -> bytes:
    """Build a valid reply frame (simulators and tests): bytes placed at absolute offsets."""
    out = bytearray(FRAME_LEN)
    out[0:4] = HEADER
    out[4] = frame_type
    out[5] = counter & 0xFF
    for offset, data in payload.items():
        out[offset : offset + len(data)] = data
    out[FRAME_LEN - 1] = checksum8(bytes(out[: FRAME_LEN - 1]))
    return bytes(out)


class Codec:
    """The CLI's face of this codec (protocols/catalog.py): encode / decode / describe."""

    QUERIES = {"device_info": CMD_DEVICE_INFO, "cell_info": CMD_CELL_INFO}

    def encode(self, command: str) -> bytes:
        code = self.QUERIES.get(command.lower())
        if code is None:
            raise ConfigError(f"jk02 has no command {command!r}; try one of: {', '.join(self.QUERIES)}")
        return request(code)

    def decode(self, frame: bytes, command: str | None) -> tuple[dict[str, Value], FieldTable]:
        """`command` picks the cell-info layout: `24` or `32` (default 32; the frame does not say)."""
        layout: Layout = "24" if command and command.strip().endswith("24") else "32"
        values = decode(frame, layout)
        return values, table(frame[4], layout)

    def describe(self) -> list[tuple[str, str, str]]:
        return [
            ("query", "device_info", "model, firmware, serial (request 0x97, reply frame 0x03)"),
            (
                "query",
                "cell_info",
                "cells, pack, temperatures, alarms (0x96, frames 0x02; --command 24 for firmware < 11)",
            ),
        ]

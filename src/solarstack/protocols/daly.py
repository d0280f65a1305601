"""Protocols layer: Daly BMS over UART / RS485 (the "A5" protocol), pure codec.

Facts: PROTOCOLS.md "Daly BMS", cross-checked with dreadnought/python-daly-bms
and recorded replies (tests/bms/bms_frames.py). 9600 8N1. No I/O, no logging.

Every frame, request and reply, is 13 bytes, data big-endian::

    0    1         2         3    4 ................ 11   12
    A5 | address | command | 08 | 8 data bytes ..... | sum8(bytes 0..11)
    host -> BMS: address 0x40 (RS485 / USB) or 0x80 (UART / BLE module), data zero
    BMS -> host: address 0x01

Commands (one reply frame each unless noted):

    0x90 pack V 0.1 | gather V 0.1 | current (raw - 30000) 0.1 A | SOC 0.1 %
    0x91 max cell mV | its no | min cell mV | its no
    0x92 max T + 40 | sensor | min T + 40 | sensor
    0x93 state (0 idle, 1 charge, 2 discharge) | charge MOS | discharge MOS | life | remaining mAh u32
    0x94 cells | NTCs | charger | load | DIO bits | cycles u16
    0x95 one frame per 3 cells: frame no (from 1) | 3 x cell mV
    0x96 one frame per 7 sensors: frame no (from 1) | 7 x T + 40
    0x97 balancing bits, cell 1 = byte 0 bit 0
    0x98 seven fault bytes (bit i of byte j -> FAULT_BITS[j][i]) | fault code

The current's sign is firmware-dependent: most units report raw above 30000 while
discharging; `charge_positive=True` flips that. Our readings use one convention for
every BMS: current > 0 while charging.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from solarstack.core.errors import ConfigError, CrcError, FrameError
from solarstack.core.fields import Field, FieldTable, Kind, Value
from solarstack.protocols.binary import checksum8, walk

START = 0xA5
FRAME_LEN = 13
HOST_RS485 = 0x40
HOST_UART = 0x80
BMS_ADDRESS = 0x01
CELLS_PER_FRAME = 3
SENSORS_PER_FRAME = 7

_STATE = {"0": "idle", "1": "charging", "2": "discharging"}

#: 0x98 fault bits per byte, after python-daly-bms's table ("" = unused)
FAULT_BITS: tuple[tuple[str, ...], ...] = (
    ("cell_voltage_high_1", "cell_voltage_high_2", "cell_voltage_low_1", "cell_voltage_low_2",
     "pack_voltage_high_1", "pack_voltage_high_2", "pack_voltage_low_1", "pack_voltage_low_2"),
    ("charge_temperature_high_1", "charge_temperature_high_2", "charge_temperature_low_1",
     "charge_temperature_low_2", "discharge_temperature_high_1", "discharge_temperature_high_2",
     "discharge_temperature_low_1", "discharge_temperature_low_2"),
    ("charge_overcurrent_1", "charge_overcurrent_2", "discharge_overcurrent_1", "discharge_overcurrent_2",
     "soc_high_1", "soc_high_2", "soc_low_1", "soc_low_2"),
    ("cell_voltage_difference_1", "cell_voltage_difference_2", "temperature_difference_1",
     "temperature_difference_2", "", "", "", ""),
    ("charge_mos_overtemperature", "discharge_mos_overtemperature", "charge_mos_sensor", "discharge_mos_sensor",
     "charge_mos_adhesion", "discharge_mos_adhesion", "charge_mos_open_circuit", "discharge_mos_open_circuit"),
    ("afe_chip", "cell_collection_dropped", "temperature_sensor", "eeprom", "rtc", "precharge",
     "communication", "internal_communication"),
    ("current_module", "pack_voltage_detection", "short_circuit_protection", "low_voltage_no_charge",
     "", "", "", ""),
)  # fmt: skip


def _alarm(name: str, pos: int, bit: int) -> Field:
    return Field(
        f"alarm_{name}", pos, Kind.BOOL, fmt=">B", bit=bit, device_class="problem", role="warning", group="warnings"
    )


# `group` places a row on a page, `role` says what it means (core/catalog.py); `precision` is
# the wire's resolution in the row's unit (0.1 V -> 1, cell mV as V -> 3), power in whole watts.
COMMANDS: Mapping[int, FieldTable] = {
    0x90: (
        Field("voltage", 4, Kind.FLOAT, "V", 0.1, ">H", role="battery_voltage", group="battery", precision=1),
        Field("gather_voltage", 6, Kind.FLOAT, "V", 0.1, ">H", diagnostic=True, group="battery", precision=1),
        # raw - 30000, sign per firmware (decode)
        Field("current", 8, Kind.FLOAT, "A", 0.1, ">H", role="battery_current", group="battery", precision=1),
        Field("soc", 10, Kind.FLOAT, "%", 0.1, ">H", device_class="battery", role="soc", group="battery", precision=1),
        Field("power", 0, Kind.FLOAT, "W", fmt=None, role="battery_power", group="battery", precision=0),
    ),
    0x91: (
        Field("max_cell_voltage", 4, Kind.FLOAT, "V", 0.001, ">H", group="cells", precision=3),
        Field("max_cell_index", 6, Kind.INT, fmt=">B", diagnostic=True, group="cells"),
        Field("min_cell_voltage", 7, Kind.FLOAT, "V", 0.001, ">H", group="cells", precision=3),
        Field("min_cell_index", 9, Kind.INT, fmt=">B", diagnostic=True, group="cells"),
        Field("delta_cell_voltage", 0, Kind.FLOAT, "V", fmt=None, group="cells", precision=3),
    ),
    0x92: (
        Field("max_temperature", 4, Kind.FLOAT, "°C", fmt=">B", role="temperature", group="temperature", precision=0),
        Field("max_temperature_sensor", 5, Kind.INT, fmt=">B", diagnostic=True, group="temperature"),
        Field("min_temperature", 6, Kind.FLOAT, "°C", fmt=">B", role="temperature", group="temperature", precision=0),
        Field("min_temperature_sensor", 7, Kind.INT, fmt=">B", diagnostic=True, group="temperature"),
    ),
    0x93: (
        Field("state", 4, Kind.ENUM, fmt=">B", options=_STATE, group="status"),
        Field("charge_mosfet", 5, Kind.BOOL, fmt=">B", device_class="power", group="status"),
        Field("discharge_mosfet", 6, Kind.BOOL, fmt=">B", device_class="power", group="status"),
        Field("bms_life", 7, Kind.INT, fmt=">B", diagnostic=True, group="status"),
        Field("remaining_capacity", 8, Kind.FLOAT, "Ah", 0.001, ">I", group="battery", precision=3),
    ),
    0x94: (
        Field("cell_count", 4, Kind.INT, fmt=">B", group="cells"),
        Field("temperature_sensor_count", 5, Kind.INT, fmt=">B", diagnostic=True, group="temperature"),
        Field("charger_connected", 6, Kind.BOOL, fmt=">B", device_class="plug", group="status"),
        Field("load_connected", 7, Kind.BOOL, fmt=">B", device_class="plug", group="status"),
        Field("dio_state", 8, Kind.INT, fmt=">B", diagnostic=True, group="status"),
        Field("cycles", 9, Kind.INT, fmt=">H", state_class="total_increasing", group="battery"),
    ),
    # multi-frame replies: the rows are filled by decode() from every frame
    0x95: (
        Field("cell_voltages", 5, Kind.ARRAY, "V", 0.001, fmt=None, role="cell_voltage", group="cells", precision=3),
    ),
    0x96: (Field("temperatures", 5, Kind.ARRAY, "°C", fmt=None, role="temperature", group="temperature", precision=0),),
    0x97: (
        Field("balancing_cells", 4, Kind.ARRAY, fmt=None, diagnostic=True, group="cells"),
        Field("balancing", 4, Kind.BOOL, fmt=None, group="cells"),
    ),
    0x98: (
        *(
            _alarm(name, 4 + byte, bit)
            for byte, names in enumerate(FAULT_BITS)
            for bit, name in enumerate(names)
            if name
        ),
        Field("fault_code", 11, Kind.INT, fmt=">B", diagnostic=True, group="warnings"),
    ),
}

#: what a full poll asks, in order (0x94 first: it says how many cells and sensors to expect)
POLL_ORDER = (0x94, 0x90, 0x91, 0x92, 0x93, 0x95, 0x96, 0x97, 0x98)
NAMES: Mapping[str, int] = {
    "soc": 0x90, "cell_range": 0x91, "temperature_range": 0x92, "mosfet": 0x93, "status": 0x94,
    "cell_voltages": 0x95, "temperatures": 0x96, "balancing": 0x97, "faults": 0x98,
}  # fmt: skip
_OFFSETS: Mapping[int, Mapping[str, float]] = {
    0x90: {"current": -30000},
    0x92: {"max_temperature": -40, "min_temperature": -40},
}


def request(command: int, address: int = HOST_RS485) -> bytes:
    body = bytes([START, address, command, 0x08]) + bytes(8)
    return body + bytes([checksum8(body)])


def reply(command: int, data: bytes) -> bytes:
    """A BMS reply frame with 8 data bytes (simulators, tests)."""
    if len(data) != 8:
        raise ValueError("Daly frames carry exactly 8 data bytes")
    body = bytes([START, BMS_ADDRESS, command, 0x08]) + data
    return body + bytes([checksum8(body)])


def frames_expected(command: int, cells: int, sensors: int) -> int:
    """How many reply frames a command yields over RS485/UART (only frames with data)."""
    if command == 0x95:
        return max(1, -(-cells // CELLS_PER_FRAME))
    if command == 0x96:
        return max(1, -(-sensors // SENSORS_PER_FRAME))
    return 1


def split_frames(buf: bytearray) -> list[bytes]:
    """Cut complete 13-byte frames off `buf`; bytes before a start byte are dropped.

    A BLE notification may carry several frames, a serial read half of one: both fine.
    """
    frames: list[bytes] = []
    while True:
        start = buf.find(bytes([START]))
        if start < 0:
            buf.clear()
            return frames
        del buf[:start]
        if len(buf) < FRAME_LEN:
            return frames
        frame = bytes(buf[:FRAME_LEN])
        if frame[3] != 0x08 or checksum8(frame[:12]) != frame[12]:
            # not a frame boundary (0xA5 inside data): try the next start byte; a real
            # but corrupted frame then simply goes missing and the poll's count fails
            if frame[3] == 0x08:
                frames.append(frame)  # header right, sum wrong: let decode raise CrcError
                del buf[:FRAME_LEN]
            else:
                del buf[:1]
            continue
        frames.append(frame)
        del buf[:FRAME_LEN]


def check(frame: bytes, command: int | None = None) -> int:
    """Validate one frame; return its command."""
    if len(frame) != FRAME_LEN:
        raise FrameError(f"Daly frame of {len(frame)} bytes, need {FRAME_LEN}")
    if frame[0] != START or frame[3] != 0x08:
        raise FrameError(f"Daly frame starts {frame[:4].hex(' ')}, expected a5 .. .. 08")
    if checksum8(frame[:12]) != frame[12]:
        raise CrcError(f"Daly checksum {frame[12]:02x} != {checksum8(frame[:12]):02x}")
    if command is not None and frame[2] != command:
        raise FrameError(f"Daly reply to {frame[2]:#04x}, expected {command:#04x}")
    return frame[2]


def chunks(data: bytes) -> list[bytes]:
    """A reply of several concatenated frames -> its frames (length must fit exactly)."""
    if not data or len(data) % FRAME_LEN:
        raise FrameError(f"Daly reply of {len(data)} bytes is not a whole number of 13-byte frames")
    return [data[i : i + FRAME_LEN] for i in range(0, len(data), FRAME_LEN)]


def decode(
    command: int,
    frames: Iterable[bytes],
    *,
    cells: int | None = None,
    sensors: int | None = None,
    charge_positive: bool = False,
) -> dict[str, Value]:
    """Decode the reply frames of one command. `cells`/`sensors` (from 0x94) trim arrays."""
    frames = list(frames)
    if not frames:
        raise FrameError(f"no reply frames for Daly command {command:#04x}")
    for frame in frames:
        check(frame, command)
    table = COMMANDS.get(command)
    if table is None:
        raise FrameError(f"Daly command {command:#04x} unknown")
    if command == 0x95:
        return {"cell_voltages": _numbered(frames, CELLS_PER_FRAME, ">H", cells, 0.001, 0)}
    if command == 0x96:
        return {"temperatures": _numbered(frames, SENSORS_PER_FRAME, ">B", sensors, 1.0, -40)}
    if command == 0x97:
        mask = int.from_bytes(frames[0][4:12], "little")  # cell 1 = byte 0 bit 0
        n = cells if cells is not None else 48
        flags = [(mask >> i) & 1 for i in range(n)]
        return {"balancing_cells": flags, "balancing": any(flags)}
    values = walk(table, frames[0], offsets=_OFFSETS.get(command))
    if command == 0x90:
        current = values["current"]
        assert isinstance(current, float)
        current = current if charge_positive else -current
        values["current"] = current + 0.0  # no -0.0
        voltage = values["voltage"]
        assert isinstance(voltage, float)
        values["power"] = round(voltage * current, 1) + 0.0
    if command == 0x91:
        hi, lo = values["max_cell_voltage"], values["min_cell_voltage"]
        assert isinstance(hi, float) and isinstance(lo, float)
        values["delta_cell_voltage"] = round(hi - lo, 3)
    return values


def _numbered(
    frames: list[bytes], per_frame: int, fmt: str, count: int | None, scale: float, offset: int
) -> list[float]:
    """Values spread over frames numbered from 1 (frame order on the wire is not trusted)."""
    size = 2 if fmt == ">H" else 1
    slots: dict[int, float] = {}
    for frame in frames:
        number = frame[4]
        if number < 1:
            raise FrameError(f"Daly multi-frame number {number} (they count from 1)")
        for i in range(per_frame):
            at = 5 + i * size
            if at + size > 12:
                break
            raw = int.from_bytes(frame[at : at + size], "big")
            slots[(number - 1) * per_frame + i] = round((raw + offset) * scale, 3)
    total = count if count is not None else len(slots)
    missing = [i + 1 for i in range(total) if i not in slots]
    if missing:
        raise FrameError(f"Daly multi-frame reply lacks values {missing[:5]}")
    return [slots[i] for i in range(total)]


def table(command: int) -> FieldTable:
    return COMMANDS[command]


ALL_FIELDS: FieldTable = tuple(f for cmd in POLL_ORDER for f in COMMANDS[cmd])


class Codec:
    """The CLI's face of this codec (protocols/catalog.py). A reply may hold several frames."""

    def encode(self, command: str) -> bytes:
        code = NAMES.get(command.lower())
        if code is None:
            raise ConfigError(f"daly has no command {command!r}; try one of: {', '.join(NAMES)}")
        return request(code)

    def decode(self, frame: bytes, command: str | None) -> tuple[dict[str, Value], FieldTable]:
        frames = chunks(frame)
        code = frames[0][2]
        return decode(code, frames), table(code)

    def describe(self) -> list[tuple[str, str, str]]:
        return [("query", name, f"command {code:#04x}") for name, code in NAMES.items()]

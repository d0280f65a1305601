"""Protocols layer: the Voltronic PI16 codec (the "SUNNY" grid-tie / hybrid class: InfiniSolar
3K-5K, PV3K …) — pure, table-driven, shaped like protocols/pi18/ and protocols/pi17/.

No I/O, no logging setup, nothing from transports/, devices/ or services/.
Public API (others code against exactly these names):

    encode(command) -> bytes                            `QPIGS\\r`, `QED20150620106\\r`
    frame_end(buffer) -> int | None                     end of the first complete frame
    decode(command, frame) -> dict[str, Value]          raises only ProtocolError subclasses
    reply_frame(payload, *, with_crc=True) -> bytes     `(` + payload [+ CRC] + CR
    ack_frame(accepted=True, *, with_crc=True) -> bytes
    format_fields(command, values) -> str               payload text; inverse of decode
    COMMANDS, Command, lookup(command), table(command), is_query(command),
    energy_command(period, day)                         `QEY2024`, `QEM202401`, `QED20240115`

PI16 has no setters here: the issue asks for its queries only. Frame layout and the
sources' disagreements: framing.py; field tables: commands.py.
"""

from __future__ import annotations

from solarstack.protocols.pi16.codec import decode, format_fields
from solarstack.protocols.pi16.commands import COMMANDS, Command, Style, energy_command, is_query, lookup, table
from solarstack.protocols.pi16.framing import ack_frame, frame_end, reply_frame, request_frame


def encode(command: str) -> bytes:
    """The request frame for a known command text (ConfigError for anything else), with
    the decimal sum after an energy query's date."""
    return request_frame(command, summed=lookup(command).summed)


__all__ = [
    "COMMANDS",
    "Command",
    "Style",
    "ack_frame",
    "decode",
    "encode",
    "energy_command",
    "format_fields",
    "frame_end",
    "is_query",
    "lookup",
    "reply_frame",
    "table",
]

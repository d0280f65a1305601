"""Protocols layer: the Voltronic PI18 codec (InfiniSolar V class, Easun SV, EG4 …) — pure,
table-driven, shaped like protocols/pi30/ (and sharing its CRC and value rules).

No I/O, no logging setup, nothing from transports/, devices/ or services/.
Public API (others code against exactly these names):

    encode(command, *, bump_zero=False, with_crc=True) -> bytes   `^P005GS` + CRC + CR
    frame_end(buffer) -> int | None                     end of the first complete frame
    decode(command, frame) -> dict[str, Value]          raises only ProtocolError subclasses
    reply_frame(payload, *, bump_zero=False) -> bytes   `^Dnnn` + payload + CRC + CR
    ack_frame(accepted=True) -> bytes                   `^1` / `^0` with CRC and CR
    format_fields(command, values) -> str               payload text; inverse of decode
    COMMANDS, Command, lookup(command), table(command), is_query(command),
    energy_command(period, day)                         `EY2024`, `EM202401`, `ED20240115`
    SETTINGS, SETTING_MAP, Pi18Context, context_from(...), setter_command(key, value, ctx),
    expected_readback(key, value), settings_for(ctx) (bounds narrowed to the unit)

Frame layout and the sources' disagreements: framing.py; field tables: commands.py;
setters: setters.py.
"""

from __future__ import annotations

from solarstack.protocols.pi18.codec import decode, format_fields
from solarstack.protocols.pi18.commands import COMMANDS, Command, Style, energy_command, is_query, lookup, table
from solarstack.protocols.pi18.framing import ack_frame, frame_end, reply_frame, request_frame
from solarstack.protocols.pi18.setters import (
    SETTING_MAP,
    SETTINGS,
    Pi18Context,
    context_from,
    expected_readback,
    setter_command,
    settings_for,
)


def encode(command: str, *, bump_zero: bool = False, with_crc: bool = True) -> bytes:
    """The request frame for a known command text (ConfigError for anything else):
    `^P` for a query, `^S` for a setter."""
    spec = lookup(command)
    return request_frame(command, setter=not spec.read_only, bump_zero=bump_zero, with_crc=with_crc)


__all__ = [
    "COMMANDS",
    "SETTINGS",
    "SETTING_MAP",
    "Command",
    "Pi18Context",
    "Style",
    "ack_frame",
    "context_from",
    "decode",
    "encode",
    "energy_command",
    "expected_readback",
    "format_fields",
    "frame_end",
    "is_query",
    "lookup",
    "reply_frame",
    "setter_command",
    "settings_for",
    "table",
]

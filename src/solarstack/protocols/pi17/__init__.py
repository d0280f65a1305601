"""Protocols layer: the Voltronic PI17 codec (Infini-Solar 3-10 kW hybrids, Infini WP / LV6K /
3P / TWIN class) — pure, table-driven, shaped like protocols/pi18/ (and sharing the family's
CRC and value rules).

No I/O, no logging setup, nothing from transports/, devices/ or services/.
Public API (others code against exactly these names):

    encode(command) -> bytes                            `^P003GS\\r`, `^P010EY2024sss\\r`, `^S010MCHGC0600\\r`
    frame_end(buffer) -> int | None                     end of the first complete frame
    decode(command, frame) -> dict[str, Value]          raises only ProtocolError subclasses
    reply_frame(payload) -> bytes                       `^Dnnn` + payload + plain CRC + CR
    ack_frame(accepted=True) -> bytes                   `^1` / `^0` with CRC and CR
    format_fields(command, values) -> str               payload text; inverse of decode
    COMMANDS, Command, lookup(command), table(command), is_query(command),
    energy_command(period, day)                         `EY2024`, `EM202401`, `ED20240115`
    SETTINGS, SETTING_MAP, Pi17Context, context_from(bats, mar), setter_command(key, value, ctx),
    expected_readback(key, value), settings_for(ctx) (bounds narrowed to the unit's MAR)

Frame layout and the sources' disagreements: framing.py; field tables: commands.py;
setters: setters.py.
"""

from __future__ import annotations

from solarstack.protocols.pi17.codec import decode, format_fields
from solarstack.protocols.pi17.commands import COMMANDS, Command, Style, energy_command, is_query, lookup, table
from solarstack.protocols.pi17.framing import ack_frame, frame_end, reply_frame, request_frame
from solarstack.protocols.pi17.setters import (
    SETTING_MAP,
    SETTINGS,
    Pi17Context,
    context_from,
    expected_readback,
    setter_command,
    settings_for,
)


def encode(command: str) -> bytes:
    """The request frame for a known command text (ConfigError for anything else):
    `^P` for a query, `^S` for a setter, the decimal sum after an energy query's date."""
    spec = lookup(command)
    return request_frame(command, setter=not spec.read_only, summed=spec.summed)


__all__ = [
    "COMMANDS",
    "SETTINGS",
    "SETTING_MAP",
    "Command",
    "Pi17Context",
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

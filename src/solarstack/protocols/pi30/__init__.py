"""Protocols layer: the Voltronic / MPP-Solar PI30 (and PI30MAX) codec — pure, table-driven.

No I/O, no logging setup, nothing from transports/, devices/ or services/.
Public API (others code against exactly these names):

    encode(command, *, bump_zero=False) -> bytes       request frame incl. CRC and CR
    frame_end(buffer) -> int | None                     end of the first complete frame
    decode(command, frame, variant=None) -> dict[str, Value]   raises only ProtocolError subclasses
    reply_frame(payload, *, bump_zero=False) -> bytes   "(" + payload + CRC + CR
    format_fields(command, values, variant=None) -> str payload text; inverse of decode
    COMMANDS, Command, lookup(command, variant=None), table(command, variant=None), is_query(command)
    VARIANTS, Variant, find_variant(name)               firmware variants (revo, mst, m044, m045):
                                                        `variant=` picks their tables; None = base
    SETTINGS, ACTIONS, Pi30Context, context_from(...), setter_command(key, value, ctx),
    expected_readback(key, value), settings_for(ctx) (bounds narrowed to the unit),
    DESTRUCTIVE (action keys that erase settings), PRESS (the payload an action fires on)

Frame layout: see framing.py; CRC rule: crc.py; field tables: commands.py; the variants'
differences from them: variants.py.
"""

from __future__ import annotations

from solarstack.protocols.pi30.builders import DESTRUCTIVE, PRESS
from solarstack.protocols.pi30.codec import decode, format_fields
from solarstack.protocols.pi30.commands import COMMANDS, Command, Style, is_query
from solarstack.protocols.pi30.framing import frame_end, reply_frame, request_frame
from solarstack.protocols.pi30.setters import (
    ACTIONS,
    SETTING_MAP,
    SETTINGS,
    Pi30Context,
    context_from,
    expected_readback,
    setter_command,
    settings_for,
)
from solarstack.protocols.pi30.variants import VARIANTS, Variant, find_variant, lookup, table


def encode(command: str, *, bump_zero: bool = False) -> bytes:
    """The request frame for a known command text (ConfigError for anything else)."""
    lookup(command)
    return request_frame(command, bump_zero=bump_zero)


__all__ = [
    "ACTIONS",
    "COMMANDS",
    "DESTRUCTIVE",
    "PRESS",
    "SETTINGS",
    "SETTING_MAP",
    "VARIANTS",
    "Command",
    "Pi30Context",
    "Style",
    "Variant",
    "context_from",
    "decode",
    "encode",
    "expected_readback",
    "find_variant",
    "format_fields",
    "frame_end",
    "is_query",
    "lookup",
    "reply_frame",
    "setter_command",
    "settings_for",
    "table",
]

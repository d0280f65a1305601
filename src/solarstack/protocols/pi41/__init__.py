"""Protocols layer: the Voltronic PI41 codec (LV5048 class: split-phase, two output lines and
two charge controllers) — pure, table-driven, PI30-framed.

No I/O, no logging setup, nothing from transports/, devices/ or services/.
Public API (others code against exactly these names):

    encode(command, *, bump_zero=False) -> bytes       request frame incl. CRC and CR
    frame_end(buffer) -> int | None                     end of the first complete frame
    decode(command, frame) -> dict[str, Value]          raises only ProtocolError subclasses
    reply_frame(payload, *, bump_zero=False) -> bytes   "(" + payload + CRC + CR
    format_fields(command, values) -> str               payload text; inverse of decode
    COMMANDS, Command, lookup(command), table(command), is_query(command)
    SETTINGS, ACTIONS, SETTING_MAP, DESTRUCTIVE, PRESS, Pi41Context, context_from(...),
    setter_command(key, value, ctx), expected_readback(key, value), settings_for(ctx)
    Codec                                               the CLI's face (protocols/catalog.py)

Frames and CRC are PI30's, shared by import (protocols/pi30/framing.py and
protocols/pi30/crc.py), as are the row helpers, command lookup and decoder (commands.py and
codec.py run PI30's over PI41's tables) and the setter builders (protocols/pi30/builders.py);
field tables and the sources' disagreements: commands.py; setter ranges: setters.py.
"""

from __future__ import annotations

from solarstack.core.errors import ConfigError
from solarstack.core.fields import FieldTable, Value
from solarstack.protocols.pi30.builders import DESTRUCTIVE, PRESS
from solarstack.protocols.pi30.framing import frame_end, reply_frame, request_frame
from solarstack.protocols.pi41.codec import decode, format_fields
from solarstack.protocols.pi41.commands import COMMANDS, Command, Style, is_query, lookup, table
from solarstack.protocols.pi41.setters import (
    ACTIONS,
    SETTING_MAP,
    SETTINGS,
    Pi41Context,
    context_from,
    expected_readback,
    setter_command,
    settings_for,
)


def encode(command: str, *, bump_zero: bool = False) -> bytes:
    """The request frame for a known command text (ConfigError for anything else)."""
    lookup(command)
    return request_frame(command, bump_zero=bump_zero)


class Codec:
    """`solarstack decode|encode|commands --protocol pi41` (protocols/catalog.py)."""

    def encode(self, command: str) -> bytes:
        return encode(command)

    def decode(self, frame: bytes, command: str | None) -> tuple[dict[str, Value], FieldTable]:
        if not command:
            raise ConfigError("pi41 replies do not name their command: add --command, e.g. --command QPIGS")
        return decode(command, frame), lookup(command).fields

    def describe(self) -> list[tuple[str, str, str]]:
        rows = [("query", c.text, c.description) for c in COMMANDS.values() if c.read_only]
        for s in (*SETTINGS, *ACTIONS):
            if s.options:
                text = f"{s.label}: one of {', '.join(s.options)}"
            else:
                scaled = " (48 V unit; scales with the battery)" if s.unit == "V" else ""
                text = f"{s.label}: {s.minimum:g} to {s.maximum:g} {s.unit}{scaled}"
            rows.append(("setting", s.key, text))
        return rows


__all__ = [
    "ACTIONS",
    "COMMANDS",
    "DESTRUCTIVE",
    "PRESS",
    "SETTINGS",
    "SETTING_MAP",
    "Codec",
    "Command",
    "Pi41Context",
    "Style",
    "context_from",
    "decode",
    "encode",
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

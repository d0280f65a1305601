"""Protocols layer (PI41): decode and its inverse, driven by commands.py — PI30's codec
(protocols/pi30/codec.py) run over PI41's tables.

Pure: bytes -> dict and dict -> payload text; no I/O, no logging, no per-command code.
Frames are PI30's (protocols/pi30/framing.py and protocols/pi30/crc.py: `(` payload CRC CR,
`(ACK` / `(NAK`), used through their imports. Each table is compiled once into PI30's plan,
so PI30's firmware tolerance holds here too (an extra token kept as `extra_<pos>`, a missing
one omitted, `-` / `--.-` read as 0, an unknown enum kept raw, a short bit string reporting
the bits it has, an unknown QFLAG letter kept as `extra_<letter>`). PI41's own: a reply with
control characters is refused, and a reserved token is written `00`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from solarstack.core.errors import FrameError
from solarstack.core.fields import Value
from solarstack.protocols.pi30 import framing
from solarstack.protocols.pi30.codec import Plan, format_payload, read_payload
from solarstack.protocols.pi41.commands import COMMANDS, lookup


@functools.cache
def _plan(name: str) -> Plan:
    return Plan(COMMANDS[name])


def decode(command: str, frame: bytes) -> dict[str, Value]:
    """Decode one reply frame to {field key: value}.

    Raises only ProtocolError subclasses for anything the device sent (CrcError,
    NakError, FrameError); an unknown *command* is the caller's ConfigError.
    A setter's `(ACK` decodes to {"ack": True}.
    """
    spec = lookup(command)
    payload = framing.unframe(command, frame)
    if not payload.isprintable():
        raise FrameError(f"{command}: reply holds control characters")
    return read_payload(command, spec, payload, _plan)


def format_fields(command: str, values: Mapping[str, Value]) -> str:
    """The firmware's payload text for `values` (inverse of decode, without `(`/CRC).

    Rows missing from `values` but before the last given row are written as zeros (bits
    as `0`, reserved tokens as `00`), so a partial dict still gives a reply of the right
    shape; `extra_<pos>` values are appended.
    """
    return format_payload(lookup(command), values, reserved="00")

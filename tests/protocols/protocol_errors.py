"""The property every PI-family decoder keeps: whatever the bytes, decode returns a dict or
raises a ProtocolError — nothing else escapes (test_pi_family_properties.py and each
family's property tests)."""

from __future__ import annotations

from collections.abc import Callable

from solarstack.core.errors import ProtocolError
from solarstack.core.fields import Value


def decode_or_protocol_error(decode: Callable[[str, bytes], dict[str, Value]], command: str, frame: bytes) -> None:
    try:
        values = decode(command, frame)
    except ProtocolError:
        return
    assert isinstance(values, dict)

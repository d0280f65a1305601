"""Protocols layer (PI18, and PI17 whose replies follow the same rules): one reply field's
text -> its value, by the field's kind and scale. Pure; FrameError for a malformed number."""

from __future__ import annotations

import re
from collections.abc import Callable

from solarstack.core.errors import FrameError
from solarstack.core.fields import Field, Kind, Value

Converter = Callable[[str], Value]

#: What a PI18 / PI17 number looks like: ASCII digits, an optional sign and decimals. float()
#: alone would also take "nan", "1_0", "١٢" and " 12 ".
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def number(token: str) -> float:
    if _NUMBER.fullmatch(token) is None:
        if token and not token.strip("-."):
            return 0.0  # firmware writes "-" / "--.-" for "not applicable"
        raise FrameError(f"not a number: {token[:16]!r}")
    return float(token)


def converter(field: Field) -> Converter:
    kind, scale = field.kind, field.scale
    if kind is Kind.FLOAT:
        return lambda token: round(number(token) * scale, 6)
    if kind is Kind.INT:
        return lambda token: round(number(token) * scale)
    if kind is Kind.ENUM:
        options = field.options or {}
        return lambda token: options.get(token, token)
    if kind is Kind.BOOL:
        return lambda token: token[:1] == "1"
    if kind is Kind.ARRAY:
        raise AssertionError("arrays are decoded by the plan, not per field")
    return str

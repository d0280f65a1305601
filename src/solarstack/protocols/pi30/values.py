"""Protocols layer: how the PI family reads a setting's value — exact decimals, whole numbers,
ranges and the one-line refusals (SettingError). Shared by every PI codec's setters (pi30,
pi18); pure, no I/O."""

from __future__ import annotations

import math
import re
from decimal import Decimal

from solarstack.core.errors import SettingError

#: A plain decimal number in ASCII. float() and Decimal() also read `5_4`, `٥٤`, `inf`
#: and `1e999999`; a setting value is none of those. The exponent is bounded so no
#: arithmetic below can overflow.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
#: Longest value text echoed in a refusal (a payload can be megabytes).
_SHOWN = 40


def quote(value: object) -> str:
    """repr() of a value for a one-line message, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 4] + "…" + text[-3:]


def parse_number(key: str, value: str | float) -> Decimal:
    """The value as an exact decimal (`54.05` stays 54.05), or SettingError."""
    if isinstance(value, bool):
        raise SettingError(f"{key}: {quote(value)} is not a number")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise SettingError(f"{key}: {quote(value)} is not a number")
        value = repr(value)
    text = str(value).strip()
    if len(text) > _SHOWN:
        raise SettingError(f"{key}: {quote(value)} is too long for a number")
    if _NUMBER.fullmatch(text) is None:
        raise SettingError(f"{key}: {quote(value)} is not a number")
    number = Decimal(text)
    return number if number else Decimal(0)  # -0 is 0 (never `PBDV-0.0`)


def decimals(number: Decimal) -> int:
    """Digits after the point that matter (54.000 -> 0, 54.05 -> 2)."""
    exponent = number.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def whole(key: str, value: str | float, low: float, high: float, unit: str = "A") -> int:
    """A whole number within low..high (checked before int(): 1e999 never becomes an int)."""
    number = parse_number(key, value)
    if decimals(number):
        raise SettingError(f"{key}: {quote(value)} must be a whole number")
    if not low <= number <= high:
        raise SettingError(f"{key}: {number} {unit} out of range {low:g}-{high:g} {unit}")
    return int(number)


def round1(value: float) -> float:
    """Half-up to 0.1 V (12.75 -> 12.8), as the unit's own menu shows it."""
    return math.floor(value * 10 + 0.5) / 10

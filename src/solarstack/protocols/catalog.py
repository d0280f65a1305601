"""Protocols layer: one uniform face per codec for the CLI's decode / encode / commands.

Each protocol keeps its own natural API; this module adapts it to `Codec` so the CLI
needs no per-protocol branches. Pure: no I/O. Codec modules are imported lazily.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol

from solarstack.core.errors import ConfigError
from solarstack.core.fields import FieldTable, Value


class Codec(Protocol):
    def encode(self, command: str) -> bytes:
        """The exact request frame for `command`."""
        ...

    def decode(self, frame: bytes, command: str | None) -> tuple[dict[str, Value], FieldTable]:
        """Values and their field rows; `command` where the frame does not name itself."""
        ...

    def describe(self) -> list[tuple[str, str, str]]:
        """(kind: query|setting, name, description) for `solarstack commands`."""
        ...


class _Pi30:
    """PI30, or one of its firmware variants (`--protocol pi30:revo`): the variant only
    changes tables, so encode and the command list are the same."""

    def __init__(self, variant: str | None = None) -> None:
        from solarstack.protocols import pi30

        self.variant = pi30.find_variant(variant).name if variant else None

    def encode(self, command: str) -> bytes:
        from solarstack.protocols import pi30

        pi30.lookup(command)  # unknown commands fail with the list hint, not a silent frame
        return pi30.encode(command)

    def decode(self, frame: bytes, command: str | None) -> tuple[dict[str, Value], FieldTable]:
        from solarstack.protocols import pi30

        if not command:
            raise ConfigError("pi30 replies do not name their command: add --command, e.g. --command QPIGS")
        values = pi30.decode(command, frame, self.variant)
        return values, pi30.lookup(command, self.variant).fields

    def describe(self) -> list[tuple[str, str, str]]:
        from solarstack.protocols import pi30

        rows = [("query", c.text, c.description) for c in pi30.COMMANDS.values() if c.read_only]
        rows += [("setting", s.key, _setting_text(s)) for s in (*pi30.SETTINGS, *pi30.ACTIONS)]
        if self.variant:
            found = pi30.find_variant(self.variant)
            changed = ", ".join(found.deltas)
            rows.insert(0, ("variant", found.name, f"{found.description}: its own layout of {changed}"))
        return rows


class _Pi18:
    def encode(self, command: str) -> bytes:
        from solarstack.protocols import pi18

        return pi18.encode(command)  # unknown commands fail with the list hint, not a silent frame

    def decode(self, frame: bytes, command: str | None) -> tuple[dict[str, Value], FieldTable]:
        from solarstack.protocols import pi18

        if not command:
            raise ConfigError("pi18 replies do not name their command: add --command, e.g. --command GS")
        values = pi18.decode(command, frame)
        return values, pi18.lookup(command).fields

    def describe(self) -> list[tuple[str, str, str]]:
        from solarstack.protocols import pi18

        rows = [("query", c.text, c.description) for c in pi18.COMMANDS.values() if c.read_only]
        rows += [("setting", s.key, _setting_text(s)) for s in pi18.SETTINGS]
        return rows


class _Pi17:
    def encode(self, command: str) -> bytes:
        from solarstack.protocols import pi17

        return pi17.encode(command)  # unknown commands fail with the list hint, not a silent frame

    def decode(self, frame: bytes, command: str | None) -> tuple[dict[str, Value], FieldTable]:
        from solarstack.protocols import pi17

        if not command:
            raise ConfigError("pi17 replies do not name their command: add --command, e.g. --command GS")
        values = pi17.decode(command, frame)
        return values, pi17.lookup(command).fields

    def describe(self) -> list[tuple[str, str, str]]:
        from solarstack.protocols import pi17

        rows = [("query", c.text, c.description) for c in pi17.COMMANDS.values() if c.read_only]
        # PI17's battery bounds are absolute (its units are 48 V only): no "scales" note
        note = " (48 V unit; scales with the battery)"
        rows += [("setting", s.key, _setting_text(s).removesuffix(note)) for s in pi17.SETTINGS]
        return rows


class _Pi16:
    def encode(self, command: str) -> bytes:
        from solarstack.protocols import pi16

        return pi16.encode(command)  # unknown commands fail with the list hint, not a silent frame

    def decode(self, frame: bytes, command: str | None) -> tuple[dict[str, Value], FieldTable]:
        from solarstack.protocols import pi16

        if not command:
            raise ConfigError("pi16 replies do not name their command: add --command, e.g. --command QPIGS")
        values = pi16.decode(command, frame)
        return values, pi16.lookup(command).fields

    def describe(self) -> list[tuple[str, str, str]]:
        from solarstack.protocols import pi16

        return [("query", c.text, c.description) for c in pi16.COMMANDS.values()]


def _setting_text(s: object) -> str:
    from solarstack.core.fields import Setting

    assert isinstance(s, Setting)
    if s.options:
        return f"{s.label}: one of {', '.join(s.options)}"
    if s.minimum is None or s.maximum is None:
        return s.label
    unit = f" {s.unit}" if s.unit else ""
    scaled = " (48 V unit; scales with the battery)" if s.unit == "V" else ""
    return f"{s.label}: {s.minimum:g} to {s.maximum:g}{unit}{scaled}"


def _own(protocol: str) -> Callable[[], Codec]:
    """Codecs whose module carries its own `Codec` class (the BMS protocols)."""

    def factory() -> Codec:
        codec: Codec = importlib.import_module(f"solarstack.protocols.{protocol}").Codec()
        return codec

    return factory


#: protocol name -> factory of its Codec
CODECS: dict[str, Callable[[], Codec]] = {
    "pi30": _Pi30,
    "pi18": _Pi18,
    "pi17": _Pi17,
    "pi16": _Pi16,
    **{p: _own(p) for p in ("pi41", "jk02", "jkserial", "daly", "vedirect", "bme280", "openmeteo")},
}


def codec(protocol: str) -> Codec:
    """The codec of `protocol`; `pi30:<variant>` (`pi30:revo`) is PI30 in a variant's layout."""
    name, sep, variant = protocol.partition(":")
    factory = CODECS.get(name)
    if factory is None:
        raise ConfigError(f"unknown protocol {protocol!r}; known: {', '.join(sorted(CODECS))}")
    if not sep:
        return factory()
    if name != "pi30":
        raise ConfigError(f"protocol {name} has no variants; only pi30 has (e.g. pi30:revo)")
    return _Pi30(variant)

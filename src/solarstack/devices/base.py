"""Devices layer: what every device object offers its callers (CLI, readers).

A device owns one transport and speaks one protocol over it. Calls are blocking
with bounded timeouts; the async readers call them through asyncio.to_thread and
hold one lock per device so a setting write never interleaves with a poll.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, Protocol

from solarstack.core.fields import FieldTable, Reading, Setting, Value


class SetResult(NamedTuple):
    """What a setting write did, published on `…/set/<setting>/result`."""

    ok: bool
    setting: str
    value: Value = None
    error: str | None = None
    readback: Mapping[str, Value] | None = None  # the read-back command's values

    def payload(self) -> dict[str, Value]:
        return {"ok": self.ok, "value": self.value, "error": self.error}


class Device(Protocol):
    id: str

    def query(self, command: str) -> Reading: ...

    def default_commands(self) -> tuple[str, ...]:
        """What `query … all` asks."""
        ...

    def settings(self) -> tuple[Setting, ...]: ...

    def apply(self, setting: str, value: str) -> SetResult: ...

    def is_query(self, command: str) -> bool:
        """True for allow-listed read-only commands (the MQTT `query` topic)."""
        ...

    def table(self, command: str) -> FieldTable: ...

    def close(self) -> None: ...

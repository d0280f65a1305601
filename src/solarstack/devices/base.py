"""Devices layer: what every device object offers its callers (CLI, readers).

A device owns one transport and speaks one protocol over it. Calls are blocking
with bounded timeouts; the async readers call them through asyncio.to_thread and
hold one lock per device so a setting write never interleaves with a poll.

Everything a reader needs to know about a device comes from here, so one generic
reader (services/reader.py) serves every protocol family: what it is (`protocol`,
`kind`), who made it (`identify`), what to poll and how often (`schedule`), which
energy counters its readings feed (`counters`, `energy_command`), what it accepts
(`settings`, `apply`, `is_query`). A new protocol family is a codec, a device class
with these members and a row in devices/registry.py.

One member is optional: `named_queries()`, the groups `solarstack query` runs for
mpp-solar's names (`get_status`, `get_settings`, `get_device_id`, `get_version`). A
class without it gets the status and settings groups from its schedule (see
`named_queries` below); a family with identity and firmware queries should define it.
Another is optional too: `parallel()`, a `devices/parallel.py` ParallelSystem (or None) for a
link that reads several units; the reader then publishes one device per unit plus the
system's totals (docs/parallel.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol

from solarstack.core.fields import FieldTable, Reading, Setting, Value

if TYPE_CHECKING:  # core.energy pulls in logging and dataclasses: not on the one-shot CLI path
    from solarstack.core.energy import Counter


class Identity(NamedTuple):
    """Who made a device and what it is, for the catalogue and HA's device page."""

    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    sw_version: str | None = None
    hw_version: str | None = None


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
    protocol: str  # the codec's name: "pi30", "jk02" …
    kind: str  # what it is: one of core.catalog.DEVICE_KINDS

    @property
    def energy_command(self) -> str | None:
        """The command whose readings feed `counters()`."""
        ...

    def identify(self, values: Mapping[str, Value]) -> Identity:
        """Best effort, never raises for a silent device: may ask the device once (and
        cache), or read `values` (the latest state) where the identity comes with readings."""
        ...

    def schedule(self, fast: float, slow: float) -> tuple[tuple[str, float], ...]:
        """The default poll schedule: (command, seconds) with the service's two intervals."""
        ...

    def counters(self) -> tuple[Counter, ...]:
        """Energy counters integrated from `energy_command` readings."""
        ...

    def query(self, command: str) -> Reading: ...

    def queries(self) -> tuple[str, ...]:
        """Every read-only command a consumer may send on `…/query` (the catalogue lists them)."""
        ...

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


class OneCommand:
    """The face of a device that answers one read command and takes no settings (house
    sensors, the weather): what it polls, lists and refuses. A subclass sets `command`."""

    protocol: str
    command: str

    def schedule(self, fast: float, slow: float) -> tuple[tuple[str, float], ...]:
        return ((self.command, fast),)

    def counters(self) -> tuple[Counter, ...]:
        return ()

    def queries(self) -> tuple[str, ...]:
        return (self.command,)

    def default_commands(self) -> tuple[str, ...]:
        return (self.command,)

    def settings(self) -> tuple[Setting, ...]:
        return ()

    def apply(self, setting: str, value: str) -> SetResult:
        return SetResult(False, setting, value, f"{self.protocol} devices take no settings")

    def is_query(self, command: str) -> bool:
        return command.lower() == self.command

    def check_command(self, command: str) -> None:
        """ConfigError (one line) for anything but `command`."""
        if not self.is_query(command):
            from solarstack.core.errors import ConfigError

            raise ConfigError(f"{self.protocol} has one command, {self.command!r} (got {command!r})")


#: mpp-solar's names for groups of queries, which `solarstack query` expands: the live
#: status, the settings in force, the serial number, the firmware version.
QUERY_NAMES = ("get_status", "get_settings", "get_device_id", "get_version")


def named_queries(device: Device) -> dict[str, tuple[str, ...]]:
    """The query groups behind QUERY_NAMES that `device` has (a name it lacks is absent).

    A device class may say it itself with a `named_queries()` method (optional: Device
    does not require it, so every existing family keeps conforming); otherwise the
    groups come from `scheduled_queries`.
    """
    own = getattr(device, "named_queries", None)
    if callable(own):
        return dict(own())
    return scheduled_queries(device)


def scheduled_queries(device: Device) -> dict[str, tuple[str, ...]]:
    """`get_status`: what the schedule polls at the fast interval; `get_settings`: at the
    slow one. The default of `named_queries`, and a start for a class's own."""
    # Any two distinct intervals sort the schedule; the readers' defaults, because a
    # schedule() may tune its device to the intervals (say, a cache window from `fast`).
    fast, slow = 10.0, 300.0
    plan = device.schedule(fast, slow)
    groups = {
        "get_status": tuple(c for c, s in plan if s == fast),
        "get_settings": tuple(c for c, s in plan if s == slow),
    }
    return {name: commands for name, commands in groups.items() if commands}

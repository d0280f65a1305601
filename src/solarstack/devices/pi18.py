"""Devices layer: a PI18 inverter (InfiniSolar V class, Easun SV, EG4 …) — the PI18 codec
over any transport (`pi18+serial:///dev/ttyUSB0`, `pi18+hidraw://…`, `pi18+tcp://host:port`).

The link, queries, identity and the validate / write / ACK-NAK / read-back flow with its
audit lines are the PI family's (devices/pifamily.py); this class names the PI18 codec,
what to poll, which settings it takes and how its readings make energy counters.

Energy: the unit reports PV energy of its own (ET total in kWh, ED/EM/EY in Wh), but only
PV, and ET in whole kWh. The counters here integrate GS power instead, with the same keys
and roles as PI30's (protocols/pi30/energy.py): five lifetime counters that agree with each
other (grid import is their balance), resolve a few watt-hours, and mean the same thing on
either family. ET and EDyyyymmdd stay allow-listed queries for comparison.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ProtocolError, SettingError
from solarstack.core.fields import Setting, Value
from solarstack.devices.base import Identity, scheduled_queries
from solarstack.devices.pifamily import DEFAULT_TIMEOUT, CommandSpec, PiDevice, flag_option, logger, unknown_setting
from solarstack.protocols import pi18
from solarstack.transports.base import Transport

if TYPE_CHECKING:
    from collections.abc import Mapping

    from solarstack.core.energy import Counter


class Pi18Device(PiDevice[pi18.Pi18Context]):
    """One PI18 inverter behind one transport."""

    protocol = "pi18"
    energy_command = "GS"
    #: Asked once for the device page: protocol id, serial number, firmware.
    IDENTITY_COMMANDS = ("PI", "ID", "VFW")

    def __init__(
        self, device_id: str, transport: Transport, *, timeout: float = DEFAULT_TIMEOUT, bump_zero: bool = False
    ) -> None:
        super().__init__(device_id, transport, timeout=timeout, bump_zero=bump_zero)
        self._rated_va: Value = None

    # -- codec -----------------------------------------------------------------------

    def frame_end(self, buffer: bytes) -> int | None:
        return pi18.frame_end(buffer)

    def lookup(self, command: str) -> CommandSpec:
        return pi18.lookup(command)

    def encode(self, command: str) -> bytes:
        return pi18.encode(command, bump_zero=self.bump_zero)

    def decode(self, command: str, frame: bytes) -> dict[str, Value]:
        return pi18.decode(command, frame)

    def identity_from(self, found: Mapping[str, str]) -> Identity:
        # PI18 has no model-name query: the rated power from PIRI tells units apart
        model = f"PI18 inverter {self._rated_va} VA" if self._rated_va else "PI18 inverter"
        return Identity(
            manufacturer=self.manufacturer,
            model=model,
            serial_number=found.get("serial_number"),
            sw_version=found.get("main_cpu_firmware"),
        )

    # -- what to poll ----------------------------------------------------------------

    def default_commands(self) -> tuple[str, ...]:
        return ("GS", "PIRI", "MOD", "FWS", "FLAG")

    def schedule(self, fast: float, slow: float) -> tuple[tuple[str, float], ...]:
        """Live values every `fast` seconds, ratings and flags every `slow`."""
        return (("GS", fast), ("MOD", fast), ("FWS", fast), ("PIRI", slow), ("FLAG", slow))

    def named_queries(self) -> dict[str, tuple[str, ...]]:
        """mpp-solar's names for `solarstack query`: status and settings as the schedule polls
        them, the serial number (ID) and the firmware version (VFW)."""
        return {**scheduled_queries(self), "get_device_id": ("ID",), "get_version": ("VFW",)}

    def counters(self) -> tuple[Counter, ...]:
        from solarstack.protocols.pi18.energy import PI18_COUNTERS

        return PI18_COUNTERS

    def is_query(self, command: str) -> bool:
        return pi18.is_query(command)

    def queries(self) -> tuple[str, ...]:
        """The read-only commands by name; patterned ones (PGSn, dated energy) are allowed by
        `is_query` but listed only where a schedule names them."""
        return tuple(c.name for c in pi18.COMMANDS.values() if c.read_only and c.pattern is None)

    # -- settings --------------------------------------------------------------------

    def settings(self) -> tuple[Setting, ...]:
        """Settings with bounds fitted to this unit once its ratings are known (the catalogue,
        HA discovery and the web's allow-list are all built from this)."""
        return pi18.settings_for(self._context) if self._context is not None else pi18.SETTINGS

    def context(self, *, refresh: bool = False) -> pi18.Pi18Context:
        """Ratings, the values in force (MCHGV and BUCD set two at once) and the unit's
        current lists, asked once and cached; refreshed by every PIRI read-back."""
        if self._context is None or refresh:
            piri = self.query("PIRI").values
            self._rated_va = piri.get("rated_ac_output_apparent_power")
            lists: list[dict[str, Value] | None] = []
            for cmd in ("MCHGCR", "MUCHGCR"):
                try:
                    lists.append(self.query(cmd).values)
                except ProtocolError as exc:  # not every firmware has them: static bounds
                    logger(__name__).info(
                        "%s: %s unsupported (%s); current settings use static bounds", self.id, cmd, exc
                    )
                    lists.append(None)
            self._context = pi18.context_from(piri, lists[0], lists[1])
        return self._context

    def allowed(self, key: str) -> Setting:
        found = pi18.SETTING_MAP.get(key)
        if found is None:
            raise unknown_setting(key, self.settings())
        return found

    def setter_command(self, setting: str, value: str, ctx: pi18.Pi18Context) -> str:
        return pi18.setter_command(setting, value, ctx)

    def expected_readback(self, setting: str, value: str) -> Value:
        return pi18.expected_readback(setting, value)

    def refit(self, command: str, values: dict[str, Value]) -> None:
        """The values in force from the read-back PIRI: the next MCHGV or BUCD must carry
        the other half as it is now, not as it was when the context was first read. The
        current lists do not change with settings: kept, not asked again."""
        if command != "PIRI":
            return
        try:
            fresh = pi18.context_from(values)
        except SettingError:
            self._context = None  # asked again before the next write
            return
        if self._context is not None:
            self._context = fresh._replace(
                max_charging_currents=self._context.max_charging_currents,
                max_utility_charging_currents=self._context.max_utility_charging_currents,
                unit=self._context.unit,
            )


def open_device(url: DeviceURL, *, timeout: float | None = None, allow_destructive: bool = False) -> Pi18Device:
    """Build a PI18 device from its URL (the transport opens on first use).

    `allow_destructive` is accepted for the registry's one signature: PI18 offers no
    destructive action.
    """
    from solarstack.transports.factory import open_transport

    return Pi18Device(
        url.name,
        open_transport(url),
        timeout=timeout if timeout is not None else url.float_option("timeout", DEFAULT_TIMEOUT),
        bump_zero=flag_option(url.option("crc_bump_zero", "0")),
    )

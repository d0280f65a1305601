"""Devices layer: a JK BMS over Bluetooth LE — the JK02 codec over transports/ble.

On first use it asks for device info (0x97) to learn the firmware and so the cell-info
layout (24 or 32 cells; `?layout=24|32` forces one), then each poll asks for cell info
(0x96) and takes the next cell-info frame the BMS streams. The transport keeps the
link between polls unless `?keepalive=0` (a JK takes one client: let the phone app in).

The async `aquery` is the real work and runs on the reader's event loop (bleak is
asyncio). `query` is the blocking face of devices/base.Device for callers on worker
threads (the generic reader) or without a loop (the CLI): it hands the coroutine to
the loop the device was built on, or runs a private loop.

Link health rides along in each reading as diagnostic fields: `rssi` (dBm, seen when
connecting) and `ble_reconnects` (count), so MQTT, discovery and /metrics show them.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from solarstack.core.device_url import DeviceURL
from solarstack.core.errors import ConfigError
from solarstack.core.fields import Field, FieldTable, Kind, Reading, Setting, Value
from solarstack.devices.base import SetResult
from solarstack.devices.bms import Pack
from solarstack.protocols import jk02
from solarstack.transports.ble import BleTransport

DEFAULT_TIMEOUT = 10.0
# in GATT service 0xFFE0; notify and write share this one characteristic
CHAR_UUID = "0000ffe1-0000-1000-8000-00805f9b34fb"

LINK_FIELDS: FieldTable = (
    Field("rssi", 0, Kind.INT, "dBm", diagnostic=True, role="link", group="link", precision=0),
    Field("ble_reconnects", 0, Kind.INT, diagnostic=True, state_class="total_increasing", role="link", group="link"),
)


class Jk02BleBms(Pack):
    protocol = "jk02"
    manufacturer = "Jikong (JK BMS)"

    def __init__(
        self,
        device_id: str,
        transport: BleTransport,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        layout: jk02.Layout | None = None,
    ) -> None:
        self.id = device_id
        self.transport = transport
        self.timeout = timeout
        self.layout = layout
        self.device_info: dict[str, Value] = {}
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    # -- async work --------------------------------------------------------------------

    async def _frame(self, command: int, frame_type: int) -> bytes:
        return await self.transport.exchange(
            jk02.request(command), lambda f: len(f) > 4 and f[4] == frame_type, self.timeout
        )

    async def _learn_layout(self) -> None:
        frame = await self._frame(jk02.CMD_DEVICE_INFO, jk02.TYPE_DEVICE_INFO)
        self.device_info = jk02.decode_device_info(frame)
        if self.layout is None:
            self.layout = jk02.layout_for(str(self.device_info.get("software_version", "")))

    async def aquery(self, command: str) -> Reading:
        name = self._command(command)
        if name == "device_info" or self.layout is None:
            await self._learn_layout()
        if name == "device_info":
            return Reading(self.id, datetime.now(UTC), dict(self.device_info), jk02.DEVICE_INFO)
        assert self.layout is not None
        frame = await self._frame(jk02.CMD_CELL_INFO, jk02.TYPE_CELL_INFO)
        ts = datetime.now(UTC)
        values = jk02.decode_cell_info(frame, self.layout)
        values["rssi"] = self.transport.rssi
        values["ble_reconnects"] = self.transport.reconnects
        return Reading(self.id, ts, values, self.table(name))

    # -- Device face -------------------------------------------------------------------

    def query(self, command: str) -> Reading:
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                raise RuntimeError("Jk02BleBms.query blocks: on the event loop, await aquery() instead")
            return asyncio.run_coroutine_threadsafe(self.aquery(command), loop).result(self.poll_budget(command))
        return asyncio.run(self._once(command))

    async def _once(self, command: str) -> Reading:
        try:
            return await self.aquery(command)
        finally:
            await self.transport.close()

    def poll_budget(self, command: str) -> float:
        """Scan + connect (twice without keep-alive) and two exchanges on the first poll."""
        return 2 * (2 * self.transport.connect_timeout + self.timeout) + 1.0

    def default_commands(self) -> tuple[str, ...]:
        return ("cell_info",)

    def commands(self) -> tuple[str, ...]:
        return ("cell_info", "device_info")

    def _command(self, command: str) -> str:
        name = command.lower()
        if name not in self.commands():
            raise ConfigError(f"jk02 has no command {command!r}; try one of: {', '.join(self.commands())}")
        return name

    def table(self, command: str) -> FieldTable:
        if self._command(command) == "device_info":
            return jk02.DEVICE_INFO
        return jk02.table(jk02.TYPE_CELL_INFO, self.layout or "32") + LINK_FIELDS

    def is_query(self, command: str) -> bool:
        return command.lower() in self.commands()

    def queries(self) -> tuple[str, ...]:
        return self.commands()

    def settings(self) -> tuple[Setting, ...]:
        return ()

    def apply(self, setting: str, value: str) -> SetResult:
        return SetResult(False, setting, value, "jk02 devices take no settings")

    def close(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(self.transport.close(), loop).result(5.0)
        elif self.transport.is_open:
            asyncio.run(self.transport.close())


def open_device(
    url: DeviceURL,
    *,
    timeout: float | None = None,
    allow_destructive: bool = False,
    transport: BleTransport | None = None,
) -> Jk02BleBms:
    """Build a JK BLE device from `jk02+ble://<MAC>?name=…&keepalive=1&layout=24|32`.
    (`allow_destructive` has nothing to enable here: packs take no settings.)"""
    if url.transport != "ble" or not url.address:
        raise ConfigError(f"device URL {url.raw!r}: use jk02+ble://C8:47:8C:12:34:56")
    layout = url.option("layout")
    if layout not in (None, "24", "32"):
        raise ConfigError(f"device URL {url.raw!r}: layout must be 24 or 32 (cell slots), or left out")
    keepalive = (url.option("keepalive", "1") or "1").lower() not in ("0", "false", "no", "off")
    if transport is None:
        transport = BleTransport(
            url.address, notify_uuid=CHAR_UUID, write_uuid=CHAR_UUID, split=jk02.split_frames, keepalive=keepalive
        )
    limit = timeout if timeout is not None else url.float_option("timeout", DEFAULT_TIMEOUT)
    return Jk02BleBms(url.name, transport, timeout=limit, layout=layout)  # type: ignore[arg-type]

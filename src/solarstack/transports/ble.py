"""Transports layer: a Bluetooth LE GATT link (bleak), native asyncio.

One peripheral, one notify characteristic, one write characteristic. Notifications of
any size (20-byte default MTU, 128/244/512 with a larger one) are appended to a buffer
and cut into frames by a `split(buffer) -> frames` callable that the device layer
passes in (it comes from the protocol; this module must not import protocols/).

- `exchange(request, want, timeout)`: connect if needed, write, wait for the first
  frame `want(frame)` accepts; older frames are dropped first.
- keep-alive (default) holds the connection between polls; `keepalive=False`
  disconnects after each exchange, because many BMSes accept one BLE client at a time
  and the owner's phone app should get a turn.
- a failed connect arms a backoff (doubling up to `max_backoff`): until it expires,
  exchanges fail fast with TransportError instead of hammering the radio.
- `rssi` (dBm, from the advertisement seen when connecting), `connects` and
  `reconnects` are kept for metrics.

`client_factory` and `finder` are injectable: tests put a fake peripheral behind the
bleak client interface (sim/ble.py), so everything above the radio is production code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from solarstack.core.errors import DeviceTimeout, TransportError

log = logging.getLogger(__name__)

Splitter = Callable[[bytearray], list[bytes]]


class GattClient(Protocol):
    """The part of bleak.BleakClient we use."""

    @property
    def is_connected(self) -> bool: ...

    async def connect(self, **kwargs: Any) -> Any: ...

    async def disconnect(self) -> Any: ...

    async def start_notify(
        self, char_specifier: Any, callback: Callable[[Any, bytearray], None], **kwargs: Any
    ) -> None: ...

    async def write_gatt_char(self, char_specifier: Any, data: bytes, response: bool | None = None) -> None: ...


ClientFactory = Callable[[Any, Callable[[Any], None]], GattClient]
#: finds the peripheral: (device handle for the client factory, rssi) or None
Finder = Callable[[str, float], Awaitable[tuple[Any, int | None] | None]]


def _bleak_client(device: Any, on_disconnect: Callable[[Any], None]) -> GattClient:
    from bleak import BleakClient

    client: GattClient = BleakClient(device, disconnected_callback=on_disconnect)
    return client


async def _bleak_find(address: str, timeout: float) -> tuple[Any, int | None] | None:
    from bleak import BleakScanner

    seen: dict[str, int] = {}

    def match(device: Any, adv: Any) -> bool:
        if str(device.address).upper() == address.upper():
            seen["rssi"] = int(adv.rssi)
            return True
        return False

    device = await BleakScanner.find_device_by_filter(match, timeout=timeout)
    if device is None:
        return None
    return device, seen.get("rssi")


class BleTransport:
    """See the module docstring. Not thread-safe: use it from one event loop."""

    def __init__(
        self,
        address: str,
        *,
        notify_uuid: str,
        write_uuid: str,
        split: Splitter,
        keepalive: bool = True,
        connect_timeout: float = 15.0,
        min_backoff: float = 2.0,
        max_backoff: float = 120.0,
        client_factory: ClientFactory = _bleak_client,
        finder: Finder = _bleak_find,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address = address
        self.notify_uuid = notify_uuid
        self.write_uuid = write_uuid
        self.split = split
        self.keepalive = keepalive
        self.connect_timeout = connect_timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self._client_factory = client_factory
        self._finder = finder
        self._clock = clock
        self._client: GattClient | None = None
        self._buf = bytearray()
        self._frames: list[bytes] = []
        self._arrived = asyncio.Event()
        self._backoff = 0.0
        self._retry_at = 0.0
        self.rssi: int | None = None
        self.connects = 0
        self.reconnects = 0
        self.notifications = 0

    @property
    def is_open(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def open(self) -> None:
        """Connect and subscribe (idempotent), or raise TransportError and arm the backoff."""
        if self.is_open:
            return
        now = self._clock()
        if now < self._retry_at:
            raise TransportError(f"{self.address}: connect failed recently; next try in {self._retry_at - now:.0f} s")
        try:
            found = await self._finder(self.address, self.connect_timeout)
            if found is None:
                raise TransportError(f"{self.address}: not found (out of range, off, or another client connected)")
            device, self.rssi = found
            client = self._client_factory(device, self._on_disconnect)
            await asyncio.wait_for(client.connect(), self.connect_timeout)
            await client.start_notify(self.notify_uuid, self._on_notify)
        except Exception as exc:  # bleak raises BleakError, OSError, TimeoutError, dbus errors
            self._backoff = min(self.max_backoff, max(self.min_backoff, self._backoff * 2))
            self._retry_at = self._clock() + self._backoff
            if isinstance(exc, TransportError):
                raise
            raise TransportError(f"{self.address}: connect failed: {exc or type(exc).__name__}") from exc
        self._client = client
        self._arrived = asyncio.Event()  # bound to this connection's loop (the CLI runs one per call)
        self._backoff = 0.0
        self._retry_at = 0.0
        self._buf.clear()
        self._frames.clear()
        if self.connects:
            self.reconnects += 1
        self.connects += 1
        log.info("%s connected (rssi %s dBm)", self.address, self.rssi)

    def _on_disconnect(self, client: Any) -> None:
        log.info("%s disconnected", self.address)

    def _on_notify(self, sender: Any, data: bytearray) -> None:
        self.notifications += 1
        self._buf += data
        frames = self.split(self._buf)
        if frames:
            self._frames += frames
            self._arrived.set()

    async def write(self, data: bytes) -> None:
        if self._client is None or not self._client.is_connected:
            raise TransportError(f"{self.address}: not connected")
        try:
            await self._client.write_gatt_char(self.write_uuid, data, response=False)
        except Exception as exc:  # bleak raises BleakError / OSError variants
            await self.close()
            raise TransportError(f"{self.address}: write failed: {exc}") from exc

    async def wait_frame(self, want: Callable[[bytes], bool], timeout: float) -> bytes:
        """The first frame (already arrived or arriving within `timeout`) that `want` accepts."""
        deadline = self._clock() + timeout
        while True:
            while self._frames:
                frame = self._frames.pop(0)
                if want(frame):
                    return frame
            if not self.is_open:
                raise TransportError(f"{self.address}: link lost while waiting for a frame")
            left = deadline - self._clock()
            if left <= 0:
                raise DeviceTimeout(f"{self.address}: no answer within {timeout:g} s")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def exchange(self, request: bytes | None, want: Callable[[bytes], bool], timeout: float) -> bytes:
        """Write `request` (if any) and return the first frame `want` accepts."""
        await self.open()
        try:
            if request is not None:
                self._frames.clear()  # stale frames streamed since the last poll
                await self.write(request)
            return await self.wait_frame(want, timeout)
        finally:
            if not self.keepalive:
                await self.close()

    async def close(self) -> None:
        """Disconnect (idempotent, never raises)."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()

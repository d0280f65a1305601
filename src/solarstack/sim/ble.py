"""Simulators: a JK BMS on Bluetooth LE, faked at the bleak-client level (no radio here).

`FakeJkBms` is the peripheral: it answers the JK02 requests the way recorded sessions
show (0x97 -> device info; 0x96 -> a settings frame, then a cell-info frame about every
`stream_interval` s while connected), accepts one client at a time like the real BMS,
and cuts every frame into notifications by an MTU — fixed (20, 128, 244, 512) or a
random mix — so the production reassembly runs. `client_factory` / `finder` plug it
into transports/ble.BleTransport in place of bleak's BleakClient / BleakScanner.

Frames come from the plant model through the codec's own field tables
(protocols.binary.pack_into); recorded frames in the codec tests keep those honest.
Must not touch a real Bluetooth adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Sequence
from typing import Any

from solarstack.core.fields import Value
from solarstack.protocols import jk02
from solarstack.protocols.binary import pack_into
from solarstack.sim.plant import Plant, PlantState

NOTIFY_UUID = "0000ffe1-0000-1000-8000-00805f9b34fb"


def cell_info_frame(s: PlantState, layout: jk02.Layout, counter: int, *, capacity_ah: float) -> bytes:
    table = jk02.CELL_INFO_24 if layout == "24" else jk02.CELL_INFO_32
    keys = {f.key for f in table}
    cells = list(s.cell_voltages)
    hi = max(range(len(cells)), key=cells.__getitem__)
    lo = min(range(len(cells)), key=cells.__getitem__)
    balancing = any(s.balancing)
    values: dict[str, Value] = {
        "cell_voltages": cells,
        "enabled_cells_mask": (1 << len(cells)) - 1,
        "average_cell_voltage": sum(cells) / len(cells),
        "delta_cell_voltage": cells[hi] - cells[lo],
        "max_cell_index": hi + 1,
        "min_cell_index": lo + 1,
        "cell_resistances": [60.0] * len(cells),
        "voltage": s.battery_voltage,
        "power": abs(s.battery_power_w),
        "current": s.battery_current,
        "temperature_1": s.pack_celsius[0],
        "temperature_2": s.pack_celsius[1],
        "temperature_mos": s.mosfet_celsius,
        # a JK-PB has three more probes (32-slot layout only); the plant models two pack
        # temperatures, so these sit a few tenths around them
        "temperature_3": s.pack_celsius[0] + 0.3,
        "temperature_4": s.pack_celsius[1] - 0.2,
        "temperature_5": s.pack_celsius[0] - 0.4,
        # every sensor the layout carries is fitted
        "temperature_sensors_mask": sum(1 << bit for key, bit in jk02.TEMPERATURE_PRESENCE_BITS.items() if key in keys),
        "errors": 0,
        "balance_current": 0.05 if balancing else 0.0,
        "balancing_action": "charging" if balancing else "off",
        "balancing": balancing,
        "soc": round(s.soc),
        "remaining_capacity": s.soc / 100 * capacity_ah,
        "full_capacity": capacity_ah,
        "cycles": int(s.cycles),
        "cycle_capacity": s.cycles * capacity_ah,
        "soh": 100,
        "runtime": 3600,
        "charge_mosfet": True,
        "discharge_mosfet": True,
    }
    frame = bytearray(jk02.FRAME_LEN)
    pack_into(table, values, frame, offsets={"max_cell_index": 1, "min_cell_index": 1})
    payload = {6: bytes(frame[6 : jk02.FRAME_LEN - 1])}
    return jk02.encode_frame(jk02.TYPE_CELL_INFO, payload, counter)


def device_info_frame(software_version: str, name: str) -> bytes:
    frame = bytearray(jk02.FRAME_LEN)
    values: dict[str, Value] = {
        "model": "JK_B2A24S15P",
        "hardware_version": software_version.split(".")[0] + ".XW",
        "software_version": software_version,
        "uptime": 3600,
        "power_on_count": 3,
        "device_name": name,
        "manufacturing_date": "230101",
        "serial_number": "3070100001",
    }
    pack_into(jk02.DEVICE_INFO, values, frame)
    return jk02.encode_frame(jk02.TYPE_DEVICE_INFO, {6: bytes(frame[6 : jk02.FRAME_LEN - 1])})


class FakeJkBms:
    """One peripheral (see module doc). `mtu` is a size or a sequence to draw sizes from."""

    def __init__(
        self,
        address: str = "C8:47:8C:00:00:01",
        *,
        plant: Plant | None = None,
        software_version: str = "11.26",
        mtu: int | Sequence[int] = 20,
        stream_interval: float = 0.2,
        rssi: int = -67,
        seed: int = 0,
        pad_to_320: bool = False,
    ) -> None:
        self.address = address
        self.plant = plant or Plant()
        self.software_version = software_version
        self.layout = jk02.layout_for(software_version)
        self.mtu = mtu
        self.stream_interval = stream_interval
        self.rssi = rssi
        self.pad_to_320 = pad_to_320
        self.in_range = True
        self.client: FakeBleakClient | None = None
        self.connections = 0
        self.requests: list[bytes] = []
        self._rng = random.Random(seed)
        self._counter = 0

    # the two bleak entry points BleTransport takes
    def client_factory(self, device: Any, on_disconnect: Callable[[Any], None]) -> FakeBleakClient:
        return FakeBleakClient(self, on_disconnect)

    async def finder(self, address: str, timeout: float) -> tuple[Any, int | None] | None:
        await asyncio.sleep(0)
        if not self.in_range or address.upper() != self.address.upper():
            return None
        return self, self.rssi

    def chunks(self, frame: bytes) -> list[bytes]:
        if self.pad_to_320:
            frame = frame + bytes(20)
        out = []
        i = 0
        while i < len(frame):
            n = self.mtu if isinstance(self.mtu, int) else self._rng.choice(list(self.mtu))
            out.append(frame[i : i + n])
            i += n
        return out

    def cell_info(self) -> bytes:
        self._counter = (self._counter + 1) & 0xFF
        return cell_info_frame(self.plant.step(), self.layout, self._counter, capacity_ah=self.plant.config.battery_ah)

    def drop_client(self) -> None:
        """The link breaks (out of range, the BMS resets)."""
        if self.client is not None:
            self.client.lose_link()


class FakeBleakClient:
    """Just enough of bleak.BleakClient: connect, start_notify, write_gatt_char, disconnect."""

    def __init__(self, peripheral: FakeJkBms, on_disconnect: Callable[[Any], None]) -> None:
        self.peripheral = peripheral
        self.on_disconnect = on_disconnect
        self._connected = False
        self._notify: Callable[[Any, bytearray], None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, **kwargs: Any) -> bool:
        p = self.peripheral
        if not p.in_range:
            raise TimeoutError("device not responding")
        if p.client is not None and p.client.is_connected:
            # a JK accepts one central at a time: the second one is refused
            raise OSError("le-connection-abort-by-local: another client is connected")
        await asyncio.sleep(0)
        self._connected = True
        p.client = self
        p.connections += 1
        return True

    async def start_notify(
        self, char_specifier: Any, callback: Callable[[Any, bytearray], None], **kwargs: Any
    ) -> None:
        self._notify = callback

    async def write_gatt_char(self, char_specifier: Any, data: bytes, response: bool | None = None) -> None:
        if not self._connected:
            raise OSError("not connected")
        self.peripheral.requests.append(bytes(data))
        if len(data) != 20 or bytes(data[:4]) != jk02.REQUEST_HEADER:
            return  # the BMS ignores what it does not understand
        if data[4] == jk02.CMD_DEVICE_INFO:
            self._spawn(self._send([device_info_frame(self.peripheral.software_version, "pack")]))
        elif data[4] == jk02.CMD_CELL_INFO:
            settings = jk02.encode_frame(jk02.TYPE_SETTINGS, {})
            self._spawn(self._stream(settings))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, frames: list[bytes]) -> None:
        for frame in frames:
            for chunk in self.peripheral.chunks(frame):
                if not self._connected or self._notify is None:
                    return
                self._notify(NOTIFY_UUID, bytearray(chunk))
                await asyncio.sleep(0)  # each notification is its own event, as over the air

    async def _stream(self, first: bytes) -> None:
        await self._send([first])
        while self._connected:
            await self._send([self.peripheral.cell_info()])
            await asyncio.sleep(self.peripheral.stream_interval)

    def lose_link(self) -> None:
        if self._connected:
            self._close()
            self.on_disconnect(self)

    def _close(self) -> None:
        self._connected = False
        for task in list(self._tasks):
            task.cancel()
        if self.peripheral.client is self:
            self.peripheral.client = None

    async def disconnect(self) -> bool:
        self._close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)
        return True

"""JK over Bluetooth: the production transport and device against a fake peripheral at
the bleak-client level (sim/ble.py) — reassembly at any MTU, one-client contention,
keep-alive off, a dropped link and the reconnect backoff."""

from __future__ import annotations

import asyncio

import bms_frames as rec
import pytest

from solarstack.core.device_url import parse_device_url
from solarstack.core.errors import TransportError
from solarstack.devices.bms_ble import CHAR_UUID, Jk02BleBms, open_device
from solarstack.protocols import jk02
from solarstack.sim.ble import FakeJkBms
from solarstack.sim.plant import Plant
from solarstack.transports.ble import BleTransport


def transport_for(fake: FakeJkBms, *, keepalive: bool = True, clock: object = None) -> BleTransport:
    kw = {"clock": clock} if clock else {}
    return BleTransport(
        fake.address,
        notify_uuid=CHAR_UUID,
        write_uuid=CHAR_UUID,
        split=jk02.split_frames,
        keepalive=keepalive,
        client_factory=fake.client_factory,
        finder=fake.finder,
        min_backoff=5.0,
        **kw,  # type: ignore[arg-type]
    )


def device(fake: FakeJkBms, **kw: object) -> Jk02BleBms:
    url = parse_device_url(f"jk02+ble://{fake.address}?name=pack1")
    return open_device(url, timeout=2.0, transport=transport_for(fake, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mtu", "firmware", "pad"),
    [
        (20, "11.26", False),
        (128, "10.07", False),
        (244, "11.26", True),
        (512, "10.07", True),
        ((20, 23, 128, 182, 244), "11.26", False),
    ],
)
def test_cell_info_through_any_mtu(mtu: int | tuple[int, ...], firmware: str, pad: bool) -> None:
    plant = Plant(seed=3)
    fake = FakeJkBms(plant=plant, software_version=firmware, mtu=mtu, pad_to_320=pad, seed=11)

    async def run() -> None:
        dev = device(fake)
        first = await dev.aquery("cell_info")
        second = await dev.aquery("cell_info")
        state = plant.snapshot()
        assert dev.layout == ("24" if firmware.startswith("10") else "32")
        for reading in (first, second):
            v = reading.values
            assert v["cell_count"] == 16 and len(v["cell_voltages"]) == 16  # type: ignore[arg-type]
            assert abs(v["soc"] - state.soc) <= 1  # type: ignore[operator]
            assert v["rssi"] == -67 and v["ble_reconnects"] == 0
            # the simulated 32-slot BMS is a JK-PB: T3-T5 fitted and sent, on top of MOS, T1, T2
            assert v["temperature_sensors_mask"] == (0b111 if dev.layout == "24" else 0b111111)
            pb_probes = [v.get(f"temperature_{i}") for i in (3, 4, 5)]
            assert all(isinstance(t, float) for t in pb_probes) == (dev.layout == "32")
            assert {f.key for f in reading.fields} >= set(v)
        assert second.values["cell_voltages"] == [round(c, 3) for c in state.cell_voltages]
        assert fake.connections == 1  # keep-alive: one connection for both polls
        assert fake.requests[0] == jk02.request(jk02.CMD_DEVICE_INFO)
        await dev.transport.close()

    asyncio.run(run())


def test_shuffled_chunks_of_recorded_frames_reassemble() -> None:
    """The recorded 24S and 32S frames, cut at random sizes, come out whole through the transport."""
    import random

    fake = FakeJkBms()
    got: list[bytes] = []

    async def run() -> None:
        t = transport_for(fake)
        await t.open()
        stream = rec.JK02_24S_CELL_INFO + bytes(20) + rec.JK02_32S_CELL_INFO
        rng = random.Random(5)
        for _ in range(30):
            i = 0
            while i < len(stream):
                n = rng.randint(1, 300)
                t._on_notify(CHAR_UUID, bytearray(stream[i : i + n]))
                i += n
            for _ in range(2):
                got.append(await t.wait_frame(lambda f: True, 1.0))
        await t.close()

    asyncio.run(run())
    assert got == [rec.JK02_24S_CELL_INFO, rec.JK02_32S_CELL_INFO] * 30


def test_one_client_at_a_time_and_keepalive_off_lets_others_in() -> None:
    fake = FakeJkBms()

    async def run() -> None:
        holder = device(fake)  # keep-alive: holds the BMS
        await holder.aquery("cell_info")
        other = device(fake, keepalive=False)
        with pytest.raises(TransportError):
            await other.aquery("cell_info")
        await holder.transport.close()
        polite = device(fake, keepalive=False)
        for _ in range(3):
            await polite.aquery("cell_info")
            assert fake.client is None  # disconnected after each poll: a phone app can connect
        # holder 1; polite 2 on its first poll (device info, then cell info), then 1 per poll
        assert fake.connections == 1 + 2 + 1 + 1

    asyncio.run(run())


def test_dropped_link_reconnects_with_backoff_and_counts() -> None:
    now = [1000.0]
    fake = FakeJkBms()

    async def run() -> None:
        dev = device(fake, clock=lambda: now[0])
        await dev.aquery("cell_info")
        fake.in_range = False
        fake.drop_client()
        with pytest.raises(TransportError):
            await dev.aquery("cell_info")  # not found: backoff armed
        fake.in_range = True
        with pytest.raises(TransportError, match="next try"):
            await dev.aquery("cell_info")  # fails fast during the backoff, no radio traffic
        now[0] += 6.0
        reading = await dev.aquery("cell_info")
        assert reading.values["ble_reconnects"] == 1
        assert dev.transport.connects == 2
        await dev.transport.close()

    asyncio.run(run())


def test_blocking_query_without_a_loop() -> None:
    """The CLI path: `query` runs its own loop and disconnects afterwards."""
    fake = FakeJkBms(software_version="10.07")
    dev = device(fake)
    reading = dev.query("device_info")
    assert reading.values["software_version"] == "10.07"
    assert fake.client is None
    assert dev.query("cell_info").values["cell_count"] == 16

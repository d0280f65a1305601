"""The store keeps each device's catalogue (core.catalog, built from the real tables) and the
feed routes catalogue messages into it; the store's fan-out to live streams."""

from __future__ import annotations

import json
import threading

from solarstack.core import catalog
from solarstack.core.topics import Topics
from solarstack.protocols import jk02, pi30
from solarstack.services.web.feed import Feed
from solarstack.services.web.history import RingHistory
from solarstack.services.web.store import StateStore


class NoResults:
    def deliver(self, topic: str, result: dict[str, object]) -> None:
        raise AssertionError(f"no result expected on {topic}")


def feed_with_store() -> tuple[Feed, StateStore]:
    store = StateStore()
    return Feed(store, RingHistory(), NoResults(), Topics("solarstack", "homeassistant")), store


def message(device: str, fields: object, settings: object = (), **kw: object) -> bytes:
    identity = {"id": device, "name": device.title(), "kind": "inverter", "protocol": "pi30"}
    return catalog.build(identity, fields, settings, **kw).encode()  # type: ignore[arg-type]


def test_every_pi30_field_and_setting_reaches_the_api_from_the_catalogue() -> None:
    feed, store = feed_with_store()
    tables = pi30.table("QPIGS") + pi30.table("QPIRI")
    feed.on_catalog("solarstack/inv/catalog", message("inv", tables, pi30.SETTINGS, queries=("QPIGS",)))
    dev = store.snapshot()["devices"]["inv"]
    assert {f.key for f in tables} == set(dev["fields"])
    assert {s.key for s in pi30.SETTINGS} == set(dev["settings"])
    assert dev["kind"] == "inverter" and dev["protocol"] == "pi30"
    assert dev["fields"]["battery_voltage"]["unit"] == "V"
    assert dev["fields"]["pv_input_power"]["role"] == "pv_power"
    prio = dev["settings"]["output_source_priority"]
    assert prio["component"] == "select" and prio["state_key"] == "output_source_priority"
    assert dev["settings"]["battery_float_voltage"]["component"] == "number"


def test_arrays_keep_their_size_and_a_forgotten_or_foreign_catalogue_is_handled() -> None:
    feed, store = feed_with_store()
    payload = message("pack", jk02.table(jk02.TYPE_CELL_INFO, "32"), array_sizes={"cell_voltages": 16})
    feed.on_catalog("solarstack/pack/catalog", payload)
    assert store.snapshot()["devices"]["pack"]["fields"]["cell_voltages"]["size"] == 16
    # A catalogue describing another device, or of a schema this web cannot read: ignored.
    feed.on_catalog("solarstack/other/catalog", payload)
    feed.on_catalog("solarstack/pack/catalog", json.dumps({"schema": 99, "device": {"id": "pack"}}).encode())
    assert store.catalog("other") is None and store.catalog("pack") is not None
    # An empty retained payload: the device is gone, so are its labels.
    feed.on_catalog("solarstack/pack/catalog", b"")
    assert store.snapshot()["devices"]["pack"]["fields"] == {}


def test_store_fans_out_to_every_listener_and_drops_the_oldest_for_a_slow_one() -> None:
    store = StateStore(queue_size=3)
    with store.listen() as fast, store.listen() as slow:
        assert store.client_count == 2
        for i in range(5):
            store.update_state("d", {"ts": str(i), "v": i})
            fast.get_nowait()
        # The slow client kept only the newest three events.
        kept = [json.loads(slow.get_nowait().split("data: ", 1)[1])["state"]["v"] for _ in range(3)]
        assert kept == [2, 3, 4]
    assert store.client_count == 0


def test_store_snapshot_is_consistent_under_concurrent_writes() -> None:
    store = StateStore()
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            store.update_state("d", {"a": i, "b": i})

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(2000):
            state = json.loads(store.snapshot_json()).get("devices", {}).get("d", {}).get("state", {})
            assert state.get("a") == state.get("b")
    finally:
        stop.set()
        thread.join()


def test_a_device_is_stale_after_three_of_its_own_intervals_or_when_it_says_so() -> None:
    """A weather reader polls every 10 min: not stale after WEB_STALE_SECONDS (180 s), but after
    three of its intervals; an inverter at 5 s falls back to WEB_STALE_SECONDS."""
    now = [1000.0]
    store = StateStore(stale_seconds=180.0, clock=lambda: now[0])
    feed = Feed(store, RingHistory(), NoResults(), Topics("solarstack", "homeassistant"))
    feed.on_catalog("solarstack/weather/catalog", message("weather", pi30.table("QPIGS")[:1], interval=600.0))
    feed.on_catalog("solarstack/inv/catalog", message("inv", pi30.table("QPIGS")[:1], interval=5.0))
    for device in ("weather", "inv"):
        store.update_state(device, {"ts": "2026-12-02T10:00:00Z"})

    def stale() -> dict[str, bool]:
        return {d: v["stale"] for d, v in store.snapshot()["devices"].items()}

    assert catalog.parse(message("w", (), interval=600.0)).interval == 600.0
    now[0] += 181
    assert stale() == {"weather": False, "inv": True}
    now[0] += 1801 - 181
    assert stale() == {"weather": True, "inv": True}
    # A reader that could not fetch re-sends its last good state marked stale: fresh, yet stale.
    store.update_state("weather", {"ts": "2026-12-02T10:00:00Z", "stale": True})
    assert stale()["weather"] is True
    store.update_state("weather", {"ts": "2026-12-02T10:10:00Z"})
    assert stale()["weather"] is False


def test_a_unit_goes_offline_with_its_system_and_the_system_names_its_units() -> None:
    feed, store = feed_with_store()
    units = ("par_unit1", "par_unit2")
    totals = {"load_power": "ac_output_active_power"}
    feed.on_catalog("solarstack/par/catalog", message("par", pi30.table("QPIGS"), units=units, totals=totals))
    for u in units:
        identity = {"id": u, "name": u, "kind": "inverter", "protocol": "pi30", "via_device": "par"}
        feed.on_catalog(f"solarstack/{u}/catalog", catalog.build(identity, pi30.table("QPGS0")).encode())
        store.update_availability(u, "online")
    store.update_availability("par", "online")
    snap = store.snapshot()["devices"]
    assert snap["par"]["units"] == list(units) and snap["par"]["totals"] == totals
    assert snap["par_unit1"]["via_device"] == "par" and snap["par_unit1"]["units"] == []
    assert {snap[u]["availability"] for u in units} == {"online"}

    # the reader died: the broker sends the system's last will only; its units' topics still say online
    with store.listen() as events:
        store.update_availability("par", "offline")
        # live pages hear it for every unit at once, not at the units' next message
        sent = [json.loads(events.get_nowait().partition("data: ")[2]) for _ in range(3)]
    assert {(e["device"], e["availability"]) for e in sent} == {(d, "offline") for d in ("par", *units)}
    assert {store.snapshot()["devices"][u]["availability"] for u in (*units, "par")} == {"offline"}
    assert store.availability("par_unit2") == "offline"
    store.update_availability("par", "online")
    assert store.availability("par_unit1") == "online"

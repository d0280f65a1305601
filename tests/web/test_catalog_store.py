"""Discovery parsing (payloads built by core.discovery from the real tables) and the store's fan-out."""

from __future__ import annotations

import json
import threading

import pytest

from solarstack.core.discovery import DeviceInfo, build_device_discovery
from solarstack.protocols import jk02, pi30
from solarstack.services.web.catalog import parse_discovery
from solarstack.services.web.store import StateStore


def discovery(device: str, fields: object, settings: object = (), **kw: object) -> dict[str, object]:
    [(_, payload)] = build_device_discovery(
        "solarstack", "homeassistant", DeviceInfo(device, device.title()), fields, settings, origin_version="t", **kw
    )  # type: ignore[arg-type]
    return dict(json.loads(payload))


def test_every_pi30_field_and_setting_is_labelled_from_discovery() -> None:
    tables = pi30.table("QPIGS") + pi30.table("QPIRI")
    catalog = parse_discovery("inv", discovery("inv", tables, pi30.SETTINGS))
    assert {f.key for f in tables} <= set(catalog.fields)
    assert catalog.fields["battery_voltage"].unit == "V"
    assert catalog.fields["battery_voltage"].device_class == "voltage"
    assert {s.key for s in pi30.SETTINGS} == set(catalog.settings)
    prio = catalog.settings["output_source_priority"]
    assert prio.component == "select" and prio.command_topic == "solarstack/inv/set/output_source_priority"
    assert prio.state_key == "output_source_priority"
    assert catalog.settings["battery_float_voltage"].check(54.5) == "54.5"


def test_array_elements_fold_into_one_field_and_removal_stubs_are_ignored() -> None:
    payload = discovery("pack", jk02.table(jk02.TYPE_CELL_INFO, "32"), array_sizes={"cell_voltages": 16})
    payload["cmps"]["gone_sensor"] = {"p": "sensor"}  # type: ignore[index]
    catalog = parse_discovery("pack", payload)
    assert catalog.fields["cell_voltages"].name == "Cell voltages"
    assert not [k for k in catalog.fields if k.startswith("cell_voltages_")]
    assert "gone_sensor" not in catalog.fields


@pytest.mark.parametrize(
    ("value", "reason"),
    [(58.5, "above the maximum"), (47.9, "below the minimum"), (50.05, "multiple"), ("x", "not a number"),
     (float("inf"), "finite"), (True, "number is needed")],
)  # fmt: skip
def test_number_setting_checks(value: object, reason: str) -> None:
    catalog = parse_discovery("inv", discovery("inv", (), pi30.SETTINGS))
    with pytest.raises(ValueError, match=reason):
        catalog.settings["battery_float_voltage"].check(value)


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

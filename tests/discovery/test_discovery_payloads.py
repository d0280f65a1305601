"""Home Assistant discovery payloads built from small field/setting tables (no HA here).

What HA itself accepts is checked in test_ha_schema.py with HA's own code; these tests pin
our contract: topics, stable ids, the mapping of every field kind, removal and birth.
"""

from __future__ import annotations

import json

import pytest

from solarstack.core.discovery import (
    DeviceInfo,
    build_device_discovery,
    build_discovery,
    build_entity_discovery,
    discovery_subscriptions,
    on_ha_birth,
    with_removals,
)
from solarstack.core.fields import Field, Kind, Setting

FIELDS = (
    Field("battery_voltage", 0, Kind.FLOAT, "V"),
    Field("battery_capacity", 1, Kind.INT, "%", device_class="battery"),
    Field("device_mode", 2, Kind.ENUM, options={"L": "Line", "B": "Battery", "F": "Fault"}),
    Field("serial_number", 3, Kind.TEXT, diagnostic=True),
    Field("load_on", 4, Kind.BOOL, bit=0),
    Field("fault_over_temperature", 5, Kind.BOOL, bit=1, device_class="problem", diagnostic=True),
    Field("cell_voltage", 6, Kind.ARRAY, "V"),
    Field("pv_energy", kind=Kind.FLOAT, unit="kWh", device_class="energy", state_class="total_increasing"),
    Field("inverter_temperature", 7, Kind.INT, "°C", diagnostic=True, icon="mdi:thermometer"),
)
SETTINGS = (
    Setting("output_source_priority", "Output source priority", options=("UTI", "SOL", "SBU"), readback="osp"),
    Setting("bulk_voltage", "Bulk charge voltage", minimum=48.0, maximum=58.4, step=0.1, unit="V", readback="bv"),
    Setting("buzzer", "Buzzer", options=("ON", "OFF")),  # no read-back: optimistic
)
DEVICE = DeviceInfo(
    "inverter1", "Inverter 1", manufacturer="Voltronic", model="Axpert", sw_version="0.1", serial_number="9251"
)


def device_doc(fields=FIELDS, settings=SETTINGS, **kw) -> tuple[str, dict]:
    [(topic, payload)] = build_device_discovery(
        "solarstack", "homeassistant", DEVICE, fields, settings, origin_version="1.2.3", array_sizes={"cell_voltage": 3}
    )
    return topic, json.loads(payload)


def entity_docs(fields=FIELDS, settings=SETTINGS) -> dict[str, dict]:
    msgs = build_entity_discovery(
        "solarstack", "homeassistant", DEVICE, fields, settings, origin_version="1.2.3", array_sizes={"cell_voltage": 3}
    )
    return {topic: json.loads(payload) for topic, payload in msgs}


def test_device_mode_is_one_message_with_device_origin_and_shared_availability():
    topic, doc = device_doc()
    assert topic == "homeassistant/device/inverter1/config"
    assert doc["dev"] == {
        "ids": ["solarstack_inverter1"],
        "name": "Inverter 1",
        "mf": "Voltronic",
        "mdl": "Axpert",
        "sw": "0.1",
        "sn": "9251",
    }
    assert doc["o"]["name"] == "solarstack" and doc["o"]["sw"] == "1.2.3"
    assert doc["avty_t"] == "solarstack/inverter1/availability"
    assert (doc["pl_avail"], doc["pl_not_avail"]) == ("online", "offline")
    # 9 fields, the array counts 3, plus 3 settings
    assert len(doc["cmps"]) == 8 + 3 + 3


def test_unique_ids_and_entity_ids_follow_the_contract_and_never_use_object_id():
    _, doc = device_doc()
    for object_id, cmp in doc["cmps"].items():
        assert cmp["uniq_id"] == f"solarstack_inverter1_{object_id}"
        assert cmp["def_ent_id"] == f"{cmp['p']}.inverter1_{object_id}"
        assert "obj_id" not in cmp and "object_id" not in cmp
    assert doc["cmps"]["battery_voltage"]["uniq_id"] == "solarstack_inverter1_battery_voltage"
    # a setting and its read-back field of the same key must not share a unique_id
    assert doc["cmps"]["set_bulk_voltage"]["uniq_id"] == "solarstack_inverter1_set_bulk_voltage"


def test_unique_ids_are_stable_across_builds_and_table_order():
    _, first = device_doc()
    _, again = device_doc(fields=tuple(reversed(FIELDS)), settings=tuple(reversed(SETTINGS)))
    ids = {k: v["uniq_id"] for k, v in first["cmps"].items()}
    assert ids == {k: v["uniq_id"] for k, v in again["cmps"].items()}
    assert device_doc()[1] == first


def test_numeric_sensor_rows():
    _, doc = device_doc()
    bv = doc["cmps"]["battery_voltage"]
    assert bv["p"] == "sensor"
    assert bv["stat_t"] == "solarstack/inverter1/state"
    assert bv["val_tpl"] == "{{ value_json.battery_voltage }}"
    assert (bv["unit_of_meas"], bv["dev_cla"], bv["stat_cla"]) == ("V", "voltage", "measurement")
    assert bv["name"] == "Battery voltage"
    assert "ent_cat" not in bv
    cap = doc["cmps"]["battery_capacity"]
    assert (cap["unit_of_meas"], cap["dev_cla"]) == ("%", "battery")
    temp = doc["cmps"]["inverter_temperature"]
    assert (temp["unit_of_meas"], temp["dev_cla"], temp["ent_cat"], temp["ic"]) == (
        "°C",
        "temperature",
        "diagnostic",
        "mdi:thermometer",
    )


def test_energy_is_kwh_total_increasing():
    _, doc = device_doc()
    e = doc["cmps"]["pv_energy"]
    assert (e["unit_of_meas"], e["dev_cla"], e["stat_cla"]) == ("kWh", "energy", "total_increasing")


def test_enum_text_and_bool_rows():
    _, doc = device_doc()
    mode = doc["cmps"]["device_mode"]
    assert mode["dev_cla"] == "enum" and mode["ops"] == ["Line", "Battery", "Fault"]
    assert "stat_cla" not in mode and "unit_of_meas" not in mode
    serial = doc["cmps"]["serial_number"]
    assert serial["p"] == "sensor" and serial["ent_cat"] == "diagnostic"
    assert not {"stat_cla", "unit_of_meas", "dev_cla"} & serial.keys()
    load = doc["cmps"]["load_on"]
    assert load["p"] == "binary_sensor" and (load["pl_on"], load["pl_off"]) == ("ON", "OFF")
    assert "value_json.load_on is sameas true" in load["val_tpl"]
    fault = doc["cmps"]["fault_over_temperature"]
    assert (fault["dev_cla"], fault["ent_cat"]) == ("problem", "diagnostic")


def test_array_becomes_one_sensor_per_element_numbered_from_one():
    _, doc = device_doc()
    cells = {k: v for k, v in doc["cmps"].items() if k.startswith("cell_voltage")}
    assert list(cells) == ["cell_voltage_01", "cell_voltage_02", "cell_voltage_03"]
    assert cells["cell_voltage_03"]["val_tpl"] == "{{ value_json.cell_voltage[2] }}"
    assert cells["cell_voltage_01"]["name"] == "Cell voltage 1"
    assert all(c["unit_of_meas"] == "V" and c["dev_cla"] == "voltage" for c in cells.values())


def test_array_without_a_size_hint_is_left_out():
    [(_, payload)] = build_device_discovery("solarstack", "homeassistant", DEVICE, FIELDS[6:7], (), origin_version="1")
    assert json.loads(payload)["cmps"] == {}


def test_settings_become_select_and_number_on_the_set_topic():
    _, doc = device_doc()
    sel = doc["cmps"]["set_output_source_priority"]
    assert sel["p"] == "select"
    assert sel["cmd_t"] == "solarstack/inverter1/set/output_source_priority"
    assert sel["ops"] == ["UTI", "SOL", "SBU"]
    assert (sel["stat_t"], sel["val_tpl"]) == ("solarstack/inverter1/state", "{{ value_json.osp }}")
    assert sel["ent_cat"] == "config"
    num = doc["cmps"]["set_bulk_voltage"]
    assert num["p"] == "number" and num["cmd_t"] == "solarstack/inverter1/set/bulk_voltage"
    assert (num["min"], num["max"], num["step"], num["mode"]) == (48.0, 58.4, 0.1, "box")
    assert (num["unit_of_meas"], num["dev_cla"]) == ("V", "voltage")
    optimistic = doc["cmps"]["set_buzzer"]
    assert "stat_t" not in optimistic and "val_tpl" not in optimistic


def test_entity_mode_topics_and_payloads_match_device_mode():
    docs = entity_docs()
    _, device = device_doc()
    expected = {
        f"homeassistant/{cmp['p']}/inverter1/{object_id}/config": object_id for object_id, cmp in device["cmps"].items()
    }
    assert set(docs) == set(expected)
    for topic, doc in docs.items():
        cmp = dict(device["cmps"][expected[topic]])
        cmp.pop("p")
        # every entity carries what device mode shares at the root
        assert doc["avty_t"] == "solarstack/inverter1/availability"
        assert doc["dev"]["ids"] == ["solarstack_inverter1"] and doc["o"]["name"] == "solarstack"
        assert {k: doc[k] for k in cmp} == cmp


def test_entity_mode_leaves_out_device_keys_older_home_assistant_rejects():
    # HA before 2024.2 validates the device block strictly: an unknown key rejects the entity.
    for doc in entity_docs().values():
        assert "sn" not in doc["dev"]


def test_build_discovery_follows_the_mode_setting():
    args = ("solarstack", "homeassistant", DEVICE, FIELDS[:1])
    assert build_discovery("off", *args, origin_version="1") == []
    assert build_discovery("device", *args, origin_version="1")[0][0] == "homeassistant/device/inverter1/config"
    assert build_discovery("entity", *args, origin_version="1")[0][0].startswith("homeassistant/sensor/inverter1/")


def test_custom_prefixes_reach_every_topic():
    [(topic, payload)] = build_device_discovery(
        "home/solar", "ha", DEVICE, FIELDS[:1], SETTINGS[:1], origin_version="1"
    )
    doc = json.loads(payload)
    assert topic == "ha/device/inverter1/config"
    assert doc["avty_t"] == "home/solar/inverter1/availability"
    assert doc["cmps"]["battery_voltage"]["stat_t"] == "home/solar/inverter1/state"
    assert doc["cmps"]["set_output_source_priority"]["cmd_t"] == "home/solar/inverter1/set/output_source_priority"


def test_a_key_reported_by_two_commands_is_one_entity():
    fields = (Field("battery_voltage", 0, unit="V"), Field("battery_voltage", 5, unit="V"))
    _, doc = device_doc(fields=fields, settings=())
    assert list(doc["cmps"]) == ["battery_voltage"]


# --- removal ------------------------------------------------------------------------------


def test_device_mode_removes_vanished_components_with_a_platform_only_stub():
    before = build_device_discovery("solarstack", "homeassistant", DEVICE, FIELDS[:5], SETTINGS, origin_version="1")
    after = build_device_discovery("solarstack", "homeassistant", DEVICE, FIELDS[:3], SETTINGS[:1], origin_version="1")
    [(topic, payload)] = with_removals(before, after)
    cmps = json.loads(payload)["cmps"]
    assert cmps["serial_number"] == {"p": "sensor"}
    assert cmps["load_on"] == {"p": "binary_sensor"}
    assert cmps["set_bulk_voltage"] == {"p": "number"}
    assert cmps["set_buzzer"] == {"p": "select"}
    assert cmps["battery_voltage"]["uniq_id"] == "solarstack_inverter1_battery_voltage"
    # the stubs are not carried forward once HA has been told
    [(_, again)] = with_removals([(topic, payload)], after)
    assert all(len(c) > 1 for c in json.loads(again)["cmps"].values())


def test_unchanged_discovery_passes_through_untouched():
    msgs = build_device_discovery("solarstack", "homeassistant", DEVICE, FIELDS, SETTINGS, origin_version="1")
    assert with_removals(msgs, msgs) == msgs
    ent = build_entity_discovery("solarstack", "homeassistant", DEVICE, FIELDS, SETTINGS, origin_version="1")
    assert with_removals(ent, ent) == ent


def test_entity_mode_removes_vanished_entities_with_an_empty_retained_payload():
    before = build_entity_discovery("solarstack", "homeassistant", DEVICE, FIELDS[:5], (), origin_version="1")
    after = build_entity_discovery("solarstack", "homeassistant", DEVICE, FIELDS[:3], (), origin_version="1")
    out = dict(with_removals(before, after))
    assert out["homeassistant/sensor/inverter1/serial_number/config"] == ""
    assert out["homeassistant/binary_sensor/inverter1/load_on/config"] == ""
    assert json.loads(out["homeassistant/sensor/inverter1/battery_voltage/config"])["name"] == "Battery voltage"
    assert len(out) == 5


def test_switching_mode_clears_the_other_modes_topics():
    dev = build_device_discovery("solarstack", "homeassistant", DEVICE, FIELDS[:2], (), origin_version="1")
    ent = build_entity_discovery("solarstack", "homeassistant", DEVICE, FIELDS[:2], (), origin_version="1")
    assert with_removals(dev, ent) == [*ent, ("homeassistant/device/inverter1/config", "")]
    assert with_removals(ent, dev) == [*dev, *((t, "") for t, _ in ent)]
    cleared = [(t, "") for t, _ in ent]
    assert with_removals(ent, []) == cleared
    # already-cleared topics (empty retained) are not cleared again
    assert with_removals(cleared, ent) == ent


def test_discovery_subscriptions_match_both_modes_topics():
    device_filter, entity_filter = discovery_subscriptions("homeassistant", "inverter1")
    assert device_filter == "homeassistant/device/inverter1/config"
    assert entity_filter == "homeassistant/+/inverter1/+/config"


# --- Home Assistant birth -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "payload", "republished"),
    [
        ("homeassistant/status", b"online", 1),
        ("homeassistant/status", b"offline", 0),
        ("homeassistant/status", b"", 0),
        ("other/status", b"online", 0),
    ],
)
def test_birth_handler_republishes_only_when_home_assistant_comes_online(topic, payload, republished):
    calls = []
    topic_filter, handler = on_ha_birth("homeassistant", lambda: calls.append(1))
    assert topic_filter == "homeassistant/status"
    handler(topic, payload)
    assert len(calls) == republished

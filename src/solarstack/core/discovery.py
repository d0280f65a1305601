"""Core layer: Home Assistant MQTT discovery built from field tables and setting tables.

Pure functions: they return `(topic, payload)` pairs that the service publishes retained
(QoS 1). This module must NOT do MQTT I/O, read settings from the environment, or know
any protocol: everything it emits comes from `Field` / `Setting` rows.

Two modes (HA_DISCOVERY):

* ``device`` — one message per device, ``<disc>/device/<device>/config``: the shared
  ``dev`` (device), ``o`` (origin), availability and ``stat_t`` at the root and one entry
  per entity under ``cmps`` (HA 2024.11+). A component that disappeared is removed by
  re-sending the device message with that component reduced to its platform ``{"p": ...}``.
* ``entity`` — one message per entity, ``<disc>/<component>/<device>/<object>/config``,
  for older Home Assistant; an entity that disappeared is removed by an empty retained
  payload on its topic.

Keys are HA's documented abbreviations (``uniq_id``, ``stat_t``, ``val_tpl`` ...) so a
device message with a hundred entities stays small. Mapping a row to an entity:

=========  ==========================================================================
Field      entity
=========  ==========================================================================
FLOAT/INT  ``sensor``; unit, device_class and state_class from the row (`Field.ha_*`)
ENUM       ``sensor`` with device_class ``enum`` and ``options`` (the labels)
TEXT       ``sensor`` without unit or state_class
BOOL       ``binary_sensor``; the JSON true/false becomes ON/OFF in the template
ARRAY      one ``sensor`` per element, ``<key>_01`` ..., count from `array_sizes`
series     a row with `attribute_of` (a 48-hour forecast): no entity; it is an attribute
           (``json_attr_t``) of the entity of the field it names
expiring   a row with `expire_after`: ``exp_aft`` (HA shows it unavailable when no state came)
Setting    ``select`` (options) or ``number`` (min/max/step, box), commanding
           ``<prefix>/<device>/set/<key>`` and showing the read-back field
=========  ==========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from solarstack.core.fields import UNITS, Field, FieldTable, Kind, Setting
from solarstack.core.topics import Topics

#: (topic, payload) to publish retained; an empty payload clears a retained discovery topic.
Message = tuple[str, str]
DiscoveryMode = Literal["device", "entity", "off"]  # HA_DISCOVERY
Payload = dict[str, Any]

ORIGIN_NAME = "solarstack"
PAYLOAD_ONLINE = "online"
PAYLOAD_OFFLINE = "offline"

# A JSON boolean renders as Python's True/False in HA's Jinja; `sameas` keeps null and a
# missing key apart from false, so they show as "unknown" (HA's "None") rather than OFF.
_BOOL_TEMPLATE = (
    "{{% if value_json.{k} is sameas true %}}ON"
    "{{% elif value_json.{k} is sameas false %}}OFF"
    "{{% else %}}None{{% endif %}}"
)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """The HA device an entity belongs to; `id` is the solarstack device slug."""

    id: str
    name: str
    manufacturer: str | None = None
    model: str | None = None
    sw_version: str | None = None
    hw_version: str | None = None
    serial_number: str | None = None
    via_device: str | None = None  # the `id` of the device this one talks through
    configuration_url: str | None = None

    @property
    def identifier(self) -> str:
        return f"{ORIGIN_NAME}_{self.id}"

    def payload(self, *, serial: bool = True) -> Payload:
        """The `dev` block. `serial=False` for HA before 2024.2, which rejects the key."""
        dev: Payload = {"ids": [self.identifier], "name": self.name}
        optional = (
            ("mf", self.manufacturer),
            ("mdl", self.model),
            ("sw", self.sw_version),
            ("hw", self.hw_version),
            ("sn", self.serial_number if serial else None),
            ("via_device", f"{ORIGIN_NAME}_{self.via_device}" if self.via_device else None),
            ("cu", self.configuration_url),
        )
        dev.update((k, v) for k, v in optional if v)
        return dev


@dataclass(frozen=True, slots=True)
class Entity:
    """One HA entity: its platform, object id (unique within the device) and config."""

    component: str
    object_id: str
    config: Payload
    stateful: bool = True  # False: no state topic, HA shows the last value it sent


# --- topics (core/topics.py holds the grammar; these keep the builders' signatures) -------------


def state_topic(prefix: str, device: str) -> str:
    return Topics(prefix).state(device)


def availability_topic(prefix: str, device: str) -> str:
    return Topics(prefix).availability(device)


def command_topic(prefix: str, device: str, setting: str) -> str:
    return Topics(prefix).set(device, setting)


def device_config_topic(discovery_prefix: str, device: str) -> str:
    return Topics(ha_prefix=discovery_prefix).ha_device(device)


def entity_config_topic(discovery_prefix: str, component: str, device: str, object_id: str) -> str:
    return Topics(ha_prefix=discovery_prefix).ha_entity(component, device, object_id)


def unique_id(device: str, object_id: str) -> str:
    return f"{ORIGIN_NAME}_{device}_{object_id}"


# --- rows -> entities --------------------------------------------------------------------


def _common(device: str, object_id: str, component: str, name: str, icon: str | None) -> Payload:
    cfg: Payload = {
        "uniq_id": unique_id(device, object_id),
        # HA 2025.10+ takes the entity id from here (it replaced `object_id`); older HA
        # drops the unknown key and derives the id from device and entity name.
        "def_ent_id": f"{component}.{device}_{object_id}",
        "name": name,
    }
    if icon:
        cfg["ic"] = icon
    return cfg


def _sensor(device: str, f: Field, object_id: str, name: str, template: str, numeric: bool) -> Entity:
    cfg = _common(device, object_id, "sensor", name, f.icon)
    cfg["val_tpl"] = template
    device_class = f.ha_device_class
    if f.kind is Kind.ENUM:
        labels = list(dict.fromkeys(f.options.values())) if f.options else []
        if labels:
            cfg["dev_cla"] = "enum"
            cfg["ops"] = labels
        elif device_class not in (None, "enum"):
            cfg["dev_cla"] = device_class
    elif numeric:
        if device_class:
            cfg["dev_cla"] = device_class
        if f.unit:
            cfg["unit_of_meas"] = f.unit
        if f.ha_state_class:
            cfg["stat_cla"] = f.ha_state_class
    elif device_class:  # TEXT: only an explicit class (e.g. "timestamp")
        cfg["dev_cla"] = device_class
    if f.diagnostic:
        cfg["ent_cat"] = "diagnostic"
    return Entity("sensor", object_id, cfg)


def field_entities(device: str, f: Field, array_size: int | None = None) -> list[Entity]:
    """The HA entities one field row becomes (none for a series shown as an attribute)."""
    if f.attribute_of:
        return []
    made = _field_entities(device, f, array_size)
    if f.expire_after:
        for e in made:
            e.config["exp_aft"] = f.expire_after
    return made


def _field_entities(device: str, f: Field, array_size: int | None) -> list[Entity]:
    if f.kind is Kind.BOOL:
        cfg = _common(device, f.key, "binary_sensor", f.title, f.icon)
        cfg.update(val_tpl=_BOOL_TEMPLATE.format(k=f.key), pl_on="ON", pl_off="OFF")
        if f.device_class:
            cfg["dev_cla"] = f.device_class
        if f.diagnostic:
            cfg["ent_cat"] = "diagnostic"
        return [Entity("binary_sensor", f.key, cfg)]
    if f.kind is Kind.ARRAY:
        if not array_size:
            # Without a size there is nothing to index; the collector still flattens it.
            return []
        # Each element is a number measured like a FLOAT row of the same unit; elements are
        # numbered from 1 like the collector's flattened keys (cell_voltage_01).
        element = f._replace(kind=Kind.FLOAT)
        return [
            _sensor(
                device,
                element,
                f"{f.key}_{i + 1:02d}",
                f"{f.title} {i + 1}",
                f"{{{{ value_json.{f.key}[{i}] }}}}",
                numeric=True,
            )
            for i in range(array_size)
        ]
    return [_sensor(device, f, f.key, f.title, f"{{{{ value_json.{f.key} }}}}", numeric=f.numeric)]


def _readback_template(s: Setting, readback: Field | None) -> str:
    """Render the read-back field as the entity's own option / number text."""
    key = s.readback
    if readback is not None and s.component == "select":
        if readback.kind is Kind.BOOL and set(s.options) == {"ON", "OFF"}:
            # A flag reads back as JSON true/false but is set with ON/OFF.
            return _BOOL_TEMPLATE.format(k=key)
        if readback.numeric:
            # 50.0 in the state must match the option "50"; %g drops the needless ".0".
            return f"{{{{ '%g' | format(value_json.{key}) if value_json.{key} is number else None }}}}"
    return f"{{{{ value_json.{key} }}}}"


def setting_entity(prefix: str, device: str, s: Setting, readback: Field | None = None) -> Entity:
    """A `select` or `number` entity that writes `<prefix>/<device>/set/<key>`.

    `readback` is the row of the field named by `s.readback`, when the table has it: its
    kind decides how the state is turned into one of the select's options.
    """
    # `set_` keeps the unique_id apart from the read-back field of the same key.
    object_id = f"set_{s.key}"
    cfg = _common(device, object_id, s.component, s.label, s.icon)
    cfg["cmd_t"] = command_topic(prefix, device, s.key)
    cfg["ent_cat"] = "config"
    if s.readback:
        cfg["val_tpl"] = _readback_template(s, readback)
    if s.component == "select":
        cfg["ops"] = list(s.options)
    else:
        cfg["mode"] = "box"
        for key, value in (("min", s.minimum), ("max", s.maximum), ("step", s.step)):
            if value is not None:
                cfg[key] = value
        if s.unit:
            cfg["unit_of_meas"] = s.unit
            unit = UNITS.get(s.unit)
            if unit is not None and unit.device_class:
                cfg["dev_cla"] = unit.device_class
    return Entity(s.component, object_id, cfg, stateful=s.readback is not None)


def entities(
    prefix: str,
    device: str,
    fields: FieldTable,
    settings: Sequence[Setting] = (),
    *,
    array_sizes: Mapping[str, int] | None = None,
) -> list[Entity]:
    """Every entity of a device, fields first, in table order; duplicate keys keep the first."""
    sizes = array_sizes or {}
    seen: set[tuple[str, str]] = set()
    out: list[Entity] = []
    rows = [e for f in fields for e in field_entities(device, f, sizes.get(f.key))]
    attributes: dict[str, list[str]] = {}
    for f in fields:
        if f.attribute_of:
            attributes.setdefault(f.attribute_of, []).append(f.key)
    for e in rows:
        keys = attributes.get(e.object_id)
        if keys and e.stateful:
            # HA reads a dict from the state topic: the series ride on one entity, not 48.
            pairs = ", ".join(f"'{k}': value_json.{k}" for k in keys)
            e.config["json_attr_t"] = state_topic(prefix, device)
            e.config["json_attr_tpl"] = f"{{{{ {{{pairs}}} | tojson }}}}"
    by_key: dict[str, Field] = {}
    for f in fields:
        by_key.setdefault(f.key, f)
    rows += [setting_entity(prefix, device, s, by_key.get(s.readback or "")) for s in settings]
    for e in rows:
        # A device's table is the union of several commands; a key reported by two
        # commands (QPIRI and QFLAG overlap on some firmware) is one entity.
        if (e.component, e.object_id) not in seen:
            seen.add((e.component, e.object_id))
            out.append(e)
    return out


# --- payloads ----------------------------------------------------------------------------


def _origin(origin_version: str) -> Payload:
    return {"name": ORIGIN_NAME, "sw": origin_version}


def _shared(prefix: str, device: DeviceInfo) -> Payload:
    """Availability and QoS every entity of `device` shares. A unit behind a system's link
    (`via_device`) is available only while both say `online`: MQTT keeps one last will per
    connection, the system's, so a dead reader turns its units unavailable through it."""
    if device.via_device:
        return {
            "avty": [
                {"t": availability_topic(prefix, d), "pl_avail": PAYLOAD_ONLINE, "pl_not_avail": PAYLOAD_OFFLINE}
                for d in (device.id, device.via_device)
            ],
            "avty_mode": "all",
            "qos": 1,
        }
    return {
        "avty_t": availability_topic(prefix, device.id),
        "pl_avail": PAYLOAD_ONLINE,
        "pl_not_avail": PAYLOAD_OFFLINE,
        "qos": 1,
    }


def _with_state(prefix: str, device: str, e: Entity) -> Payload:
    return {**e.config, "stat_t": state_topic(prefix, device)} if e.stateful else dict(e.config)


def build_device_discovery(
    prefix: str,
    discovery_prefix: str,
    device: DeviceInfo,
    fields: FieldTable,
    settings: Sequence[Setting] = (),
    *,
    origin_version: str,
    array_sizes: Mapping[str, int] | None = None,
) -> list[Message]:
    """Device-based discovery: one retained message carrying every entity of `device`."""
    payload: Payload = {"dev": device.payload(), "o": _origin(origin_version), **_shared(prefix, device)}
    payload["cmps"] = {
        e.object_id: {"p": e.component, **_with_state(prefix, device.id, e)}
        for e in entities(prefix, device.id, fields, settings, array_sizes=array_sizes)
    }
    return [(device_config_topic(discovery_prefix, device.id), _dump(payload))]


def build_entity_discovery(
    prefix: str,
    discovery_prefix: str,
    device: DeviceInfo,
    fields: FieldTable,
    settings: Sequence[Setting] = (),
    *,
    origin_version: str,
    array_sizes: Mapping[str, int] | None = None,
) -> list[Message]:
    """Per-entity discovery (HA before 2024.11): one retained message per entity."""
    # Per-entity mode exists for older HA, whose strict device schema knows no serial.
    dev = device.payload(serial=False)
    origin = _origin(origin_version)
    shared = _shared(prefix, device)
    return [
        (
            entity_config_topic(discovery_prefix, e.component, device.id, e.object_id),
            _dump({**_with_state(prefix, device.id, e), **shared, "dev": dev, "o": origin}),
        )
        for e in entities(prefix, device.id, fields, settings, array_sizes=array_sizes)
    ]


def build_discovery(
    mode: DiscoveryMode,
    prefix: str,
    discovery_prefix: str,
    device: DeviceInfo,
    fields: FieldTable,
    settings: Sequence[Setting] = (),
    *,
    origin_version: str,
    array_sizes: Mapping[str, int] | None = None,
) -> list[Message]:
    """Discovery for the HA_DISCOVERY mode (``device`` | ``entity`` | ``off`` → nothing)."""
    if mode == "off":
        return []
    build = {"device": build_device_discovery, "entity": build_entity_discovery}[mode]
    return build(
        prefix, discovery_prefix, device, fields, settings, origin_version=origin_version, array_sizes=array_sizes
    )


def _dump(payload: Payload) -> str:
    # Compact separators and real UTF-8 (°C, W/m²): HA reads either; this is smaller.
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


# --- removal -----------------------------------------------------------------------------


def _live_components(payload: str) -> dict[str, str]:
    """object_id -> platform of the components a device message still defines."""
    try:
        doc = json.loads(payload) if payload else {}
    except ValueError:
        return {}
    cmps = doc.get("cmps", doc.get("components", {})) if isinstance(doc, dict) else {}
    if not isinstance(cmps, dict):
        return {}
    live: dict[str, str] = {}
    for object_id, cfg in cmps.items():
        if not isinstance(cfg, dict):
            continue
        platform = cfg.get("p", cfg.get("platform"))
        # A component reduced to its platform is a removal stub, not a live entity.
        if isinstance(platform, str) and len(cfg) > 1:
            live[object_id] = platform
    return live


def _is_device_topic(topic: str) -> bool:
    parts = topic.split("/")
    return len(parts) >= 4 and parts[-3] == "device" and parts[-1] == "config"


def with_removals(previous: Iterable[Message], current: Sequence[Message]) -> list[Message]:
    """`current`, plus what tells HA to drop whatever `previous` defined and `current` does not.

    `previous` is what was published before (e.g. the retained discovery read back from
    the broker at start-up, or the last list this process published). Per-entity topics
    that vanished get an empty retained payload; a device message that lost components
    lists each as ``{"p": <platform>}`` (HA's way to remove one component); a device
    topic that vanished entirely (mode switched to ``entity`` or ``off``) is emptied.
    """
    now = dict(current)
    out: list[Message] = []
    for topic, payload in current:
        old = next((p for t, p in previous if t == topic), None) if _is_device_topic(topic) else None
        if old is not None and payload:
            gone = {k: v for k, v in _live_components(old).items() if k not in _live_components(payload)}
            if gone:
                doc = json.loads(payload)
                doc["cmps"].update({k: {"p": platform} for k, platform in gone.items()})
                payload = _dump(doc)
        out.append((topic, payload))
    out += [(topic, "") for topic, payload in previous if payload and topic not in now]
    return out


def discovery_subscriptions(discovery_prefix: str, device: str) -> tuple[str, str]:
    """Topic filters that read back this device's retained discovery (both modes)."""
    return device_config_topic(discovery_prefix, device), f"{discovery_prefix}/+/{device}/+/config"


# --- Home Assistant birth ----------------------------------------------------------------


def ha_status_topic(discovery_prefix: str) -> str:
    return Topics(ha_prefix=discovery_prefix).ha_status()


def is_ha_birth(topic: str, payload: bytes, discovery_prefix: str) -> bool:
    """True when HA announces it (re)started: discovery must be published again."""
    return topic == ha_status_topic(discovery_prefix) and payload.strip() == b"online"


def on_ha_birth(discovery_prefix: str, republish: Callable[[], None]) -> tuple[str, Callable[[str, bytes], None]]:
    """(topic filter, handler) for `MqttClient.subscribe`: calls `republish` on HA's birth."""

    def handler(topic: str, payload: bytes) -> None:
        if is_ha_birth(topic, payload, discovery_prefix):
            republish()

    return ha_status_topic(discovery_prefix), handler

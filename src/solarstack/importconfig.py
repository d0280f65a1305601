"""`solarstack import-config <mpp-solar config> [-o FILE] [--format yaml|env]`: an mpp-solar daemon
config turned into solarstack's YAML file (docs/config.md) or .env lines.

Top of the import graph, beside cli.py. The mpp-solar daemon's file is INI (its docs,
"Config File Specifications"):

    [SETUP]                     pause (seconds between loops), mqtt_broker, mqtt_port,
                                mqtt_user, mqtt_pass
    [AnySectionName]            one device: protocol (PI30, PI18, JK02, DALY, VED, …),
                                type, port (/dev/ttyUSB0, /dev/hidraw0, a BLE MAC, host:port),
                                porttype, baud, command (`#`- or `,`-separated), tag, outputs,
                                filter / exclfilter (regular expressions), udpport

What maps: the broker, `pause` as the poll interval, each section as a device URL of the reader
its protocol belongs to (devices/registry.py decides; PI30REVO and the other named PI30 variants
get `?variant=`, one we do not name is probed with `auto+`), `tag` (else the section name) as
the device's name and title, `baud`; sections
on one port reading QPGS0, QPGS1, … (mpp-solar's parallel example) become one parallel device
with `units=N`. Everything else is said on stderr, one line each: commands (solarstack polls
each protocol's own set), outputs with no counterpart, regular-expression filters (ours take
field keys), unknown protocols and port types. It never overwrites a file.
"""

from __future__ import annotations

import configparser
import re
import sys
from pathlib import Path
from typing import Any

from solarstack.core.device_url import slug
from solarstack.core.errors import ConfigError

#: mpp-solar protocol names that are not ours lower-cased -> (our protocol, extra URL options)
PROTOCOL_ALIASES: dict[str, tuple[str, dict[str, str]]] = {
    "jk02_24": ("jk02", {"layout": "24"}),
    "jk02_32": ("jk02", {"layout": "32"}),
    "jk232": ("jkserial", {}),
    "jk485": ("jkserial", {}),
    "daly40": ("daly", {}),
    "ved": ("vedirect", {}),
}
#: mpp-solar outputs whose job solarstack does anyway (MQTT state, HA discovery, /metrics,
#: the collector's InfluxDB): not reported as lost
COVERED_OUTPUTS = {
    "mqtt",
    "json_mqtt",
    "json",
    "hass",
    "hassd",
    "hass_mqtt",
    "hassd_mqtt",
    "prom",
    "prom_file",
    "influx_mqtt",
    "influx2_mqtt",
}
SETUP_KEYS = {"pause", "mqtt_broker", "mqtt_port", "mqtt_user", "mqtt_pass"}
DEVICE_KEYS = {"protocol", "type", "port", "porttype", "baud", "command", "tag", "outputs", "filter", "exclfilter"}
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d+$")
_PARALLEL = re.compile(r"^QPGS(\d)$")
#: port types -> our transport (None: decided from the port's shape)
PORT_TYPES: dict[str, str | None] = {
    "serial": "serial",
    "usbserial": "serial",
    "hidraw": "hidraw",
    "ble": "ble",
    "jkble": "ble",
    "bluetooth": "ble",
    "esp32": None,
    "tcp": "tcp",
}


class Imported:
    """What the mpp-solar file gave: the YAML document (a dict) and what could not be mapped."""

    def __init__(self) -> None:
        self.doc: dict[str, Any] = {}
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


def convert(path: str) -> Imported:
    """Read an mpp-solar daemon config; ConfigError (one line) if it is not one."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#",), strict=False)
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not an mpp-solar config (INI): {str(exc).splitlines()[0]}") from None
    out = Imported()
    setup = parser["SETUP"] if parser.has_section("SETUP") else {}
    pause = _setup(out, setup)
    devices: dict[str, list[dict[str, Any]]] = {}
    by_port: dict[tuple[str, str], dict[str, Any]] = {}
    for section in parser.sections():
        if section == "SETUP":
            continue
        device = _device(out, section, parser[section])
        if device is None:
            continue
        service, key, item, command = device
        unit = _PARALLEL.match(command or "")
        earlier = by_port.get(key)
        if earlier is not None:
            if unit:  # one more unit of the parallel system on this port
                options = earlier.setdefault("options", {})
                options["units"] = str(max(int(options.get("units", "1")), int(unit.group(1)) + 1))
                out.note(f"[{section}]: {command} is unit {int(unit.group(1)) + 1} of {earlier['name']}'s system")
            else:
                out.note(f"[{section}]: same port as {earlier['name']}: one device (it polls the protocol's set)")
            continue
        if unit:
            item.setdefault("options", {})["units"] = str(int(unit.group(1)) + 1)
        by_port[key] = item
        taken = {i["name"] for items in devices.values() for i in items}
        if item["name"] in taken:  # two tags with one slug: device ids must be unique
            item["name"] = next(f"{item['name']}_{n}" for n in range(2, 100) if f"{item['name']}_{n}" not in taken)
        devices.setdefault(service, []).append(item)
    for item in (i for items in devices.values() for i in items):
        units = item.get("options", {}).get("units")
        if units == "1":  # QPGS0 alone: a single unit that answers the parallel query
            del item["options"]["units"]
            if not item["options"]:
                del item["options"]
            out.note(f"[{item['title']}]: QPGS0 alone is read as a single inverter (QPIGS)")
    for service, items in devices.items():
        section = out.doc.setdefault(service, {})
        if pause is not None:
            if service == "inverter":
                section["poll_seconds"] = int(pause) if pause.is_integer() else pause
            else:  # the bms reader polls per device
                for item in items:
                    item.setdefault("options", {})["poll"] = f"{pause:g}"
        section["devices"] = items
    if not devices:
        out.note("no device section could be mapped: the output has the broker only")
    return out


def _setup(out: Imported, setup: Any) -> float | None:
    mqtt: dict[str, Any] = {}
    broker = setup.get("mqtt_broker", "").strip()
    if broker:
        host, sep, port = broker.rpartition(":")
        if sep and port.isdigit():
            mqtt["host"], mqtt["port"] = host, int(port)
        else:
            mqtt["host"] = broker
    if setup.get("mqtt_port", "").strip():
        try:
            mqtt["port"] = int(setup["mqtt_port"])
        except ValueError:
            out.note(f"[SETUP] mqtt_port={setup['mqtt_port']!r} is not a port number: not mapped")
    for theirs, ours in (("mqtt_user", "username"), ("mqtt_pass", "password")):
        if setup.get(theirs, "").strip():
            mqtt[ours] = setup[theirs].strip()
    if mqtt:
        out.doc["mqtt"] = mqtt
    for key in setup:
        if key not in SETUP_KEYS:
            out.note(f"[SETUP] {key}: not mapped (solarstack has no such setting)")
    pause = setup.get("pause", "").strip()
    if not pause:
        return None
    try:
        seconds = float(pause)
    except ValueError:
        out.note(f"[SETUP] pause={pause!r} is not a number: not mapped")
        return None
    if seconds <= 0:
        out.note(f"[SETUP] pause={pause}: solarstack needs a positive interval; its default stays")
        return None
    return seconds


def _device(out: Imported, section: str, cfg: Any) -> tuple[str, tuple[str, str], dict[str, Any], str | None] | None:
    """(service, (protocol, port), YAML device item, the one command if only one) or None."""
    from solarstack.devices.registry import FAMILIES  # what exists now (pi41 and others as they land)

    theirs = cfg.get("protocol", "PI30").strip() or "PI30"
    protocol, options = PROTOCOL_ALIASES.get(theirs.lower(), (theirs.lower(), {}))
    options = dict(options)
    if protocol not in FAMILIES and protocol.startswith("pi30") and "pi30" in FAMILIES:
        from solarstack.protocols.pi30 import VARIANTS  # PI30REVO -> pi30+…?variant=revo

        if protocol.removeprefix("pi30") in VARIANTS:
            protocol, options["variant"] = "pi30", protocol.removeprefix("pi30")
    if protocol not in FAMILIES and protocol.startswith("pi30"):
        out.note(f"[{section}]: protocol {theirs} is read as auto+ (the PI30 family found by read-only probes)")
        protocol = "auto"
    family = FAMILIES.get(protocol)
    if family is None:
        out.note(f"[{section}]: protocol {theirs} is not supported by solarstack: section skipped")
        return None
    service = "inverter" if "inverter" in family.kinds else "bms" if {"battery", "shunt"} & set(family.kinds) else ""
    if not service:
        out.note(f"[{section}]: protocol {theirs} is not an inverter or battery: section skipped")
        return None
    port = cfg.get("port", "").strip()
    porttype = cfg.get("porttype", "").strip().lower()
    transport = _transport(out, section, port, porttype)
    if transport is None:
        return None
    address = port if transport != "ble" else port.upper()
    url = f"{protocol}+{transport}://{'/' if transport in ('serial', 'hidraw') and not address.startswith('/') else ''}"
    url += address
    commands = [c.strip() for c in re.split(r"[#,]", cfg.get("command", "")) if c.strip()]
    # mpp-solar's parallel example tags each unit with its query (QPGS0): the section names the system
    tag = cfg.get("tag", "").strip()
    label = section if not tag or _PARALLEL.match(tag) else tag
    name = slug(label) or slug(section) or "device"
    item: dict[str, Any] = {"url": url, "name": name, "title": label}
    baud = cfg.get("baud", "").strip()
    if baud and transport == "serial":
        options["baud"] = baud
    if options:
        item["options"] = options
    if commands and not (len(commands) == 1 and _PARALLEL.match(commands[0])):
        how = " (INVERTER_COMMANDS overrides it for every inverter)" if service == "inverter" else ""
        out.note(f"[{section}]: command={'#'.join(commands)}: not mapped, solarstack polls the protocol's own set{how}")
    lost = [o.strip() for o in cfg.get("outputs", "").split(",") if o.strip() and o.strip() not in COVERED_OUTPUTS]
    if lost:
        out.note(f"[{section}]: outputs {', '.join(lost)}: no counterpart (solarstack publishes MQTT, HA, /metrics)")
    for key in ("filter", "exclfilter"):
        if cfg.get(key, "").strip():
            out.note(
                f"[{section}]: {key}={cfg[key].strip()}: regular expressions are not mapped;"
                " list field keys under include:/exclude: instead"
            )
    for key in cfg:
        if key not in DEVICE_KEYS and key not in cfg.parser.defaults():
            out.note(f"[{section}]: {key}: not mapped")
    return service, (protocol, address), item, commands[0] if len(commands) == 1 else None


def _transport(out: Imported, section: str, port: str, porttype: str) -> str | None:
    if not port:
        out.note(f"[{section}]: no port: section skipped")
        return None
    if porttype and porttype not in PORT_TYPES:
        out.note(f"[{section}]: porttype={porttype} is not supported by solarstack: section skipped")
        return None
    chosen = PORT_TYPES.get(porttype)
    if chosen is None:
        if "hidraw" in port:
            chosen = "hidraw"
        elif _MAC.match(port):
            chosen = "ble"
        elif port.startswith("/dev/"):
            chosen = "serial"
        elif _HOST_PORT.match(port):
            chosen = "tcp"
        else:
            out.note(f"[{section}]: port={port}: not a device path, BLE address or host:port: section skipped")
            return None
    return chosen


# --- output ---------------------------------------------------------------------------------


def render_yaml(source: str, doc: dict[str, Any]) -> str:
    import yaml

    head = f"# solarstack config imported from {source} by `solarstack import-config` (docs/config.md)\n"
    body: str = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return head + body


def render_env(source: str, doc: dict[str, Any]) -> tuple[str, list[str]]:
    """.env lines (NAME=value) and notes on values .env files may read differently."""
    from solarstack.core.config_file import device_url

    lines = [f"# solarstack variables imported from {source} by `solarstack import-config` (.env.example)"]
    for key, value in doc.get("mqtt", {}).items():
        lines.append(f"MQTT_{key.upper()}={value}")
    for service in ("inverter", "bms"):
        section = doc.get(service)
        if not section:
            continue
        for key, value in section.items():
            if key == "devices":
                urls = [device_url(source, f"{service}.devices[{i}]", item) for i, item in enumerate(value)]
                lines.append(f"{service.upper()}_DEVICES={','.join(urls)}")
            else:
                shown = f"{value:g}" if isinstance(value, float) else str(value)
                lines.append(f"{service.upper()}_{key.upper()}={shown}")
    notes = [
        f"{line.split('=', 1)[0]}: its value has a space, quote, # or $: check how your .env reader takes it"
        for line in lines[1:]
        if re.search(r"[\s'\"#$`]", line.split("=", 1)[1])
    ]
    return "\n".join(lines) + "\n", notes


def run(source: str, output: str | None, fmt: str | None) -> int:
    """`solarstack import-config` (cli.py parses the arguments): ConfigError is one line, exit 2."""
    fmt = fmt or ("env" if output and Path(output).name.endswith(".env") else "yaml")
    if output and Path(output).exists():
        raise ConfigError(f"{output} exists: solarstack import-config never overwrites; choose another -o")
    imported = convert(source)
    if fmt == "env":
        text, more = render_env(source, imported.doc)
        imported.notes += more
    else:
        text = render_yaml(source, imported.doc)
    for note in imported.notes:
        print(f"import-config: {note}", file=sys.stderr)
    if not output:
        sys.stdout.write(text)
        return 0
    try:
        with open(output, "x", encoding="utf-8") as fh:  # "x": fails if it appeared meanwhile
            fh.write(text)
    except FileExistsError:
        raise ConfigError(f"{output} exists: solarstack import-config never overwrites; choose another -o") from None
    except OSError as exc:
        raise ConfigError(f"{output}: cannot write it ({exc.strerror or exc})") from None
    print(f"import-config: wrote {output} ({fmt})", file=sys.stderr)
    return 0

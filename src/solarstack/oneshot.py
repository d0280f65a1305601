"""The one-shot CLI commands: query, decode, encode, commands (see cli.py).

Top layer, like cli.py: may use every layer below, prints for people (or JSON with
the MQTT state field names), and lets typed errors propagate to cli.main, which
turns them into one line and an exit status.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from solarstack.core.errors import ConfigError
from solarstack.core.fields import Field, FieldTable, Kind, Value


def _print_fields(title: str, fields: FieldTable, values: dict[str, Value]) -> None:
    rows = {f.key: f for f in fields}
    print(title)
    for key, value in values.items():
        f = rows.get(key) or Field(key, kind=Kind.TEXT)
        unit = f" {f.unit}" if f.unit and value is not None else ""
        print(f"  {f.title:<38} {value}{unit}")


def cmd_query(args: argparse.Namespace) -> int:
    from solarstack.core.device_url import parse_device_url
    from solarstack.devices.registry import open_device

    url = parse_device_url(args.url)
    device = open_device(url, timeout=args.timeout)
    commands: list[str] = []
    for c in args.commands:
        commands.extend(device.default_commands() if c.lower() == "all" else [c])
    merged: dict[str, Any] = {}
    try:
        for command in commands:
            reading = device.query(command)
            if args.json:
                merged.setdefault("ts", reading.ts.isoformat().replace("+00:00", "Z"))
                merged.update(reading.values)
            else:
                title = f"{command} ({device.id}, {reading.ts:%Y-%m-%d %H:%M:%S}Z)"
                _print_fields(title, reading.fields, reading.values)
    finally:
        device.close()
    if args.json:
        json.dump(merged, sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
    return 0


_ESCAPE = re.compile(r"\\(r|n|t|x[0-9a-fA-F]{2}|\\)")


def _unescape(text: str) -> bytes:
    def sub(m: re.Match[str]) -> str:
        e = m.group(1)
        return {"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}.get(e) or chr(int(e[1:], 16))

    return _ESCAPE.sub(sub, text).encode("latin-1")


def _frame(args: argparse.Namespace) -> bytes:
    if args.hex is not None:
        try:
            return bytes.fromhex(args.hex.replace(":", " ").replace("0x", ""))
        except ValueError:
            raise ConfigError(f"--hex {args.hex[:40]!r} is not hexadecimal bytes") from None
    return _unescape(args.raw)


def cmd_decode(args: argparse.Namespace) -> int:
    from solarstack.protocols.catalog import codec

    c = codec(args.protocol)
    values, fields = c.decode(_frame(args), args.command)
    if args.json:
        json.dump(values, sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
    else:
        _print_fields(f"{args.protocol} {args.command or ''}".strip(), fields, values)
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from solarstack.protocols.catalog import codec

    print(codec(args.protocol).encode(args.command).hex(" ").upper())
    return 0


def cmd_commands(args: argparse.Namespace) -> int:
    from solarstack.protocols.catalog import codec

    for kind, name, description in codec(args.protocol).describe():
        print(f"{kind:<8} {name:<32} {description}")
    return 0
